// The conformance cases every suite-wide test runs.
// - allCases(): the NetworkPolicy cases: the shared ones (or $PALISADE_CONFORMANCE_DIR) plus this
//   project's own extra-cases/ folder (translations of the upstream e2e tests the shared sample
//   leaves out and more spec edge cases, in the same format; see its files' headers).
// - cnpCases(): the ClusterNetworkPolicy cases: the shared cnp/cases (or
//   $PALISADE_CNP_CONFORMANCE_DIR, see defaultCnpCasesDir) plus cnp-extra-cases/ (the v1alpha1
//   kinds, IPv6 for every peer type, domainNames, policy updates; same format).
// They are kept apart because not every consumer handles several nodes and host-network pods yet
// (the lab); the engine, classifier and CLI suites run both.

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCnpCasesDir, loadCases, type ConformanceCase } from '../support/conformance-cases.ts';
import { ipv6Twin } from '../support/ipv6-twin.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const EXTRA_CASES_DIR = resolve(HERE, 'extra-cases');
export const CNP_EXTRA_CASES_DIR = resolve(HERE, 'cnp-extra-cases');

let all: ConformanceCase[] | undefined;
let cnp: ConformanceCase[] | undefined;

/** Shared (or $PALISADE_CONFORMANCE_DIR) NetworkPolicy cases first, then the extra ones; parsed once. */
export function allCases(): ConformanceCase[] {
  all ??= [...loadCases(), ...loadCases(EXTRA_CASES_DIR)];
  return all;
}

/** Shared (or $PALISADE_CNP_CONFORMANCE_DIR) ClusterNetworkPolicy cases, then ours; parsed once. */
export function cnpCases(): ConformanceCase[] {
  cnp ??= [...loadCases(defaultCnpCasesDir()), ...loadCases(CNP_EXTRA_CASES_DIR)];
  return cnp;
}

let twins: ConformanceCase[] | undefined;

/**
 * The IPv6 twin of every ClusterNetworkPolicy case that has no IPv6 of its own (see
 * ipv6-twin.ts): the upstream cases are IPv4 only, and every case must hold in both families.
 */
export function cnpIPv6Twins(): ConformanceCase[] {
  twins ??= cnpCases().flatMap((c) => {
    const t = ipv6Twin(c);
    return t ? [t] : [];
  });
  return twins;
}

/** Both sets and the IPv6 twins: what the evaluator, compiled engine, classifier and verify suites run. */
export function everyCase(): ConformanceCase[] {
  return [...allCases(), ...cnpCases(), ...cnpIPv6Twins()];
}
