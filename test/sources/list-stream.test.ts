// ListStream, the list response read as it streams in (src/sources/list-stream.ts): whatever the
// chunking, it must hand over exactly the items and frame JSON.parse finds in the whole body, in
// order, in batches; and a body that is not one list object is an error naming the response.

import t from 'tap';
import { ListStream } from '../../src/sources/list-stream.ts';

const enc = (s: string) => new TextEncoder().encode(s);

/** Reads `body` cut into `chunks` (byte strings), returning batches, rest and frame. */
function read(chunks: Uint8Array[], batchSize = 1000) {
  const batches: unknown[][] = [];
  const s = new ListStream((items) => batches.push(items), batchSize, 'list /x');
  for (const c of chunks) s.push(c);
  const { frame, rest } = s.end();
  return { batches, rest, frame, items: [...batches.flat(), ...rest] };
}

/** Every way of cutting `bytes` in two, and byte by byte. */
function cuts(bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[bytes], Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  return out;
}

const tricky = [
  { metadata: { name: 'a', labels: { 'x}': '{y', 'q"': '[' } }, spec: { s: 'a\\"}],{' } },
  { metadata: { name: 'ü-é-雪-🙂', annotations: { n: 'line\nbreak\ttab \\ back' } }, list: [[], [{}], [[[]]]] },
  { metadata: { name: 'c', items: [{ not: 'a list item' }] }, n: -1.5e3, b: true, z: null },
];

const bodies: [string, string][] = [
  ['an ordinary list', JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: 'tok' }, items: tricky })],
  ['metadata after the items', JSON.stringify({ items: tricky, metadata: { resourceVersion: '7' }, kind: 'PodList' })],
  ['no items', JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: '1' }, items: [] })],
  ['whitespace everywhere', ` \n{ "kind" : "PodList" ,\n "items" : [ ${tricky.map((o) => JSON.stringify(o, null, 2)).join(' ,\n ')} ] , "metadata" : { "resourceVersion" : "9" } }\n `],
  // A client skips what it cannot use one element at a time (kube-source.ts), so every element comes out, whatever its type.
  ['elements that are not objects', `{"metadata":{"resourceVersion":"5"},"items":[1, "a,]}\\"" ,null,[2,[3,{}]],${JSON.stringify(tricky[0])},true,-2.5e3 , {}]}`],
  ['one element, not an object', '{"items":[ 17 ]}'],
  ['a key named items inside metadata', JSON.stringify({ metadata: { items: [1, 2], resourceVersion: '3' }, items: [tricky[0]] })],
];

t.test('every chunking gives what JSON.parse gives', async (t) => {
  for (const [name, text] of bodies) {
    const whole = JSON.parse(text) as { items: unknown[]; [k: string]: unknown };
    const { items: _items, ...frameWant } = whole;
    let n = 0;
    for (const chunks of cuts(enc(text))) {
      const r = read(chunks);
      const { items: frameItems, ...frameGot } = r.frame as Record<string, unknown>;
      if (n++ === 0) {
        t.strictSame(r.items, whole.items, `${name}: items`);
        t.strictSame(frameGot, frameWant, `${name}: frame`);
        t.strictSame(frameItems, [], `${name}: the frame's items left empty`);
      } else if (JSON.stringify(r.items) !== JSON.stringify(whole.items) || JSON.stringify(frameGot) !== JSON.stringify(frameWant)) {
        t.fail(`${name}: cut into ${chunks.map((c) => c.length).join('+')} bytes`);
        break;
      }
    }
    t.pass(`${name}: ${n} chunkings alike`);
  }
});

t.test('items are handed over in batches, the rest with the frame', async (t) => {
  const items = Array.from({ length: 7 }, (_, i) => ({ metadata: { name: `p${i}` } }));
  const r = read([enc(JSON.stringify({ metadata: {}, items }))], 3);
  t.same(r.batches.map((b) => b.length), [3, 3]);
  t.same(r.rest.length, 1);
  t.strictSame(r.items, items, 'in order');
});

t.test('random objects, random chunks: the same as JSON.parse', async (t) => {
  let seed = 12345;
  const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const chars = ['a', 'Z', '0', ' ', '"', '\\', '{', '}', '[', ']', ',', ':', '\n', 'é', '雪', '🙂', '\u0000'];
  const str = () => Array.from({ length: rnd(8) }, () => chars[rnd(chars.length)]).join('');
  const value = (d: number): unknown => {
    const k = rnd(d > 3 ? 4 : 6);
    if (k === 0) return str();
    if (k === 1) return rnd(1000) - 500;
    if (k === 2) return rnd(2) === 0;
    if (k === 3) return null;
    if (k === 4) return Array.from({ length: rnd(4) }, () => value(d + 1));
    return Object.fromEntries(Array.from({ length: rnd(4) }, () => [str(), value(d + 1)]));
  };
  for (let round = 0; round < 300; round++) {
    const list = { metadata: { resourceVersion: String(round), [str()]: value(2) }, items: Array.from({ length: rnd(6) }, () => ({ metadata: { name: str() }, x: value(1) })) };
    const bytes = enc(JSON.stringify(list));
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length;) {
      const n = 1 + rnd(16);
      chunks.push(bytes.subarray(i, i + n));
      i += n;
    }
    const r = read(chunks, 1 + rnd(3));
    if (JSON.stringify(r.items) !== JSON.stringify(list.items) || (r.frame.metadata as { resourceVersion?: unknown }).resourceVersion !== String(round)) {
      t.fail(`round ${round}: ${JSON.stringify(list)}`);
      return;
    }
  }
  t.pass('300 lists alike');
});

t.test('what is not one list object is an error naming the response', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['cut short', '{"metadata":{},"items":[{"a":1},{"b"', /list \/x: the response ended before the list did/],
    ['no items', '{"metadata":{}}', /list \/x: response has no items list/],
    ['items null', '{"metadata":{},"items":null}', /list \/x: response has no items list/],
    ['an array', '[{"a":1}]', /list \/x: the response is not a JSON object/],
    ['an element, not an object, not JSON', '{"items":[{"a":1},tru]}', /list \/x: an element of items is not JSON/],
    ['two values in one element', '{"items":[1 2]}', /list \/x: an element of items is not JSON/],
    ['an element not JSON', '{"items":[{"a":tru}]}', /list \/x: an element of items is not JSON/],
    ['a frame not JSON', '{"metadata":{"a" 1},"items":[]}', /list \/x: the response is not JSON/],
    ['data after the end', '{"items":[]} {}', /list \/x: data after the end of the list/],
    ['unbalanced', '{"items":[]}}', /list \/x: data after the end of the list/],
  ];
  for (const [name, text, want] of cases) t.throws(() => read([enc(text)]), want, name);
});
