// `--source files`: a folder (or files) of manifests, followed live. Every pass reads the
// manifests, decodes them with the same decoder as API objects, computes the difference with
// what this source put into the state last time, and applies it in one ClusterState.batch()
// (one incremental recompile). Passes run on fs.watch events (debounced) and on a periodic
// rescan, which also catches events fs.watch misses (editors that rename, network filesystems).
//
// Broken input never opens traffic:
// - a file that cannot be read or has a YAML syntax error is reported and skipped, and the
//   objects it held last time it was good stay as they were;
// - an object that fails validation is rejected (reported, ClusterState.rejected) and its last
//   good version stays in force.
// Deleting a file (or an object from a file) deletes its objects: that is a deliberate edit,
// except while the file holds an invalid document: an object whose name, namespace or kind was
// broken by the edit cannot be told from a deleted one, so the objects the file held stay (their
// last good versions) until it is valid again.

import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import type { ClusterState } from '../cluster/state.ts';
import { applyDecoded, deleteByKind } from '../cluster/decode.ts';
import { KIND, isObjectKind, keyOfDecoded, type ObjectKind, type ValidDecoded as Valid } from '../cluster/kinds.ts';
import { implicitNamespaceLabels } from '../cluster/namespace-labels.ts';
import { formatObjectError, type ObjectError } from '../cluster/model.ts';
import { manifestFiles, readManifestText, type DecodedDocument } from './manifests.ts';
import { stderrLog, type Log } from './log.ts';
import type { Source, SyncInfo } from './source.ts';

export interface FilesSourceOptions {
  /** Files or folders (folders are read recursively: *.yaml, *.yml, *.json). */
  readonly paths: readonly string[];
  /** Quiet time after a filesystem event before a pass. */
  readonly debounceMs?: number;
  /** Periodic check of file sizes and mtimes; a pass runs when anything differs. 0 = off. */
  readonly rescanMs?: number;
  /** Problems and notes, one line each (default: stderr). Repeated problems are reported once. */
  readonly log?: Log;
}

interface FileResult {
  readonly text: string;
  readonly docs: readonly DecodedDocument[];
}

function objectId(d: Valid): string {
  return `${d.kind} ${keyOfDecoded(d)}`;
}

export class FilesSource implements Source {
  private readonly paths: readonly string[];
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly log: Log;
  private state?: ClusterState;
  /** Last good parse of each file. */
  private readonly good = new Map<string, FileResult>();
  /** What this source has put into the state: id -> object, plus its JSON for comparison. */
  private applied = new Map<string, { d: Valid; json: string }>();
  private watchers: FSWatcher[] = [];
  private debounce?: NodeJS.Timeout;
  private rescan?: NodeJS.Timeout;
  private signature = '';
  /** Ids rejected in the last pass, so a rejection is cleared when the object leaves the files. */
  private lastInvalid = new Map<string, { kind: ObjectKind; key: string }>();
  /** Ids of the objects each file put into the state in the last pass. */
  private fileIds = new Map<string, Set<string>>();
  private stopped = false;
  private reported = new Set<string>();
  private readonly listeners: ((i: SyncInfo) => void)[] = [];
  passes = 0;

  constructor(opts: FilesSourceOptions) {
    if (opts.paths.length === 0) throw new Error('the files source needs at least one manifests path');
    this.paths = opts.paths;
    this.debounceMs = opts.debounceMs ?? 100;
    this.rescanMs = opts.rescanMs ?? 1000;
    this.log = opts.log ?? stderrLog('files-source');
  }

