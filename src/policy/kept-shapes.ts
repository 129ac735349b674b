// One live object for each class whose objects live only within an update (or a table build),
// so that V8 keeps the class's hidden class, and the optimized code that checks for it, across a
// full collection.
//
// Why: V8 holds the map an object's fields made (the transitions from the constructor's first
// map) weakly. When a full collection finds no object of it, the map dies, and V8 throws away
// every optimized function that checked for it ("marking dependent code ... reason: weak
// objects" under --trace-deopt). The agent runs a full collection in idle time (agent/idle-gc.ts)
// when no NewIdentityRefs, PageEditor or ByteRows is alive, so every such collection dropped the
// optimized code of extendRuleTable, NewIdentityRefs' methods, SlotRecords.publish and the table
// builds' address classification: the next relabel ran them unoptimized (its ~1,000 table
// extensions) while V8 compiled them again on a helper thread (20-40 ms each, the VM's other
// core). Counted on the cluster-large bench's round (20 rounds, --trace-deopt): 148 such
// deoptimizations before, 3 after (docs/speed-history.md, "Optimized code lost at each full
// collection").
//
// keepShape keeps the newest object given per constructor: a small one made for the purpose
// (a sentinel) where the class has a cheap constructor, else the last real one.

const kept = new Map<unknown, object>();

/** Keeps `o` alive (replacing the object kept for its constructor) and returns it. */
export function keepShape<T extends object>(o: T): T {
  kept.set(o.constructor, o);
  return o;
}
