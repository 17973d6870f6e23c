/** Validating JSON text as bytes, without building the value: what lets a
 *  value travel from a client through both stores as the bytes it arrived as,
 *  parsed only when someone reads it. Pure. */

import { type JsonValue, utf8Length } from './value.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Node's `Buffer.prototype.latin1Slice`, where there is one (not in a browser):
 * for bytes known to be ASCII, their string at about half the per-call cost of
 * `TextDecoder.decode` (each byte is one character either way). Called on a
 * plain Uint8Array, which it accepts.
 */
const latin1Slice = (globalThis as { Buffer?: { prototype: { latin1Slice?: (this: Uint8Array, start: number, end: number) => string } } }).Buffer?.prototype.latin1Slice;

const NOT_PARSED: unique symbol = Symbol('not parsed');

/**
 * A JSON value held as its text. It is stored, replicated and sent back as
 * that text; `value()` parses it the first time someone needs the value
 * itself. A JS string rather than bytes: strings live on the JS heap and cost
 * far less to allocate and collect than one typed array per value.
 */
export class JsonText {
  /** The parsed value once read; NOT_PARSED until then. One field, not a value and a flag: a store holds millions of these. */
  #parsed: JsonValue | typeof NOT_PARSED = NOT_PARSED;

  /** `byteLength` is the UTF-8 size of `text` (what size limits count). */
  constructor(
    readonly text: string,
    readonly byteLength: number,
  ) {}

  /** JSON text that was validated when it arrived (a store keeps it as a bare string): its UTF-8 size is counted again. */
  static fromValidatedText(text: string): JsonText {
    return new JsonText(text, utf8Length(text));
  }

  /** The value, parsed once and cached. */
  value(): JsonValue {
    let parsed = this.#parsed;
    if (parsed === NOT_PARSED) this.#parsed = parsed = JSON.parse(this.text) as JsonValue;
    return parsed;
  }
}

/** A value as the store and the protocol carry it: parsed, or still as text. */
export type StoredValue = JsonValue | JsonText;

/** The plain value of a stored one (parses JSON text on first use). */
export function plainValue(value: StoredValue): JsonValue {
  return value instanceof JsonText ? value.value() : value;
}

/** The outcome of `validateJsonText`. */
export type JsonTextCheck =
  | { readonly ok: true; readonly depth: number }
  | { readonly ok: false; readonly problem: string };

const TRUE_BYTES = new Uint8Array([0x74, 0x72, 0x75, 0x65]);
const FALSE_BYTES = new Uint8Array([0x66, 0x61, 0x6c, 0x73, 0x65]);
const NULL_BYTES = new Uint8Array([0x6e, 0x75, 0x6c, 0x6c]);

// Character classes of the bytes that matter outside strings.
const WHITESPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WHITESPACE[c] = 1;
/** Bytes a string holds as they are: printable ASCII other than '"' and '\\' (one load per byte, not four comparisons). */
const STRING_PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) if (c !== 0x22 && c !== 0x5c) STRING_PLAIN[c] = 1;

/**
 * Checks that `text` is exactly one JSON value (RFC 8259) in valid UTF-8,
 * nested at most `depthMax` deep, whose numbers all fit a double (a number
 * JSON.parse would turn into Infinity is refused). Guarantees: accepts exactly
 * what `JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(text))`
 * accepts, within those limits; allocates nothing on the way.
 */
export function validateJsonText(text: Uint8Array, depthMax: number): JsonTextCheck {
  const v = new Validator(text, depthMax);
  return v.run();
}

/**
 * What `validateJsonText` finds wrong with `text`, or undefined when it is
 * valid, without allocating: what a decoder calls once per value.
 */
export function jsonTextProblem(text: Uint8Array, depthMax: number): string | undefined {
  const v = reusedValidator(text, depthMax);
  const ok = v.check();
  v.t = EMPTY_BYTES; // holds no caller's buffer
  return ok ? undefined : (v.problem ?? 'not JSON');
}

