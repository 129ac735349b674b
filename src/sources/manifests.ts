// The file source: YAML/JSON manifests (files or folders) -> cluster state, the offline twin of
// the kube source. Every document goes through the same decoder as objects from the API server,
// so `palisade verify` judges a folder the way the cluster would judge it after `kubectl apply`.

import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Document, LineCounter, isMap, parseAllDocuments, visit } from 'yaml';
import { formatObjectError, type ObjectError } from '../cluster/model.ts';
import { ClusterState } from '../cluster/state.ts';
import type { Decoded } from '../cluster/decode.ts';
import { applyDecoded, decodeAs, decodeObject, isObjectKind } from '../cluster/decode.ts';
import { keyOfDecoded, objectNameOfDecoded } from '../cluster/kinds.ts';
import { NAMESPACE_NAME_LABEL, implicitNamespaceLabels } from '../cluster/namespace-labels.ts';
import { locateErrors } from './yaml-positions.ts';
import { surprisesUnder, yaml11Surprises } from './yaml11.ts';

const EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface DecodedDocument {
  /** "file:N" (N = 1-based document number), plus ".items[i]" for List members (".items[i].items[j]" in a list in a list). */
  readonly source: string;
  readonly decoded: Decoded;
}

export interface ManifestRead {
  readonly documents: DecodedDocument[];
  readonly notes: string[];
  /** What decoders found valid but probably unmeant (Errs.warn), each with its line; folders with no manifest file. */
  readonly warnings: string[];
  /** Unreadable paths and YAML syntax errors (object errors are inside `documents`). */
  readonly errors: ObjectError[];
}

/** Folders a walk does not enter (a path named on the command line is read whatever its name). */
const SKIPPED_FOLDER = /^(\.|node_modules$)/;

/** Why a folder entry cannot be read, in words: where a symlink points that leads nowhere. */
function unstattable(full: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  let target: string | undefined;
  try {
    target = readlinkSync(full);
  } catch {
    // not a symlink (a file removed meanwhile): the system's words
  }
  if (target !== undefined && code === 'ENOENT') return `a symbolic link to ${target}, which does not exist`;
  if (target !== undefined && code === 'ELOOP') return `a symbolic link to ${target}, part of a loop of symbolic links`;
  return (e as Error).message;
}

/** The files a path stands for: itself, or every manifest below a folder (but SKIPPED_FOLDER), sorted. */
export function manifestFiles(path: string, errors: ObjectError[]): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    errors.push({ object: `file ${path}`, field: '(path)', message: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message });
    return [];
  }
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  // Folders already walked, by device and inode: a symlink back to one (`current -> .`, two of
  // which make the walk exponential) or a second link to it would read its files again.
  const walked = new Set<string>([`${st.dev}:${st.ino}`]);
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (e) {
      errors.push({ object: `folder ${dir}`, field: '(path)', message: (e as Error).message });
      return;
    }
    for (const name of names) {
      const full = join(dir, name);
      let s;
      try {
        s = statSync(full);
      } catch (e) {
        // A dangling symlink, or a file removed while we read the folder.
        if (EXTENSIONS.some((x) => name.endsWith(x))) errors.push({ object: `file ${full}`, field: '(path)', message: unstattable(full, e) });
        continue;
      }
      // Tool folders inside a tree (.git, .github, node_modules) hold no manifests of the
      // cluster, and a checkout's node_modules thousands of package.json files.
      if (s.isDirectory()) {
        const id = `${s.dev}:${s.ino}`;
        if (SKIPPED_FOLDER.test(name) || walked.has(id)) continue;
        walked.add(id);
        walk(full);
      }
      else if (!EXTENSIONS.some((x) => name.endsWith(x))) continue;
      // A FIFO (or socket, or device) would block the read until a writer comes, maybe never:
      // the command would hang, the agent's pass with it. One named on the command line is read.
      else if (!s.isFile()) errors.push({ object: `file ${full}`, field: '(path)', message: 'not a regular file (a FIFO, socket or device), not read' });
      else out.push(full);
    }
  };
  walk(path);
  return out;
}

/**
 * A document the YAML reader refuses: "file:line:column: bad YAML: document N: what", starting
 * like an object's error with the position, so an editor or terminal can jump there.
 */
function yamlError(file: string, docNumber: number, pos: { line: number; col: number } | undefined, message: string): ObjectError {
  return { source: pos ? `${file}:${pos.line}:${pos.col}` : file, object: 'bad YAML', field: `document ${docNumber}`, message };
}

/** Where the alias an error is about starts: the one it names ("...: nope"), else the first. */
function aliasPosition(doc: Document, msg: string, lines: LineCounter): { line: number; col: number } | undefined {
  let first: number | undefined;
  let named: number | undefined;
  visit(doc, {
    Alias(_, node) {
      const at = node.range?.[0];
      if (at === undefined) return;
      first ??= at;
      if (named === undefined && msg.endsWith(`: ${node.source}`)) named = at;
    },
  });
  const at = named ?? first;
  return at === undefined ? undefined : lines.linePos(at);
}

