// The conformance cases every suite-wide test runs: the shared cases (or $PALISADE_CONFORMANCE_DIR)
// plus this project's own extra-cases/ folder: translations of the upstream e2e tests the shared
// sample leaves out and more spec edge cases, in the same format (see its files' headers).

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCases, type ConformanceCase } from '../support/conformance-cases.ts';

export const EXTRA_CASES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), 'extra-cases');

let all: ConformanceCase[] | undefined;

/** Shared (or $PALISADE_CONFORMANCE_DIR) cases first, then the extra ones; parsed once. */
export function allCases(): ConformanceCase[] {
  all ??= [...loadCases(), ...loadCases(EXTRA_CASES_DIR)];
  return all;
}