  onSync(l: (i: SyncInfo) => void): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i !== -1) this.listeners.splice(i, 1);
    };
  }

  async start(state: ClusterState): Promise<void> {
    if (this.state) throw new Error('files source already started');
    this.state = state;
    for (const p of this.paths) {
      try {
        statSync(p);
      } catch (e) {
        throw new Error(`manifests path ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
      }
    }
    this.pass();
    for (const p of this.paths) {
      try {
        const w = watch(p, { recursive: statSync(p).isDirectory() }, () => this.schedule());
        w.on('error', () => this.schedule());
        this.watchers.push(w);
      } catch (e) {
        this.log('warn', `cannot watch ${p} (${(e as Error).message}); relying on the periodic rescan`);
      }
    }
    if (this.rescanMs > 0) {
      this.rescan = setInterval(() => {
        if (this.currentSignature() !== this.signature) this.schedule(0);
      }, this.rescanMs);
      this.rescan.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.debounce) clearTimeout(this.debounce);
    if (this.rescan) clearInterval(this.rescan);
  }

  /** Runs a pass now (tests, SIGHUP). */
  syncNow(): SyncInfo {
    return this.pass();
  }

  private schedule(delay = this.debounceMs): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.pass();
    }, delay);
  }

  /** size:mtime of every manifest file, to notice changes without reading them. */
  private currentSignature(): string {
    const errs: ObjectError[] = [];
    const parts: string[] = [];
    for (const p of this.paths) {
      for (const f of manifestFiles(p, errs)) {
        try {
          const s = statSync(f);
          parts.push(`${f}:${s.size}:${s.mtimeMs}:${s.ino}`);
        } catch {
          parts.push(`${f}:gone`);
        }
      }
    }
    return parts.join('\n') + errs.map((e) => e.message).join();
  }

  private pass(): SyncInfo {
    const startedAt = Date.now();
    const state = this.state;
    if (!state || this.stopped) return { startedAt, errors: [] };
    this.passes++;
    this.signature = this.currentSignature();
    const errors: string[] = [];
    const notes: string[] = [];
    const warnings: string[] = [];
    const pathErrors: ObjectError[] = [];
    const files: string[] = [];
    for (const p of this.paths) files.push(...manifestFiles(p, pathErrors));
    for (const e of pathErrors) errors.push(formatObjectError(e));
    // A path that vanished entirely is more likely a broken mount than "delete everything".
    const keepAll = pathErrors.length > 0;

    const seenFiles = new Set<string>();
    const desired = new Map<string, { d: Valid; source: string }>();
    const invalid: { kind: ObjectKind; key: string; errors: ObjectError[] }[] = [];
    /** Files holding an invalid document this pass: they delete nothing (see the header). */
    const unsure: string[] = [];
    const fileIds = new Map<string, Set<string>>();
    for (const file of files) {
      seenFiles.add(file);
      let result: FileResult | undefined;
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        errors.push(`${file}: cannot read: ${(e as Error).message}; keeping the objects it held`);
      }
      if (text !== undefined) {
        const prev = this.good.get(file);
        if (prev && prev.text === text) {
          result = prev;
        } else {
          const r = readManifestText(text, file);
          if (r.errors.length > 0) {
            for (const e of r.errors) errors.push(`${formatObjectError(e)}; file skipped, keeping the objects it held`);
          } else {
            result = { text, docs: r.documents };
            this.good.set(file, result);
            notes.push(...r.notes);
            warnings.push(...r.warnings);
          }
        }
      }
      result ??= this.good.get(file);
      if (!result) continue;
      const ids = new Set<string>();
      fileIds.set(file, ids);
      for (const { source, decoded } of result.docs) {
        if (decoded.kind === 'ignored') continue;
        if (decoded.kind === 'invalid') {
          if (unsure.at(-1) !== file) unsure.push(file);
          // An object it names: reported below, saying whether its last good version stays.
          if (isObjectKind(decoded.objectKind) && decoded.key) invalid.push({ kind: decoded.objectKind, key: decoded.key, errors: decoded.errors });
          else for (const e of decoded.errors) errors.push(formatObjectError(e));
          continue;
        }
        const id = objectId(decoded);
        ids.add(id);
        const prev = desired.get(id);
        if (prev) notes.push(`${id} is defined twice (${prev.source} and ${source}); the later one is used`);
        desired.set(id, { d: decoded, source });
      }
    }
    // Files that disappeared: their objects go (a deliberate delete), unless a path vanished.
    for (const f of [...this.good.keys()]) if (!seenFiles.has(f) && !keepAll) this.good.delete(f);
    if (keepAll) {
      for (const [f, r] of this.good) {
        if (seenFiles.has(f)) continue;
        const last = this.fileIds.get(f);
        if (last) fileIds.set(f, last);
        for (const { decoded } of r.docs) if (decoded.kind !== 'ignored' && decoded.kind !== 'invalid') {
          const id = objectId(decoded);
          if (!desired.has(id)) desired.set(id, { d: decoded, source: f });
        }
      }
    }
    // An invalid object keeps its last good version (ClusterState.reject semantics), and its
    // errors say so: a rejected edit must not read as the policy gone (or as the edit in force).
    for (const inv of invalid) {
      const id = `${inv.kind} ${inv.key}`;
      const prev = this.applied.get(id);
      const kept = prev !== undefined && !desired.has(id);
      if (kept) desired.set(id, { d: prev.d, source: '(last good version)' });
      for (const e of inv.errors) errors.push(`${formatObjectError(e)}${kept ? '; rejected: the last good version stays in force' : ''}`);
    }
    // A file holding an invalid document keeps what it held last time (it may be that document).
    for (const file of unsure) {
      const ids = fileIds.get(file)!;
      for (const id of this.fileIds.get(file) ?? []) {
        const prev = this.applied.get(id);
        if (!prev || desired.has(id)) continue;
        desired.set(id, { d: prev.d, source: '(last good version)' });
        ids.add(id);
      }
    }
    // Pods in a namespace without a Namespace object: the API server would have one, labelled
    // with its name (same as loadManifests).
    const namespaces = new Set<string>();
    for (const { d } of desired.values()) if (d.kind === 'Namespace') namespaces.add(d.value.name);
    for (const { d } of [...desired.values()]) {
      if (d.kind !== 'Pod' || namespaces.has(d.value.namespace)) continue;
      const ns = d.value.namespace;
      namespaces.add(ns);
      desired.set(`Namespace ${ns}`, { d: { kind: 'Namespace', value: { name: ns, labels: implicitNamespaceLabels(ns) } }, source: '(implicit)' });
    }

    const next = new Map<string, { d: Valid; json: string }>();
    const upserts: Valid[] = [];
    for (const [id, { d }] of desired) {
      const json = JSON.stringify(d.value);
      const prev = this.applied.get(id);
      next.set(id, prev && prev.json === json ? prev : { d, json });
      if (!prev || prev.json !== json) upserts.push(d);
    }
    const deletes: Valid[] = [];
    for (const [id, prev] of this.applied) if (!next.has(id)) deletes.push(prev.d);
    this.applied = next;
    this.fileIds = fileIds;
    state.batch(() => {
      // Namespaces before pods and policies; deletes of pods/policies before namespaces (KindEntry.applyOrder).
      const order = (d: Valid) => KIND[d.kind].applyOrder;
      for (const d of deletes.sort((a, b) => order(b) - order(a))) deleteByKind(state, d.kind, keyOfDecoded(d));
      for (const d of upserts.sort((a, b) => order(a) - order(b))) applyDecoded(state, d);
      for (const inv of invalid) state.reject(inv.kind, inv.key, inv.errors);
      // Rejected before, now neither invalid nor present: drop the stale rejection (a delete of
      // an absent object only clears it).
      const nowInvalid = new Set(invalid.map((i) => `${i.kind} ${i.key}`));
      for (const [id, { kind, key }] of this.lastInvalid) if (!nowInvalid.has(id) && !next.has(id)) deleteByKind(state, kind, key);
    });
    this.lastInvalid = new Map(invalid.map((i) => [`${i.kind} ${i.key}`, { kind: i.kind, key: i.key }]));

    // Report each distinct problem once (the rescan would otherwise repeat it every second).
    const now = new Set<string>();
    for (const e of errors) {
      now.add(e);
      if (!this.reported.has(e)) this.log('error', e);
    }
    for (const n of notes) if (!this.reported.has(n)) this.log('info', n);
    for (const n of notes) now.add(n);
    for (const w of warnings) if (!this.reported.has(w)) this.log('warn', w);
    for (const w of warnings) now.add(w);
    this.reported = now;
    const info: SyncInfo = { startedAt, errors };
    for (const l of this.listeners) l(info);
    return info;
  }
}
