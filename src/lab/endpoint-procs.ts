// Starting the endpoint process of a lab namespace (endpoint.ts) and telling endpoints what to
// serve. Endpoints are detached so they outlive `palisade lab up`; the lab's state records them.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EndpointClient } from './endpoint-client.ts';
import type { ServePorts } from './endpoint-wire.ts';
import type { LabEndpointRecord, LabState } from './lab-state.ts';
import { writeLabState } from './lab-state.ts';

/** argv that runs endpoint.ts (through tsx) or the compiled endpoint.js. */
function endpointArgv(): string[] {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(new URL('./endpoint.ts', here))];
  return [process.execPath, fileURLToPath(new URL('./endpoint.js', here))];
}

export function safeFileName(label: string): string {
  return label.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** Starts the endpoint process of a namespace, detached so it outlives `palisade lab up`. */
function spawnEndpoint(state: LabState, netns: string, label: string): LabEndpointRecord {
  const ctl = join(state.dir, 'ctl');
  const logs = join(state.dir, 'log');
  mkdirSync(ctl, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const socket = join(ctl, `${state.nextSocket++}.sock`);
  const log = join(logs, `endpoint-${safeFileName(label)}.log`);
  const fd = openSync(log, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', netns, ...endpointArgv(), '--socket', socket, '--label', label], {
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.unref();
    // `ip netns exec` execs the command in place, so this pid is the endpoint's.
    const rec: LabEndpointRecord = { label, netns, socket, log, ...(child.pid !== undefined ? { pid: child.pid } : {}) };
    state.endpoints[netns] = rec;
    return rec;
  } finally {
    closeSync(fd);
  }
}

export interface EndpointWanted {
  readonly netns: string;
  readonly label: string;
  readonly ports: ServePorts;
}

/** Starts endpoints and waits until each serves its ports. */
export async function startEndpoints(state: LabState, wanted: readonly EndpointWanted[]): Promise<void> {
  const recs = wanted.map((w) => ({ w, rec: spawnEndpoint(state, w.netns, w.label) }));
  writeLabState(state);
  await Promise.all(recs.map(async ({ w, rec }) => {
    const c = await EndpointClient.open(rec.socket, rec.label).catch((e: Error) => {
      throw new Error(`${e.message}; see ${rec.log}`);
    });
    try {
      await c.serve(w.ports);
    } finally {
      c.close();
    }
  }));
}

/** Tells running endpoints to serve exactly these ports. */
export async function reserveEndpoints(items: readonly { rec: LabEndpointRecord; ports: ServePorts }[]): Promise<void> {
  await Promise.all(items.map(async ({ rec, ports }) => {
    const c = await EndpointClient.open(rec.socket, rec.label, 5000);
    try {
      await c.serve(ports);
    } finally {
      c.close();
    }
  }));
}
