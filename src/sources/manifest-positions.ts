// Where a field of an object read from a manifest file is written ("policies.yaml:15:7"), found
// after the fact from the object's source (DecodedDocument.source: "file:N", or "file:N.items[j]"
// for a member of a List, "file:N.items[i].items[j]" in a list in a list) and a decoder-style
// field path: lint's findings are made on the cluster state, long after the files were read, and
// an editor or a CI annotation wants a line.

import { readFileSync } from 'node:fs';
import { LineCounter, type Document } from 'yaml';
import { parseManifestText } from './manifests.ts';
import { positionOfPath } from './yaml-positions.ts';

/** Finds positions for many fields of a few files, reading and parsing each file once. */
export class ManifestPositions {
  private readonly files = new Map<string, { docs: Document[]; lines: LineCounter } | undefined>();

  /** "file:line:col" of `field` (a path like "spec.ingress[0].from[1]"; none: the object) in the object read from `source`; undefined when unknown. */
  at(source: string, field = ''): string | undefined {
    const m = /^(.*):(\d+)((?:\.items\[\d+\])*)$/.exec(source);
    if (!m) return undefined;
    const [, file, doc, items] = m;
    const parsed = this.parsed(file!);
    const d = parsed?.docs[Number(doc) - 1];
    if (!parsed || !d) return undefined;
    const path = [items!.slice(1), field].filter((p) => p !== '').join('.');
    const pos = positionOfPath(d, path, parsed.lines);
    return pos ? `${file}:${pos.line}:${pos.col}` : undefined;
  }

  private parsed(file: string): { docs: Document[]; lines: LineCounter } | undefined {
    if (!this.files.has(file)) {
      let v: { docs: Document[]; lines: LineCounter } | undefined;
      try {
        const lines = new LineCounter();
        v = { docs: parseManifestText(readFileSync(file, 'utf8'), lines), lines };
      } catch {
        v = undefined; // changed or gone since it was read: no position, the finding stands
      }
      this.files.set(file, v);
    }
    return this.files.get(file);
  }
}
