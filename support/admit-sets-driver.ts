// The tests' end of support/admit-sets-probe.ts: starts the probe in a namespace and sends it
// one command at a time.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { ROOT } from './netns.ts';
import type { AdmitEntry, AdmitSetsOptions, ReturnEntry } from '../src/enforce/admit-sets.ts';

export interface ProbeAnswer {
  readonly error?: string;
  readonly result?: string;
  readonly atCheck?: Record<string, number>;
  readonly tests?: boolean[];
  readonly counted?: { egress: number; ingress: number; context: unknown; src: number[]; dst: number[]; proto: number; port: number; n: number }[];
  readonly stats?: Record<string, number>;
  readonly sets?: string[];
}

export class AdmitProbe {
  private readonly waiting: ((line: string) => void)[] = [];
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => this.waiting.shift()?.(l));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.on('exit', () => {
      for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: `probe exited: ${this.stderr}` }));
    });
  }

  /** Starts the probe in namespace `ns` with AdmitSets.open options (onCounted is the probe's). */
  static async start(ns: string, o: Omit<AdmitSetsOptions, 'onCounted' | 'prefix'> = {}): Promise<AdmitProbe> {
    const child = spawn('ip', ['netns', 'exec', ns, 'node', '--import', 'tsx', join(ROOT, 'support', 'admit-sets-probe.ts'), JSON.stringify(o)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new AdmitProbe(child);
    const ready = JSON.parse(await p.next()) as { ready?: boolean; error?: string };
    if (!ready.ready) throw new Error(`admit probe did not start: ${ready.error ?? ''}`);
    return p;
  }

  private next(): Promise<string> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async send(c: { op: string; entries?: AdmitEntry[]; returns?: ReturnEntry[]; current?: boolean; probe?: [string, string][] }): Promise<ProbeAnswer> {
    const answer = this.next();
    this.child.stdin!.write(JSON.stringify(c) + '\n');
    return JSON.parse(await answer) as ProbeAnswer;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
