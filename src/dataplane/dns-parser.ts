// DNS answer parser (RFC 1035 section 4) for egress to domain names (issue 16): reads one DNS
// response message and reports the addresses the question name resolves to, following CNAME
// chains. It runs for every DNS answer to a pod that a domainNames policy selects, before the
// pod sees the answer, so:
// - hostile input never throws and never loops: every read is bounds-checked, a compression
//   pointer must point strictly before the label that holds it (so a chain of pointers always
//   moves backward and ends), a name may have at most MAX_NAME_BYTES bytes and MAX_LABELS labels,
//   and follow at most MAX_LABELS pointers (backward-only still lets thousands be stacked in the
//   first 16 KiB, and every comparison of the name would walk them; no encoder needs more
//   pointers than the name has labels); and comparing names, the one step whose cost grows with
//   records x chain names x name length, may take at most MAX_COMPARE_STEPS label and pointer
//   steps per message (a hostile answer of long names equal but for their last label otherwise
//   costs hundreds of normal ones; the largest ordinary answer, a full chain and 120 addresses, needs about 3,000);
// - nothing is allocated except the strings of the names it returns: record offsets go to
//   preallocated typed arrays, names are compared in place in the buffer.
//
// What is learned (and why): only A and AAAA records whose owner is the question name or a name
// the question name reaches through the answer's CNAME records (at most MAX_CHAIN hops). Any
// other record in the answer section (an unrelated name a server slips in) is ignored: the pod
// did not ask for it, so it proves nothing about the names the pod will use. Answers that are not
// NOERROR responses to one IN question are ignored; a malformed message is rejected whole (one
// bad record and the rest cannot be trusted either).
//
// Over MAX_ANSWERS records: the first MAX_ANSWERS are read as above and the rest only framed
// (each owner name up to its first pointer, which must point backward; header, RDLENGTH, A/AAAA
// lengths, a CNAME's RDATA one name the same way) so a message that does not frame is still
// refused whole, at a cost linear in its length; out.leftOut says how many were not read.
// Learning is allow-only (an address not learned stays denied), and the chain is built from the
// records read, so what is learned is a part of what reading all of them would give: refusing
// such an answer whole denied every connection to the name instead.
//
// TTL: the lowest TTL along the chain (a CNAME that expires takes its target's address with it).
// RFC 2181 section 8: a TTL with the top bit set is treated as zero. Clamping is the name store's.

/** Result codes (index into DNS_RESULT_NAMES; counted by the caller). */
export const DNS_RESULT = {
  OK: 0,
  /** Shorter than a header, or a record or name runs past the end. */
  TRUNCATED: 1,
  /** A query, not a response; or not opcode QUERY. */
  NOT_RESPONSE: 2,
  /** RCODE other than NOERROR (NXDOMAIN...): nothing to learn. */
  RCODE: 3,
  /** QDCOUNT other than 1, or a question class other than IN. */
  BAD_QUESTION: 4,
  /** A compression pointer that does not point backward, a reserved label type, a name over 255 bytes or 128 pointers. */
  BAD_NAME: 5,
  /** Names that take more than MAX_COMPARE_STEPS steps to compare. */
  TOO_MANY: 6,
  /** An A record whose RDLENGTH is not 4, AAAA not 16, or a CNAME whose RDATA is not one name. */
  BAD_RDATA: 7,
} as const;
export const DNS_RESULT_NAMES: readonly string[] = ['ok', 'truncated', 'not-response', 'rcode', 'bad-question', 'bad-name', 'too-many', 'bad-rdata'];

/** Answer records read (the rest are framed only): the domainNames proposal (NPEP-133) asks for 100 addresses per name, and a CNAME chain comes with them. */
export const MAX_ANSWERS = 128;
export const MAX_CHAIN = 8;
/** Label and pointer steps all name comparisons of one message may take together. */
const MAX_COMPARE_STEPS = 16384;
const MAX_NAME_BYTES = 255;
const MAX_LABELS = 128;
/** Lower-case host names as DomainName allows them (letters, digits, "-", "_"), at least one label. */
const HOST_NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const TYPE_A = 1, TYPE_CNAME = 5, TYPE_AAAA = 28, CLASS_IN = 1;

