// Two IPv4 tuples (TCP, same destination) whose verdict-cache admission hashes are equal
// (src/enforce/cache-admission.ts tupleHash4; found by search, checked in
// test/enforce/cache-admission.test.ts): what the collision tests use.
export const COLLIDING = [
  { src: 0x0a000058, dst: 0x0a000002, port: 165 },
  { src: 0x0a000078, dst: 0x0a000002, port: 63 },
] as const;