/**
 * A file of a repository that is no manifest (package.json, tsconfig.json, a CI workflow, Helm
 * values): it parses, and none of its documents is a mapping with apiVersion, kind or metadata,
 * the fields every object has, or with a mapping spec. An object that lost its header still has
 * metadata, one that lost its first lines (or was pasted from its spec down) still has spec:
 * both stay errors, so a folder's agent keeps the policy the file held instead of deleting it;
 * a file that does not parse stays one too (it may be a broken manifest).
 */
function foreignFile(list: readonly Document[]): boolean {
  let mappings = 0;
  for (const doc of list) {
    if (doc.errors.length > 0) return false;
    const c = doc.contents;
    if (c === null) continue;
    if (!isMap(c)) return false;
    if (c.has('apiVersion') || c.has('kind') || c.has('metadata') || isMap(c.get('spec'))) return false;
    mappings++;
  }
  return mappings > 0;
}

/** The YAML documents of a manifest file's text, read as kubectl reads them (see readManifestText). */
export function parseManifestText(text: string, lines: LineCounter): Document[] {
  // merge: YAML 1.1 merge keys (`<<: *base`), which kubectl's YAML reader resolves: read as a
  // plain key, `metadata: {<<: *common, name: a}` would lose the pod's labels without a word.
  // logLevel error: the reader's warnings (a list as a mapping key, turned into text) would go
  // through process.emitWarning, a line naming neither the command nor the file; the decoder
  // reports the key itself (an invalid label key, an unknown field).
  const docs = parseAllDocuments(text, { lineCounter: lines, merge: true, logLevel: 'error' });
  return Array.isArray(docs) ? docs : [docs as unknown as Document];
}

/** The kind and apiVersion a typed list gives its items. */
type Typed = { readonly kind: string; readonly apiVersion: unknown };

/** Decodes every document of one file's text (multi-document YAML, JSON, `kind: List`). */
export function readManifestText(text: string, file: string): ManifestRead {
  const documents: DecodedDocument[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const errors: ObjectError[] = [];
  const lines = new LineCounter();
  const list = parseManifestText(text, lines);
  if (foreignFile(list)) {
    notes.push(`${file}: no Kubernetes object in it (no document has apiVersion, kind or metadata), passed over`);
    return { documents, notes, warnings, errors };
  }
  list.forEach((doc, i) => {
    const source = `${file}:${i + 1}`;
    if (doc.errors.length > 0) {
      // The first error only: the parser goes on past a mistake and reports what follows from
      // it too (an unclosed "[" is also an unclosed "{"), and the whole document is left out anyway.
      const err = doc.errors[0]!;
      const pos = err.linePos?.[0];
      // The parser's message ends with " at line L, column C:" and a source excerpt; keep
      // the first sentence, the position goes in the field.
      const msg = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      const more = doc.errors.length - 1;
      errors.push(yamlError(file, i + 1, pos, `${msg}${more > 0 ? `; ${more} more error${more > 1 ? 's' : ''} after it in the document, probably caused by it` : ''}`));
      return;
    }
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // Aliases are resolved here, after the syntax check: one naming no anchor (a typo), or
      // too many of them (a document that expands a billion times) throws. A bad document, not
      // a crash of the command or of the agent reading the folder.
      const msg = (e as Error).message.split('\n')[0]!;
      errors.push(yamlError(file, i + 1, aliasPosition(doc, msg, lines), msg));
      return;
    }
    if (raw === null || raw === undefined) return; // an empty document (e.g. a trailing ---)
    const surprises = yaml11Surprises(doc);
    // `kind: List` (kubectl get -o yaml), or a typed list of a kind read here (NetworkPolicyList,
    // PodList...: what the API serves, items without kind or apiVersion), both of which kubectl
    // apply takes; ignoring a NetworkPolicyList would leave its policies out with only a note.
    // kubectl flattens a list inside a list too, so lists are read at any depth; `items` is the
    // path of item indices from the document down.
    const readValue = (value: unknown, at: string, items: readonly number[], typed?: Typed): void => {
      const locate = (d: readonly ObjectError[]) => locateErrors(d, file, i + 1, doc, lines, items);
      const obj = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
      const kind = obj?.kind;
      const itemKind = typeof kind === 'string' && kind.endsWith('List') && isObjectKind(kind.slice(0, -4)) ? kind.slice(0, -4) : undefined;
      if (obj === undefined || (kind !== 'List' && itemKind === undefined)) {
        add(value, at, locate, typed, surprisesUnder(surprises, items.flatMap((j) => ['items', j])));
        return;
      }
      const list = obj.items;
      if (list !== undefined && list !== null && !Array.isArray(list)) {
        errors.push(...locate([{ object: `${kind} in ${file}`, field: 'items', message: 'must be a list', source: at }]));
        return;
      }
      const of = itemKind === undefined ? undefined : { kind: itemKind, apiVersion: obj.apiVersion };
      (list ?? []).forEach((item, j) => readValue(item, `${at}.items[${j}]`, [...items, j], of));
    };
    readValue(raw, source, []);
  });
  function add(raw: unknown, source: string, locate: (e: readonly ObjectError[]) => ObjectError[], typed: Typed | undefined, yaml11: { field: string; message: string }[]): void {
    // An item of a typed list is of the list's kind and apiVersion unless it names its own.
    const item = typed !== undefined && typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
    let decoded = item !== undefined && item.kind === undefined
      ? decodeAs(typed!.kind, item.apiVersion === undefined && typed!.apiVersion !== undefined ? { ...item, apiVersion: typed!.apiVersion } : item, source)
      : decodeObject(raw, source);
    // Errors point at the line and column of their field; the document number is context.
    if (decoded.kind === 'invalid') decoded = { ...decoded, errors: locate(decoded.errors) };
    if (decoded.kind === 'ignored') notes.push(`${source}: ${decoded.note}`);
    else if (decoded.kind !== 'invalid' && decoded.warnings) for (const w of locate(decoded.warnings)) warnings.push(formatObjectError(w));
    // Values kubectl reads otherwise (yaml11.ts), in the objects read here.
    const object = decoded.kind === 'ignored' ? undefined : decoded.kind === 'invalid' ? decoded.errors[0]?.object : objectNameOfDecoded(decoded);
    if (object !== undefined) for (const w of locate(yaml11.map((y) => ({ object, ...y })))) warnings.push(formatObjectError(w));
    documents.push({ source, decoded });
  }
  return { documents, notes, warnings, errors };
}