/** What `jsonTextString` answers for bytes that are not JSON text within the limits. */
export interface JsonTextRefusal {
  readonly problem: string;
}

/**
 * `text` validated as by `jsonTextProblem` and decoded to its string in one
 * step, or what is wrong with it: what a decoder calls once per value it keeps
 * as text. An all-ASCII text (the validator sees every byte) is built without
 * a UTF-8 decoder where Node offers a cheaper way.
 */
export function jsonTextString(text: Uint8Array, depthMax: number): string | JsonTextRefusal {
  const v = reusedValidator(text, depthMax);
  const ok = v.check();
  v.t = EMPTY_BYTES;
  if (!ok) return { problem: v.problem ?? 'not JSON' };
  return v.ascii && latin1Slice !== undefined ? latin1Slice.call(text, 0, text.length) : decoder.decode(text);
}

function reusedValidator(text: Uint8Array, depthMax: number): Validator {
  const v = (reused ??= new Validator(EMPTY_BYTES, 0));
  v.t = text;
  v.depthMax = depthMax;
  v.i = v.depth = v.deepest = 0;
  v.problem = undefined;
  v.ascii = true;
  return v;
}

const EMPTY_BYTES = new Uint8Array(0);
/** The validator jsonTextProblem reuses: validation never calls out, so it is never re-entered. */
let reused: Validator | undefined;

class Validator {
  i = 0;
  depth = 0;
  deepest = 0;
  problem: string | undefined;
  /** No byte at or above 0x80 so far (every such byte goes through utf8()). */
  ascii = true;

  constructor(
    public t: Uint8Array,
    public depthMax: number,
  ) {}

  run(): JsonTextCheck {
    if (!this.check()) return { ok: false, problem: this.problem ?? 'not JSON' };
    return { ok: true, depth: this.deepest };
  }

  /** The whole text is one value, with nothing but whitespace around it. */
  check(): boolean {
    this.skipSpace();
    if (!this.value()) return false;
    this.skipSpace();
    if (this.i !== this.t.length) return this.fail(`unexpected bytes after the value at offset ${this.i}`);
    return true;
  }

  fail(problem: string): false {
    this.problem ??= `${problem} at offset ${this.i}`;
    return false;
  }

  skipSpace(): void {
    while (this.i < this.t.length && WHITESPACE[this.t[this.i]!] === 1) this.i++;
  }

  value(): boolean {
    if (this.i >= this.t.length) return this.fail('value expected');
    const c = this.t[this.i]!;
    if (c === 0x7b) return this.container(0x7d, true);
    if (c === 0x5b) return this.container(0x5d, false);
    if (c === 0x22) return this.string();
    if (c === 0x74) return this.literal(TRUE_BYTES, 'true');
    if (c === 0x66) return this.literal(FALSE_BYTES, 'false');
    if (c === 0x6e) return this.literal(NULL_BYTES, 'null');
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    return this.fail('value expected');
  }

  /**
   * An object or array. The offset lives in a local between calls (`this.i` is synced around
   * `string()` and `value()` and before a failure), and whitespace is skipped inline: this is
   * the validator's busiest function, and a field load and store per byte read showed.
   */
  container(close: number, object: boolean): boolean {
    if (++this.depth > this.depthMax) return this.fail(`nesting deeper than ${this.depthMax}`);
    if (this.depth > this.deepest) this.deepest = this.depth;
    const t = this.t;
    const n = t.length;
    let i = this.i + 1;
    while (i < n && WHITESPACE[t[i]!] === 1) i++;
    if (i < n && t[i] === close) {
      this.i = i + 1;
      this.depth--;
      return true;
    }
    for (;;) {
      if (object) {
        this.i = i;
        if (i >= n || t[i] !== 0x22) return this.fail('object key expected');
        if (!this.string()) return false;
        i = this.i;
        while (i < n && WHITESPACE[t[i]!] === 1) i++;
        if (i >= n || t[i] !== 0x3a) {
          this.i = i;
          return this.fail("':' expected");
        }
        i++;
        while (i < n && WHITESPACE[t[i]!] === 1) i++;
      }
      this.i = i;
      if (!this.value()) return false;
      i = this.i;
      while (i < n && WHITESPACE[t[i]!] === 1) i++;
      const c = i < n ? t[i]! : -1;
      if (c === 0x2c) {
        i++;
        while (i < n && WHITESPACE[t[i]!] === 1) i++;
        continue;
      }
      this.i = i;
      if (c === close) {
        this.i = i + 1;
        this.depth--;
        return true;
      }
      return this.fail(object ? "',' or '}' expected" : "',' or ']' expected");
    }
  }

