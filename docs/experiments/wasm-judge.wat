;; An experiment, not part of Palisade: judgeImage4 (src/policy/table-arena.ts, 2026-12-06) as
;; WebAssembly, over a copy of a snapshot's arena words at address 0 of the imported memory, to
;; measure what the table lookup costs outside JavaScript (scripts/tier-lookups-cpu.ts --wasm=FILE;
;; results in docs/speed-history.md, "The table lookup in WebAssembly"). The header word offsets
;; and the constants (NO_TRIE -1, PASS_CELL -2^30, TIER_NEXT -2^29) are written out as numbers;
;; a lookup that needs a node class returns -999999 (the experiment has no node maps).
;; Every word is read inline: V8 11 (Node 20) does not inline wasm calls into wasm by default,
;; and a helper function for the read made each lookup 10-17 ns slower than the JavaScript.
(module
  (import "env" "mem" (memory 1))
  (func $portClass (param $o i32) (param $b i32) (param $port i32) (result i32)
    (local $s i32) (local $lo i32) (local $len i32) (local $half i32) (local $ob i32)
    (if (i32.lt_s (local.get $b) (i32.const 0)) (then (return (i32.const 0))))
    (local.set $s (i32.add (local.get $o) (i32.const 4)))
    (local.set $ob (i32.load (i32.shl (i32.add (local.get $o) (local.get $b)) (i32.const 2))))
    (local.set $lo (i32.add (local.get $s) (local.get $ob)))
    (local.set $len (i32.sub (i32.load (i32.shl (i32.add (i32.add (local.get $o) (local.get $b)) (i32.const 1)) (i32.const 2))) (local.get $ob)))
    (block $done (loop $l
      (br_if $done (i32.le_s (local.get $len) (i32.const 1)))
      (local.set $half (i32.shr_u (local.get $len) (i32.const 1)))
      (local.set $lo (i32.add (local.get $lo) (i32.and (local.get $half) (i32.xor (i32.shr_s (i32.sub (local.get $port) (i32.load (i32.shl (i32.add (local.get $lo) (local.get $half)) (i32.const 2)))) (i32.const 31)) (i32.const -1)))))
      (local.set $len (i32.sub (local.get $len) (local.get $half)))
      (br $l)))
    (i32.add (i32.sub (local.get $lo) (local.get $s)) (i32.const 1)))
  (func $judge4 (export "judge4") (param $base i32) (param $addr i32) (param $id i32) (param $block i32) (param $port i32) (result i32)
    (local $nSel i32) (local $sc i32) (local $o i32) (local $wd i32) (local $ipc i32) (local $to i32) (local $t i32) (local $n i32) (local $m i32) (local $v i32) (local $l i32) (local $c i32) (local $nm i32) (local $f i32) (local $cell i32) (local $row i32)
    (local.set $nSel (i32.load (i32.shl (local.get $base) (i32.const 2))))
    (if (i32.gt_s (local.get $nSel) (i32.const 1)) (then
      (if (i32.lt_s (local.get $id) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 2)) (i32.const 2)))) (then
        (local.set $o (i32.add (local.get $base) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 4)) (i32.const 2)))))
        (local.set $wd (i32.load (i32.shl (i32.add (local.get $base) (i32.const 3)) (i32.const 2))))
        (if (i32.eqz (local.get $wd))
          (then (local.set $sc (i32.load8_u (i32.add (i32.shl (local.get $o) (i32.const 2)) (local.get $id)))))
          (else (if (i32.eq (local.get $wd) (i32.const 1))
             (then (local.set $sc (i32.load16_u (i32.shl (i32.add (i32.shl (local.get $o) (i32.const 1)) (local.get $id)) (i32.const 1)))))
             (else (local.set $sc (i32.load (i32.shl (i32.add (local.get $o) (local.get $id)) (i32.const 2))))))))))))
    (local.set $ipc (i32.load (i32.shl (i32.add (local.get $base) (i32.const 7)) (i32.const 2))))
    (local.set $to (i32.load (i32.shl (i32.add (local.get $base) (i32.const 6)) (i32.const 2))))
    (if (i32.ne (local.get $to) (i32.const -1)) (then
      (local.set $t (i32.add (local.get $base) (local.get $to)))
      (local.set $n (local.get $t))
      (block $out (loop $walk
        (local.set $m (i32.load (i32.shl (i32.add (local.get $n) (i32.const 1)) (i32.const 2))))
        (br_if $out (i32.ne (i32.and (i32.xor (local.get $addr) (i32.load (i32.shl (local.get $n) (i32.const 2)))) (local.get $m)) (i32.const 0)))
        (local.set $v (i32.load (i32.shl (i32.add (local.get $n) (i32.const 2)) (i32.const 2))))
        (if (i32.ne (local.get $v) (i32.const -1)) (then (local.set $ipc (local.get $v))))
        (local.set $l (i32.clz (i32.xor (local.get $m) (i32.const -1))))
        (br_if $out (i32.eq (local.get $l) (i32.const 32)))
        (local.set $c (i32.load (i32.shl (i32.add (i32.add (local.get $n) (i32.const 3)) (i32.and (i32.shr_u (local.get $addr) (i32.sub (i32.const 31) (local.get $l))) (i32.const 1))) (i32.const 2))))
        (br_if $out (i32.eq (local.get $c) (i32.const -1)))
        (local.set $n (i32.add (local.get $t) (local.get $c)))
        (br $walk)))))
    (local.set $nm (i32.load (i32.shl (i32.add (local.get $base) (i32.const 13)) (i32.const 2))))
    (local.set $f (i32.xor (local.get $addr) (i32.const 0x80000000)))
    (if (i32.ge_s (local.get $nm) (i32.const 0)) (then
      (if (i32.ge_s (local.get $f) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 14)) (i32.const 2)))) (then
        (if (i32.le_s (local.get $f) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 15)) (i32.const 2)))) (then
          (return (i32.const -999999))))))))
    (local.set $cell (i32.load (i32.shl (i32.add (i32.add (local.get $base) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 8)) (i32.const 2)))) (i32.add (i32.mul (local.get $ipc) (local.get $nSel)) (local.get $sc))) (i32.const 2))))
    (if (i32.eq (local.get $cell) (i32.const -1073741824)) (then (return (i32.const -536870912))))
    (local.set $row (i32.add (local.get $base) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 9)) (i32.const 2)))))
    (if (i32.lt_s (local.get $cell) (i32.const 0)) (then
      (return (i32.load (i32.shl (i32.add (local.get $row) (i32.mul (i32.xor (local.get $cell) (i32.const -1)) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 1)) (i32.const 2))))) (i32.const 2))))))
    (i32.load (i32.shl (i32.add (i32.add (local.get $row) (i32.mul (local.get $cell) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 1)) (i32.const 2)))))
      (call $portClass (i32.add (local.get $base) (i32.load (i32.shl (i32.add (local.get $base) (i32.const 5)) (i32.const 2)))) (local.get $block) (local.get $port))) (i32.const 2))))
  ;; The replay loop inside wasm: lookups of 5 words at word offset $l, $n of them, $count calls.
  (func (export "replay") (param $l i32) (param $n i32) (param $count i32) (result i32)
    (local $acc i32) (local $k i32) (local $i i32) (local $o i32)
    (block $done (loop $lp
      (br_if $done (i32.ge_s (local.get $i) (local.get $count)))
      (local.set $o (i32.add (local.get $l) (i32.mul (local.get $k) (i32.const 5))))
      (local.set $acc (i32.add (local.get $acc) (call $judge4 (i32.load (i32.shl (local.get $o) (i32.const 2))) (i32.load (i32.shl (i32.add (local.get $o) (i32.const 1)) (i32.const 2))) (i32.load (i32.shl (i32.add (local.get $o) (i32.const 2)) (i32.const 2))) (i32.load (i32.shl (i32.add (local.get $o) (i32.const 3)) (i32.const 2))) (i32.load (i32.shl (i32.add (local.get $o) (i32.const 4)) (i32.const 2))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (if (i32.eq (local.get $k) (local.get $n)) (then (local.set $k (i32.const 0))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $lp)))
    (local.get $acc))
)