/**
 * The parser's reusable output. After a successful parse: `count` addresses, address i in
 * family[i] (4 or 6) and words[4i..4i+3] (IPv4: words[4i] only), its TTL in ttl[i] (seconds),
 * and `names` the question name then each CNAME target in chain order (lower case, no trailing
 * dot); every address belongs to the last name of the chain it was found at, and to all before it.
 */
export class DnsAnswer {
  result = 0;
  /** Question id (for logs). */
  id = 0;
  count = 0;
  /** Answer records past MAX_ANSWERS: framed, not read (see the header). */
  leftOut = 0;
  readonly family = new Uint8Array(MAX_ANSWERS);
  readonly words = new Int32Array(MAX_ANSWERS * 4);
  readonly ttl = new Uint32Array(MAX_ANSWERS);
  names: string[] = [];
  // Scratch: per answer record, the owner name offset, type, ttl, rdata offset and length.
  readonly rrName = new Int32Array(MAX_ANSWERS);
  readonly rrType = new Int32Array(MAX_ANSWERS);
  readonly rrTtl = new Uint32Array(MAX_ANSWERS);
  readonly rrData = new Int32Array(MAX_ANSWERS);
  readonly rrLen = new Int32Array(MAX_ANSWERS);
  /** Per address: the index in `names` of the name that owns it (it is also every name before). */
  readonly owner = new Uint8Array(MAX_ANSWERS);
  /** Name offsets of the chain (question name first), and the lowest CNAME TTL on the way to each. */
  readonly chain = new Int32Array(MAX_CHAIN + 1);
  readonly chainTtl = new Uint32Array(MAX_CHAIN + 1);
  chainLen = 0;
  /** Comparison steps left for this message (MAX_COMPARE_STEPS at the start of each parse). */
  budget = 0;
}

/**
 * Skips the name at `pos` (the message starts at `base`, ends at `end`): returns the offset just
 * past it in the record, or -1 when it is malformed. Follows pointers only to validate them;
 * `frameOnly` (records past MAX_ANSWERS) stops at the first pointer, once it points backward.
 */
function skipName(buf: Uint8Array, base: number, end: number, pos: number, frameOnly = false): number {
  let after = -1;
  let p = pos;
  // The root's zero octet counts too: 255 is the whole name on the wire (RFC 1035 3.1).
  let bytes = 1;
  let labels = 0;
  let jumps = 0;
  for (;;) {
    if (p >= end) return -1;
    const len = buf[p]!;
    if (len === 0) return after < 0 ? p + 1 : after;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= end || ++jumps > MAX_LABELS) return -1;
      const target = base + (((len & 0x3f) << 8) | buf[p + 1]!);
      // Loop protection: a pointer must point strictly before itself, so each jump moves toward
      // the start of the message and a chain of them ends.
      if (target >= p) return -1;
      if (after < 0) after = p + 2;
      if (frameOnly) return after;
      p = target;
      continue;
    }
    if (kind !== 0) return -1; // 0x40 and 0x80: reserved / obsolete label types.
    bytes += len + 1;
    if (bytes > MAX_NAME_BYTES || ++labels > MAX_LABELS) return -1;
    if (p + 1 + len > end) return -1;
    p += 1 + len;
  }
}

/** Offset of the next label's length byte at p, following pointers (the name was validated by skipName). */
function follow(buf: Uint8Array, base: number, p: number): number {
  while ((buf[p]! & 0xc0) === 0xc0) p = base + (((buf[p]! & 0x3f) << 8) | buf[p + 1]!);
  return p;
}

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/**
 * Are the (validated) names at a and b equal, ignoring ASCII case (RFC 4343)? Each label and
 * pointer step is taken from out.budget; once it is spent the answer is false (the caller checks).
 */