  literal(bytes: Uint8Array, word: string): boolean {
    const t = this.t;
    const i = this.i;
    for (let k = 0; k < bytes.length; k++) if (t[i + k] !== bytes[k]) return this.fail(`'${word}' expected`);
    this.i = i + bytes.length;
    return true;
  }

  number(): boolean {
    const t = this.t;
    const start = this.i;
    if (t[this.i] === 0x2d) this.i++;
    if (t[this.i] === 0x30) this.i++;
    else if (isDigit(t[this.i])) while (isDigit(t[this.i])) this.i++;
    else return this.fail('digit expected');
    const intDigits = this.i - start;
    if (t[this.i] === 0x2e) {
      this.i++;
      if (!isDigit(t[this.i])) return this.fail('digit expected after the decimal point');
      while (isDigit(t[this.i])) this.i++;
    }
    let exponentDigits = 0;
    if (t[this.i] === 0x65 || t[this.i] === 0x45) {
      this.i++;
      if (t[this.i] === 0x2b || t[this.i] === 0x2d) this.i++;
      if (!isDigit(t[this.i])) return this.fail('digit expected in the exponent');
      while (isDigit(t[this.i])) {
        this.i++;
        exponentDigits++;
      }
    }
    // Only a long integer part or a 3+ digit exponent can overflow a double: check those exactly.
    if (intDigits > 300 || exponentDigits >= 3) {
      let literal = '';
      for (let k = start; k < this.i; k++) literal += String.fromCharCode(t[k]!);
      if (!Number.isFinite(Number(literal))) return this.fail('number beyond the range of a double');
    }
    return true;
  }

  string(): boolean {
    const t = this.t;
    const length = t.length;
    let i = this.i + 1; // past the opening quote
    for (;;) {
      // Printable ASCII other than '"' and '\\' is most of most strings: kept in a local until something else.
      while (i < length && STRING_PLAIN[t[i]!] === 1) i++;
      this.i = i;
      if (i >= length) return this.fail('unterminated string');
      const c = t[i]!;
      if (c === 0x22) {
        this.i = i + 1;
        return true;
      }
      if (c < 0x20) return this.fail('control character in a string');
      if (c === 0x5c) {
        const e = t[i + 1];
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) if (!isHex(t[i + k])) return this.fail('bad \\u escape');
          i += 6;
        } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) i += 2;
        else return this.fail('bad escape');
        continue;
      }
      if (!this.utf8()) return false;
      i = this.i;
    }
  }

  /** One multi-byte UTF-8 sequence, strictly (no overlongs, no surrogates, ≤ U+10FFFF). */
  utf8(): boolean {
    this.ascii = false;
    const t = this.t;
    const c = t[this.i]!;
    let need: number;
    let low = 0x80;
    let high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) low = 0xa0;
      if (c === 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) low = 0x90;
      if (c === 0xf4) high = 0x8f;
    } else return this.fail('invalid UTF-8');
    for (let k = 1; k <= need; k++) {
      const b = t[this.i + k];
      if (b === undefined || b < (k === 1 ? low : 0x80) || b > (k === 1 ? high : 0xbf)) return this.fail('invalid UTF-8');
    }
    this.i += need + 1;
    return true;
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}
