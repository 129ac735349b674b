// Loads Palisade's N-API addon (native/, built by `npx node-gyp rebuild -C native --nodedir=/usr`,
// which `npm install` runs) and describes what it exports. Only the enforcers import this, so
// commands that never touch the kernel work without the addon.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared-memory handle of one bound queue (see native/src/nfqueue.c for the layout). */
export interface NativeNfqHandle {
  readonly memory: ArrayBuffer;
  readonly stride: number;
  readonly batch: number;
  readonly arraysOffset: number;
  readonly queue: number;
  readonly copyRange: number;
}

export interface NativeNfqOptions {
  queue: number;
  copyRange?: number;
  batch?: number;
  maxLen?: number;
  rcvbuf?: number;
  failOpen?: boolean;
  gso?: boolean;
}

export interface NativeNfqStats {
  packets: number;
  batches: number;
  recvCalls: number;
  verdictMessages: number;
  verdictSends: number;
  overruns: number;
  truncated: number;
  netlinkErrors: number;
  sendErrors: number;
  callbackErrors: number;
  unknownMessages: number;
  lastErrno: number;
  open: boolean;
}

export interface NativeTunHandle {
  readonly memory: ArrayBuffer;
  readonly stride: number;
  readonly batch: number;
  readonly arraysOffset: number;
  readonly name: string;
}

export interface NativeTunOptions {
  name?: string;
  batch?: number;
  mtu?: number;
  persist?: boolean;
}

export interface NativeTunStats {
  packets: number;
  batches: number;
  written: number;
  dropped: number;
  oversize: number;
  readErrors: number;
  writeErrors: number;
  callbackErrors: number;
  lastErrno: number;
  open: boolean;
}

/** An Error from the addon: code is the errno name ("EBUSY"), errno the number. */
export interface NativeError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
}

export interface NativeAddon {
  nfqOpen(opts: NativeNfqOptions, onBatch: (count: number) => void, onStatus: (err: NativeError | null) => void): NativeNfqHandle;
  nfqClose(h: NativeNfqHandle): void;
  nfqStats(h: NativeNfqHandle): NativeNfqStats;
  nfqRef(h: NativeNfqHandle, ref: boolean): void;
  tunOpen(opts: NativeTunOptions, onBatch: (count: number) => void, onStatus: (err: NativeError) => void): NativeTunHandle;
  tunClose(h: NativeTunHandle, keepDevice?: boolean): void;
  tunStats(h: NativeTunHandle): NativeTunStats;
  tunRef(h: NativeTunHandle, ref: boolean): void;
  /** A NETLINK_NETFILTER socket for the verdict cache's sets (native/src/ipset.c). */
  ipsetOpen(): number;
  ipsetClose(fd: number): void;
  /** Adds `count` entries of 10 words (source 4, destination 4, protocol, port); returns the failures read back so far. */
  ipsetAdd(fd: number, name: string, family: 4 | 6, entries: Int32Array, count: number, timeoutSeconds: number): number;
  /** Empties a set; when it returns, the kernel has done it. Throws when it could not. */
  ipsetFlush(fd: number, name: string): void;
  /** Exchanges two sets' contents atomically (rules keep naming the same set). Throws when the kernel refused. */
  ipsetSwap(fd: number, a: string, b: string): void;
  readonly NF_DROP: number;
  readonly NF_ACCEPT: number;
  readonly NF_REPEAT: number;
}

/** Index of each uint32 array after the NFQUEUE packet slots (native/src/nfqueue.c ARR_*). */
export const NFQ_ARRAY = { IDS: 0, LENS: 1, ORIG_LENS: 2, MARKS: 3, VERDICTS: 4, INDEV: 5, OUTDEV: 6, INFO: 7 } as const;
/** Index of each uint32 array after the TUN packet slots (native/src/tun.c TARR_*). */
export const TUN_ARRAY = { LENS: 0, VERDICTS: 1 } as const;

/**
 * The package root: the nearest folder above this module holding package.json. This module runs
 * from src/enforce (a checkout), dist/src/enforce (after `npm run build`) or /app/dist/src/enforce
 * (the image), so a fixed number of `..` would point into dist/ for compiled code; the addon is
 * built once, at <root>/native/build, whichever of them runs; `palisade version` reads the
 * version from <root>/package.json the same way.
 */
export function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return join(start, '..', '..');
  }
}
export const ADDON_PATH = join(packageRoot(), 'native', 'build', 'Release', 'palisade_native.node');

/** How to build the addon, for the error when it is missing (here and in the lab's prerequisites). */
export const ADDON_BUILD_HINT = 'run `bash scripts/bootstrap.sh` (or `npx node-gyp rebuild -C native --nodedir=/usr`, which npm ci runs)';

let cached: NativeAddon | undefined;

/** Loads the addon at `file`; what is wrong with it (no hint) when it cannot. */
function tryLoad(file: string): { addon: NativeAddon } | { problem: string } {
  if (!existsSync(file)) return { problem: `the native addon is not built (${file} is missing)` };
  try {
    return { addon: createRequire(import.meta.url)(file) as NativeAddon };
  } catch (e) {
    // Node's own words run to several lines (NODE_MODULE_VERSION this and that): the first says it.
    return { problem: `the native addon ${file} does not load (${(e as Error).message.split('\n')[0]!.trim()})` };
  }
}

/** What keeps the addon at `file` from loading, or undefined when it loads (the lab's prerequisites). */
export function addonProblem(file: string = ADDON_PATH): string | undefined {
  const r = tryLoad(file);
  return 'problem' in r ? r.problem : undefined;
}

/** The addon (`file`: another build, for tests), or an Error in one line telling how to build it. */
export function loadNative(file: string = ADDON_PATH): NativeAddon {
  if (cached && file === ADDON_PATH) return cached;
  const r = tryLoad(file);
  if ('problem' in r) throw new Error(`${r.problem}: ${ADDON_BUILD_HINT}`);
  if (file === ADDON_PATH) cached = r.addon;
  return r.addon;
}

/** A uint32 view of array `index` of a handle's shared memory. */
export function u32View(h: { memory: ArrayBuffer; arraysOffset: number; batch: number }, index: number): Uint32Array {
  return new Uint32Array(h.memory, h.arraysOffset + index * h.batch * 4, h.batch);
}
