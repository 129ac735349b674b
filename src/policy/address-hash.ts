// The hash of an address for the open-addressing tables that find a peer by its address
// (address-map.ts: address -> pod slot; node-classes.ts: node address -> node class). Pod and
// node addresses are handed out in sequence, so the bits are spread before masking.

/** Mixes a 32-bit word (murmur3's finalizer); an IPv4 address's hash. */
export function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** An IPv6 address's hash, from its four 32-bit words. */
export function hash6(a: number, b: number, c: number, d: number): number {
  return mix(Math.imul(mix(a) ^ b, 0x9e3779b1) ^ Math.imul(mix(c) ^ d, 0x85ebca77));
}
