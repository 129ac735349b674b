// Runs the real CLI (`node bin/palisade.js ...`) and writes conformance cases out as manifest
// folders, for the CLI tests.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConformanceCase } from '../support/conformance-cases.ts';
import { manifestsForStep, objectsForStep } from '../support/conformance-cases.ts';
import { decodeObject } from '../../src/cluster/decode.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `input` is the CLI's stdin (for `-` as a file). */
export function runCli(args: string[], opts: { input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'palisade.js'), ...args], { encoding: 'utf8', cwd: ROOT, timeout: 120_000, maxBuffer: 256 * 1024 * 1024, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tmpDir(prefix = 'palisade-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes the cluster after step `i` of a case as <dir>/cluster.yaml and returns the folder. */
export function caseManifestDir(c: ConformanceCase, step: number): string {
  const dir = tmpDir();
  writeFileSync(join(dir, 'cluster.yaml'), manifestsForStep(c, step));
  return dir;
}

/** True when the text contains a JavaScript stack frame line. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at /m.test(text);
}

/** The exit status the CLI owes for a case's manifests: 1 when some object is invalid, else 0. */
export function expectedExit(c: ConformanceCase, step: number): number {
  return objectsForStep(c, step).some((o) => decodeObject(o).kind === 'invalid') ? 1 : 0;
}

/**
 * runCli without blocking this process: for tests whose API server (test/support/fake-apiserver.ts)
 * runs in this process and must answer the CLI while it runs. `bin` picks another entry point
 * (bin/kubectl-palisade.js).
 */
export function runCliAsync(args: string[], opts: { bin?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', opts.bin ?? 'palisade.js'), ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * `palisade verify`'s text output as rows of [#, from, to, port, family, verdict, egress,
 * ingress, expect ('' for none)], from either layout (probeLines: the table when it fits, else a
 * block per probe).
 */
export function verifyRows(stdout: string): string[][] {
  const lines = stdout.trimEnd().split('\n');
  if (lines[0]?.startsWith('#  FROM')) {
    const expects = /\sEXPECT\s/.test(lines[0]);
    return lines.slice(1).map((l) => {
      const c = l.split(/\s{2,}/);
      return expects ? [...c.slice(0, 6), c[7]!, c[8]!, c[6]!] : [...c, ''];
    });
  }
  const rows: string[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^#(\d+)  (.*) -> (.*)  (\S+)  (\S+)  (\S+)(?:  \(expect (.*)\))?$/.exec(lines[i]!);
    if (!head) continue;
    const egress = /^    egress: {2}(.*)$/.exec(lines[i + 1] ?? '')?.[1] ?? '';
    const ingress = /^    ingress: (.*)$/.exec(lines[i + 2] ?? '')?.[1] ?? '';
    rows.push([...head.slice(1, 7), egress, ingress, head[7] ?? '']);
  }
  return rows;
}