function nameEquals(buf: Uint8Array, base: number, a: number, b: number, out: DnsAnswer): boolean {
  if (out.budget < 0) return false;
  for (;;) {
    while ((buf[a]! & 0xc0) === 0xc0) { a = base + (((buf[a]! & 0x3f) << 8) | buf[a + 1]!); out.budget--; }
    while ((buf[b]! & 0xc0) === 0xc0) { b = base + (((buf[b]! & 0x3f) << 8) | buf[b + 1]!); out.budget--; }
    if (--out.budget < 0) return false;
    if (a === b) return true;
    const la = buf[a]!, lb = buf[b]!;
    if (la !== lb) return false;
    if (la === 0) return true;
    for (let i = 1; i <= la; i++) if (lower(buf[a + i]!) !== lower(buf[b + i]!)) return false;
    a += la + 1;
    b += lb + 1;
  }
}

/** The (validated) name at p as text: lower case, labels joined by ".", no trailing dot ("" for the root, or a label holding a "."). */
export function nameText(buf: Uint8Array, base: number, p: number): string {
  let s = '';
  for (;;) {
    p = follow(buf, base, p);
    const len = buf[p]!;
    if (len === 0) return s;
    if (s.length > 0) s += '.';
    for (let i = 1; i <= len; i++) {
      const c = buf[p + i]!;
      // A "." inside a label would read as a label boundary ("n.t" as "n" + "t"): no such name
      // is ever returned ("" fails the caller's host name check).
      if (c === 0x2e) return '';
      s += String.fromCharCode(lower(c));
    }
    p += len + 1;
  }
}

function u16(buf: Uint8Array, p: number): number {
  return (buf[p]! << 8) | buf[p + 1]!;
}

function u32(buf: Uint8Array, p: number): number {
  return ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
}

function fail(out: DnsAnswer, code: number): number {
  out.result = code;
  out.count = 0;
  out.leftOut = 0;
  out.names = [];
  return code;
}

/**
 * Parses the DNS message at buf[off, off+len) into `out`. Returns out.result (DNS_RESULT.OK when
 * it parsed; out.count may still be 0: an answer with no address for the name).
 */
