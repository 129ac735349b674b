// Kubernetes name syntax, as the API server checks it (k8s.io/apimachinery/pkg/util/validation).
// Each check returns the problems found (empty = valid) so callers can report every one of
// them next to the field that holds the value.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Every rule of portNameProblems at once (non-empty, [-a-z0-9], no leading, trailing or doubled '-'), bar length and "a letter". */
const PORT_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const HAS_LETTER = /[a-z]/;

// Each check first tests the whole rule in one go and answers NONE (shared, no allocation) for a
// valid string, which is nearly every one: the kube source checks the labels, namespace and port
// names of every pod of the cluster (150,000 at the scale benchmark's size). Only an invalid
// string is taken apart to name each of its problems.
const NONE: readonly string[] = Object.freeze([]);

/** A namespace name: an RFC 1123 label, at most 63 characters. */
export function dnsLabelProblems(s: string): readonly string[] {
  if (s.length <= 63 && DNS1123_LABEL.test(s)) return NONE;
  const out: string[] = [];
  if (s.length > 63) out.push('must be no more than 63 characters');
  if (!DNS1123_LABEL.test(s)) out.push("must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character");
  return out;
}

/** An object name such as a NetworkPolicy's: an RFC 1123 subdomain, at most 253 characters. */
export function dnsSubdomainProblems(s: string): readonly string[] {
  if (s.length <= 253 && DNS1123_SUBDOMAIN.test(s)) return NONE;
  const out: string[] = [];
  if (s.length > 253) out.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(s)) out.push("must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character");
  return out;
}

/** A label key: optional DNS-subdomain prefix and '/', then a name of at most 63 characters. */
export function labelKeyProblems(key: string): readonly string[] {
  if (key.length !== 0 && key.length <= 63 && !key.includes('/') && QUALIFIED_NAME.test(key)) return NONE;
  const out: string[] = [];
  const parts = key.split('/');
  let name: string;
  if (parts.length === 1) name = parts[0]!;
  else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) out.push('prefix part must be non-empty');
    else for (const p of dnsSubdomainProblems(prefix)) out.push(`prefix part ${p}`);
  } else {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  if (name.length === 0) out.push('name part must be non-empty');
  else {
    if (name.length > 63) out.push('name part must be no more than 63 characters');
    if (!QUALIFIED_NAME.test(name)) out.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  }
  return out;
}

/** A label value: empty, or at most 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric. */
export function labelValueProblems(v: string): readonly string[] {
  if (v.length <= 63 && LABEL_VALUE.test(v)) return NONE;
  const out: string[] = [];
  if (v.length > 63) out.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(v)) out.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  return out;
}

/**
 * A named port (IANA_SVC_NAME, RFC 6335): at most 15 characters, lower-case letters, digits and
 * '-', at least one letter, no leading/trailing or doubled '-'.
 */
export function portNameProblems(s: string): readonly string[] {
  if (s.length <= 15 && PORT_NAME.test(s) && HAS_LETTER.test(s)) return NONE;
  const out: string[] = [];
  if (s.length > 15) out.push('must be no more than 15 characters');
  // An empty name has no character at all: the charset rule (and the letter one) is what it breaks.
  if (!/^[-a-z0-9]+$/.test(s)) out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (s.includes('--')) out.push("must not contain consecutive hyphens");
  if (!/[a-z]/.test(s)) out.push('must contain at least one letter (a-z)');
  if (s.startsWith('-') || s.endsWith('-')) out.push('must not begin or end with a hyphen');
  return out;
}
