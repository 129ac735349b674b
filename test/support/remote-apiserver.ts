// support/fake-apiserver-main.ts as a process INSIDE a lab's node namespace, driven over its
// stdin/stdout (JSON lines, see that file). The agent reaches it on that namespace's loopback, so
// nothing crosses into the root namespace.

import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { ROOT, type Topology } from '../../support/netns.ts';

type Reply = { ok: boolean; result?: unknown; error?: string };

export class RemoteApiServer {
  private next = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private readonly proc: ChildProcess;
  /** The port it listens on (in the node namespace); known once `ready` resolved. */
  port = 0;
  readonly ready: Promise<void>;

  constructor(topo: Topology, token: string) {
    const proc = topo.spawn(topo.in(topo.node, [process.execPath, '--import', 'tsx', join(ROOT, 'support', 'fake-apiserver-main.ts'), '--token', token]));
    this.proc = proc;
    let onReady!: () => void;
    this.ready = new Promise<void>((r) => (onReady = r));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as Reply & { ready?: boolean; port?: number; id?: number };
      if (m.ready) {
        this.port = m.port!;
        onReady();
      } else if (typeof m.id === 'number') {
        this.waiting.get(m.id)?.(m);
        this.waiting.delete(m.id);
      }
    });
  }

  /** Sends one command and resolves with its result; a command the server refuses throws. */
  async call(cmd: Record<string, unknown>): Promise<unknown> {
    const id = this.next++;
    const reply = new Promise<Reply>((r) => this.waiting.set(id, r));
    this.proc.stdin!.write(JSON.stringify({ id, ...cmd }) + '\n');
    const r = await reply;
    if (!r.ok) throw new Error(`fake apiserver: ${r.error}`);
    return r.result;
  }

  /** Creates or updates every object of a multi-document YAML text. */
  apply(yamlText: string): Promise<unknown[]> {
    return Promise.all(parseAllDocuments(yamlText).map((d) => this.call({ op: 'apply', object: d.toJS() })));
  }

  /** A kubeconfig (plain http, bearer token) pointing at this server. */
  kubeconfig(token: string): string {
    return [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: lab', '  cluster:', `    server: http://127.0.0.1:${this.port}`, '    insecure-skip-tls-verify: true',
      'users:', '- name: agent', '  user:', `    token: ${token}`,
      'contexts:', '- name: lab', '  context: {cluster: lab, user: agent}',
      'current-context: lab', '',
    ].join('\n');
  }
}