/** Reads and decodes every manifest under the given paths, in path order then file order. */
export function readManifests(paths: readonly string[]): ManifestRead {
  const documents: DecodedDocument[] = [];
  const notes: string[] = [];
  const warnings: string[] = [];
  const errors: ObjectError[] = [];
  for (const p of paths) {
    const before = errors.length;
    const files = manifestFiles(p, errors);
    // No file and no error: a folder without manifests (Helm templates, the wrong folder). It
    // reads as an empty cluster, which a command would judge as if it were the answer.
    if (files.length === 0 && errors.length === before) warnings.push(`${p}: no ${EXTENSIONS.join(', ').replace(/, (?=[^,]*$)/, ' or ')} file in this folder, nothing was read from it`);
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        errors.push({ object: `file ${file}`, field: '(file)', message: (e as Error).message });
        continue;
      }
      const r = readManifestText(text, file);
      documents.push(...r.documents);
      notes.push(...r.notes);
      warnings.push(...r.warnings);
      errors.push(...r.errors);
    }
  }
  return { documents, notes, warnings, errors };
}

export interface LoadedManifests {
  readonly state: ClusterState;
  readonly notes: string[];
  /** See ManifestRead.warnings. */
  readonly warnings: string[];
  /** YAML errors and every error of every invalid object (those objects are left out). */
  readonly errors: ObjectError[];
  /** How many documents (or List items, or unreadable files) those errors belong to. */
  readonly badDocuments: number;
  /**
   * Where each object loaded was read, by the name errors give it ("NetworkPolicy ns/name",
   * "ClusterNetworkPolicy name"): DecodedDocument.source, for manifest-positions.ts.
   */
  readonly sources: ReadonlyMap<string, string>;
}

function decodedKey(d: Decoded): string | undefined {
  return d.kind === 'ignored' || d.kind === 'invalid' ? undefined : `${d.kind} ${keyOfDecoded(d)}`;
}

/**
 * Loads manifests into a fresh ClusterState (one batch). Objects defined twice: the later one
 * wins, with a note. Pods in a namespace with no Namespace object get one implicitly, labelled
 * only kubernetes.io/metadata.name (what the API server would set), with a note.
 */
export function loadManifests(paths: readonly string[]): LoadedManifests {
  const read = readManifests(paths);
  const state = new ClusterState();
  const notes = [...read.notes];
  const errors = [...read.errors];
  // One per bad document (a YAML error names its file and document) or unreadable path; each
  // invalid object once, below.
  let badDocuments = new Set(read.errors.map((e) => `${e.source?.replace(/:\d+:\d+$/, '') ?? ''} ${e.object} ${e.field}`)).size;
  const seen = new Map<string, string>();
  const sources = new Map<string, string>();
  state.batch(() => {
    for (const { source, decoded } of read.documents) {
      if (decoded.kind === 'invalid') {
        errors.push(...decoded.errors);
        badDocuments++;
      }
      const key = decodedKey(decoded);
      if (key) {
        const prev = seen.get(key);
        if (prev) notes.push(`${key} is defined twice (${prev} and ${source}); the later one is used`);
        seen.set(key, source);
      }
      if (decoded.kind !== 'invalid' && decoded.kind !== 'ignored') sources.set(objectNameOfDecoded(decoded), source);
      applyDecoded(state, decoded);
    }
    const missing = new Set<string>();
    for (const p of state.pods.values()) if (!state.namespaces.has(p.namespace)) missing.add(p.namespace);
    for (const ns of [...missing].sort()) {
      state.upsertNamespace({ name: ns, labels: implicitNamespaceLabels(ns) });
      notes.push(`namespace ${ns} has pods but no Namespace object; assumed one labelled only ${NAMESPACE_NAME_LABEL}=${ns}`);
    }
  });
  return { state, notes, warnings: read.warnings, errors, badDocuments, sources };
}
