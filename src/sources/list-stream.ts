// A list response read as it streams in: each element of its top-level `items` array is cut out
// and parsed on its own, the rest of the object (kind, apiVersion, metadata) is parsed at the end.
//
// Why not JSON.parse of the whole body: the agent's first list of a resource asks for
// resourceVersion=0, which kube-apiserver serves from its watch cache, and the watch cache has
// long ignored `limit` there (client-go's reflector documents it: "the watch cache ... returns the
// full list regardless of the limit"): every pod of the cluster comes in one response. At
// Kubernetes' published limit (150,000 pods, several KB of JSON each) that body is past V8's
// largest string (2^29 - 24 characters), so reading it as text fails every time, and below that
// it still holds the whole text and its parse at once. Cut per item, the peak is one item's text
// plus the batch being decoded, whatever the list's size.
//
// The scan is byte by byte over the UTF-8 body: only `"`, `\`, brackets and braces matter, all
// ASCII, so a multi-byte character (never containing those bytes) needs no decoding until its
// item is parsed, and a chunk boundary may fall anywhere, inside a character included.
//
// Every element is handed over as parsed, whatever its JSON type: which ones are usable objects
// is the caller's to say, per element (an element that is not JSON is a response that is not JSON,
// and fails the list).

/** What a finished list holds besides its items. */
export interface ListFrame {
  readonly kind?: unknown;
  readonly apiVersion?: unknown;
  readonly metadata?: { readonly resourceVersion?: unknown; readonly continue?: unknown };
}

const QUOTE = 0x22, BACKSLASH = 0x5c, OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d, OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d, COMMA = 0x2c;
const ITEMS = 'items';

export class ListStream {
  /** Nesting depth of the byte being read (the list object itself is depth 1). */
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** At depth 1, the next string is a key. */
  private expectKey = false;
  /** The key being read at depth 1 (only its bytes up to "items"' length matter). */
  private keyBytes: number[] | undefined;
  private lastKey = '';
  /** Inside the items array (its elements are at depth 2). */
  private inItems = false;
  private itemsSeen = false;
  /** The current item's bytes from earlier chunks. */
  private pending: Uint8Array[] = [];
  private inItem = false;
  /** The list object's bytes without its items' contents (copies: small). */
  private readonly frame: Uint8Array[] = [];
  private batch: unknown[] = [];
  private done = false;

  /**
   * `onItems` gets the parsed items in batches of up to `batchSize`, in order; the caller may
   * keep or drop them. `what` names the response in errors ("list /api/v1/pods").
   */
  constructor(private readonly onItems: (items: unknown[]) => void, private readonly batchSize: number, private readonly what: string) {}

  /** The next bytes of the body. */
  push(chunk: Uint8Array): void {
    if (this.done) {
      for (let j = 0; j < chunk.length; j++) if (!isSpace(chunk[j]!)) throw new Error(`${this.what}: data after the end of the list`);
      return;
    }
    let frameFrom = this.inItems ? -1 : 0;
    let itemFrom = this.inItem ? 0 : -1;
    let depth = this.depth, inString = this.inString, escaped = this.escaped;
    let inKey = this.keyBytes !== undefined;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const b = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) {
          inString = false;
          if (inKey) {
            this.lastKey = String.fromCharCode(...this.keyBytes!);
            this.keyBytes = undefined;
            inKey = false;
          }
        } else if (inKey && this.keyBytes!.length <= ITEMS.length) this.keyBytes!.push(b);
        continue;
      }
      // An element of items starts: an object (the usual), or any other JSON value, which is handed
      // over too: one element a client cannot use must not fail the whole list (the caller skips
      // it and says so). A value that is not an object or array ends at the next comma or "]".
      if (depth === 2 && this.inItems && !this.inItem && b !== COMMA && b !== CLOSE_BRACKET && !isSpace(b)) {
        this.inItem = true;
        itemFrom = i;
      }
      if (b === QUOTE) {
        inString = true;
        if (depth === 1 && this.expectKey) {
          this.keyBytes = [];
          inKey = true;
          this.expectKey = false;
        }
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        depth++;
        if (depth === 1) {
          if (b !== OPEN_BRACE) throw new Error(`${this.what}: the response is not a JSON object`);
          this.expectKey = true;
        } else if (depth === 2 && b === OPEN_BRACKET && this.lastKey === ITEMS && !this.itemsSeen) {
          // The items array opens: the frame keeps "[" and skips to its "]".
          this.frame.push(chunk.slice(frameFrom, i + 1));
          frameFrom = -1;
          this.inItems = true;
          this.itemsSeen = true;
        }
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        depth--;
        if (depth < 0) throw new Error(`${this.what}: the response is not JSON (unbalanced ${String.fromCharCode(b)})`);
        if (depth === 2 && this.inItem) {
          this.item(chunk, itemFrom, i + 1);
          itemFrom = -1;
        } else if (depth === 1 && this.inItems) {
          if (this.inItem) this.item(chunk, itemFrom, i);
          itemFrom = -1;
          this.inItems = false;
          frameFrom = i;
        } else if (depth === 0) {
          this.done = true;
          if (frameFrom >= 0) this.frame.push(chunk.slice(frameFrom, i + 1));
          frameFrom = -1;
          for (let j = i + 1; j < n; j++) if (!isSpace(chunk[j]!)) throw new Error(`${this.what}: data after the end of the list`);
          break;
        }
      } else if (b === COMMA && depth === 1) this.expectKey = true;
      else if (b === COMMA && depth === 2 && this.inItem) {
        this.item(chunk, itemFrom, i);
        itemFrom = -1;
      }
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    if (frameFrom >= 0 && !this.done) this.frame.push(chunk.slice(frameFrom));
    if (itemFrom >= 0) this.pending.push(chunk.subarray(itemFrom));
  }

  /**
   * The body ended: the frame, parsed, and the items not handed over yet (fewer than a batch; the
   * caller delivers them, e.g. after asking for the next page).
   */
  end(): { frame: ListFrame; rest: unknown[] } {
    if (!this.done) throw new Error(`${this.what}: the response ended before the list did`);
    let frame: unknown;
    try {
      frame = JSON.parse(Buffer.concat(this.frame).toString('utf8'));
    } catch {
      throw new Error(`${this.what}: the response is not JSON`);
    }
    if (typeof frame !== 'object' || frame === null || !this.itemsSeen) throw new Error(`${this.what}: response has no items list`);
    const rest = this.batch;
    this.batch = [];
    return { frame: frame as ListFrame, rest };
  }

  private item(chunk: Uint8Array, from: number, to: number): void {
    this.inItem = false;
    const last = chunk.subarray(from, to);
    const bytes = this.pending.length === 0 ? last : Buffer.concat([...this.pending, last]);
    this.pending = [];
    let o: unknown;
    try {
      o = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    } catch {
      throw new Error(`${this.what}: an element of items is not JSON`);
    }
    this.batch.push(o);
    if (this.batch.length >= this.batchSize) {
      const b = this.batch;
      this.batch = [];
      this.onItems(b);
    }
  }
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}