export function parseDnsAnswer(buf: Uint8Array, off: number, len: number, out: DnsAnswer): number {
  out.count = 0;
  out.leftOut = 0;
  out.chainLen = 0;
  out.budget = MAX_COMPARE_STEPS;
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) return fail(out, DNS_RESULT.TRUNCATED);
  const base = off, end = off + len;
  if (len < 12) return fail(out, DNS_RESULT.TRUNCATED);
  out.id = u16(buf, base);
  const flags = u16(buf, base + 2);
  // QR must be set (a response) and the opcode QUERY (0).
  if ((flags & 0x8000) === 0 || (flags & 0x7800) !== 0) return fail(out, DNS_RESULT.NOT_RESPONSE);
  if ((flags & 0x000f) !== 0) return fail(out, DNS_RESULT.RCODE);
  const qd = u16(buf, base + 4), ancount = u16(buf, base + 6);
  if (qd !== 1) return fail(out, DNS_RESULT.BAD_QUESTION);
  // The records read; the others are framed only (see the header).
  const an = Math.min(ancount, MAX_ANSWERS);
  const qname = base + 12;
  let p = skipName(buf, base, end, qname);
  if (p < 0) return fail(out, DNS_RESULT.BAD_NAME);
  if (p + 4 > end) return fail(out, DNS_RESULT.TRUNCATED);
  if (u16(buf, p + 2) !== CLASS_IN) return fail(out, DNS_RESULT.BAD_QUESTION);
  p += 4;
  for (let i = 0; i < ancount; i++) {
    const name = p;
    const read = i < an;
    p = skipName(buf, base, end, p, !read);
    if (p < 0) return fail(out, DNS_RESULT.BAD_NAME);
    if (p + 10 > end) return fail(out, DNS_RESULT.TRUNCATED);
    const type = u16(buf, p), cls = u16(buf, p + 2), ttl = u32(buf, p + 4), rdlen = u16(buf, p + 8);
    p += 10;
    if (p + rdlen > end) return fail(out, DNS_RESULT.TRUNCATED);
    if (cls === CLASS_IN) {
      if ((type === TYPE_A && rdlen !== 4) || (type === TYPE_AAAA && rdlen !== 16)) return fail(out, DNS_RESULT.BAD_RDATA);
      // A CNAME's RDATA is exactly one name (it may point back into the message).
      if (type === TYPE_CNAME && skipName(buf, base, p + rdlen, p, !read) !== p + rdlen) return fail(out, DNS_RESULT.BAD_RDATA);
    }
    if (!read) {
      p += rdlen;
      continue;
    }
    out.rrName[i] = name;
    out.rrType[i] = cls === CLASS_IN ? type : 0;
    // RFC 2181 section 8: a TTL with the most significant bit set is treated as zero.
    out.rrTtl[i] = ttl >= 0x80000000 ? 0 : ttl;
    out.rrData[i] = p;
    out.rrLen[i] = rdlen;
    p += rdlen;
  }
  // The chain: the question name, then each CNAME target from the current name (at most MAX_CHAIN;
  // a CNAME loop stops there too).
  const chain = out.chain;
  chain[0] = qname;
  out.chainTtl[0] = 0xffffffff;
  let n = 1;
  for (; n <= MAX_CHAIN; n++) {
    let next = -1;
    for (let i = 0; i < an; i++) {
      if (out.rrType[i] === TYPE_CNAME && nameEquals(buf, base, out.rrName[i]!, chain[n - 1]!, out)) { next = i; break; }
    }
    if (out.budget < 0) return fail(out, DNS_RESULT.TOO_MANY);
    if (next < 0) break;
    chain[n] = out.rrData[next]!;
    out.chainTtl[n] = Math.min(out.chainTtl[n - 1]!, out.rrTtl[next]!);
  }
  out.chainLen = n;
  // Addresses owned by any name of the chain, each with the lowest TTL of the links that lead to it.
  let count = 0;
  for (let i = 0; i < an; i++) {
    const t = out.rrType[i]!;
    if (t !== TYPE_A && t !== TYPE_AAAA) continue;
    let at = -1;
    for (let c = 0; c < n; c++) if (nameEquals(buf, base, out.rrName[i]!, chain[c]!, out)) { at = c; break; }
    if (out.budget < 0) return fail(out, DNS_RESULT.TOO_MANY);
    if (at < 0) continue;
    const d = out.rrData[i]!;
    const w = count * 4;
    if (t === TYPE_A) {
      out.family[count] = 4;
      out.words[w] = u32(buf, d) | 0;
      out.words[w + 1] = 0; out.words[w + 2] = 0; out.words[w + 3] = 0;
    } else {
      out.family[count] = 6;
      for (let k = 0; k < 4; k++) out.words[w + k] = u32(buf, d + 4 * k) | 0;
    }
    // Only the links that lead to the owning name count.
    out.ttl[count] = Math.min(out.rrTtl[i]!, out.chainTtl[at]!);
    out.owner[count] = at;
    count++;
  }
  out.count = count;
  out.leftOut = ancount - an;
  out.result = DNS_RESULT.OK;
  // Strings only when there is something to learn (the one allocation: the names it returns).
  if (count > 0) {
    const names: string[] = [];
    for (let c = 0; c < n; c++) {
      const t = nameText(buf, base, chain[c]!);
      // A label holding a "." (or any byte a host name cannot have) would read as other labels.
      if (!HOST_NAME.test(t)) return fail(out, DNS_RESULT.BAD_NAME);
      names.push(t);
    }
    out.names = names;
  } else {
    out.names = [];
  }
  return DNS_RESULT.OK;
}
