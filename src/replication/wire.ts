/** Bounds-checked binary reader and writer over Uint8Array. Pure: no node:
 *  modules, so the codec runs in the simulator and in a browser alike.
 *  A read past the end, or a length that lies, throws DecodeError — the
 *  codec turns that into a refused frame, never a crash or a partial change. */

export class DecodeError extends Error {
  override name = 'DecodeError';
}

const textEncoder = new TextEncoder();
/** Strings up to this length are tried as ASCII first (see WireWriter.#utf8At). */
const ASCII_LOOP_LENGTH_MAX = 32;
// ignoreBOM: a leading U+FEFF is data, not a byte-order mark to strip.
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class WireWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(capacity = 256) {
    this.#bytes = new Uint8Array(capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  get length(): number {
    return this.#length;
  }

  u8(value: number): this {
    this.#reserve(1);
    this.#bytes[this.#length++] = value;
    return this;
  }

  u16(value: number): this {
    this.#reserve(2);
    this.#view.setUint16(this.#length, value);
    this.#length += 2;
    return this;
  }

  u32(value: number): this {
    this.#reserve(4);
    this.#view.setUint32(this.#length, value);
    this.#length += 4;
    return this;
  }

  /** A safe integer (timestamps, sequence numbers) as a float64: exact up to 2^53. */
  f64(value: number): this {
    this.#reserve(8);
    this.#view.setFloat64(this.#length, value);
    this.#length += 8;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.#reserve(value.length);
    this.#bytes.set(value, this.#length);
    this.#length += value.length;
    return this;
  }

  /** A string with a u16 byte length (keys, codes, short messages), encoded in place. */
  shortString(value: string): this {
    this.#reserve(2 + value.length * 3);
    const written = this.#utf8At(value, this.#length + 2);
    if (written > 0xffff) throw new RangeError(`string of ${written} bytes exceeds a short string`);
    this.#view.setUint16(this.#length, written);
    this.#length += 2 + written;
    return this;
  }

  /** A string as UTF-8 with a u32 byte length (JSON text), encoded in place. */
  longString(value: string): this {
    this.#reserve(4 + value.length * 3);
    const written = this.#utf8At(value, this.#length + 4);
    this.#view.setUint32(this.#length, written);
    this.#length += 4 + written;
    return this;
  }

  /** Bytes with a u32 length (values, blobs). */
  longBytes(value: Uint8Array): this {
    return this.u32(value.length).bytes(value);
  }

  /** Writes a u32 at `offset` (for length prefixes filled in afterwards). */
  patchU32(offset: number, value: number): void {
    this.#view.setUint32(offset, value);
  }

  /** The written bytes (a view, valid until the next write). */
  finish(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  /**
   * Writes `value` as UTF-8 at `at` (space reserved) and returns the byte count. Short
   * ASCII strings (keys, codes) are copied in a loop: for a few characters that costs a
   * quarter of a subarray plus an encodeInto call, which wins from about 32 on.
   */
  #utf8At(value: string, at: number): number {
    const bytes = this.#bytes;
    const length = value.length;
    if (length <= ASCII_LOOP_LENGTH_MAX) {
      let i = 0;
      for (; i < length; i++) {
        const unit = value.charCodeAt(i);
        if (unit >= 0x80) break;
        bytes[at + i] = unit;
      }
      if (i === length) return length;
    }
    return textEncoder.encodeInto(value, bytes.subarray(at)).written;
  }

  #reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }
}

export class WireReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }


  u8(): number {
    this.#need(1);
    return this.#bytes[this.#offset++]!;
  }

  u16(): number {
    this.#need(2);
    const value = this.#view.getUint16(this.#offset);
    this.#offset += 2;
    return value;
  }

  u32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return value;
  }

  /** A float64 that must hold a non-negative safe integer. */
  safeInteger(what: string): number {
    this.#need(8);
    const value = this.#view.getFloat64(this.#offset);
    this.#offset += 8;
    if (!Number.isSafeInteger(value) || value < 0) throw new DecodeError(`${what} ${value} is not a non-negative safe integer`);
    return value + 0; // -0 becomes 0
  }

  bytes(length: number): Uint8Array {
    this.#need(length);
    const out = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }

  shortString(what: string): string {
    const length = this.u16();
    const bytes = this.bytes(length);
    // Keys and codes are ASCII: build those directly, far cheaper than a TextDecoder call.
    if (length <= 64) {
      let ascii = true;
      for (let i = 0; i < length; i++) if (bytes[i]! >= 0x80) ascii = false;
      if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
    }
    return decodeUtf8(bytes, what);
  }

  longBytes(): Uint8Array {
    return this.bytes(this.u32());
  }

  /** The bytes read from: with `skip`, a field can be checked in place, without a view of its own. */
  get source(): Uint8Array {
    return this.#bytes;
  }

  /** Moves past `length` bytes and returns the offset in `source` where they start. */
  skip(length: number): number {
    this.#need(length);
    const start = this.#offset;
    this.#offset += length;
    return start;
  }

  /** Asserts the whole payload was consumed: trailing bytes mean a malformed message. */
  end(what: string): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.remaining} unexpected trailing bytes after ${what}`);
  }

  #need(count: number): void {
    if (this.#offset + count > this.#bytes.length) {
      throw new DecodeError(`truncated: needed ${count} bytes at offset ${this.#offset}, have ${this.#bytes.length - this.#offset}`);
    }
  }
}

/**
 * Reused by asciiString, one per length (setting an array's length is a runtime call):
 * String.fromCharCode.apply over a plain array is cheaper than over a new subarray.
 */
const charCodesByLength: number[][] = [];
/** Longer strings take a subarray (a key is at most 256 characters). */
const ASCII_REUSED_LENGTH_MAX = 256;

/** The string of `length` bytes at `start`, each byte one character: for bytes known to be ASCII. */
export function asciiString(bytes: Uint8Array, start: number, length: number): string {
  if (length > ASCII_REUSED_LENGTH_MAX) return String.fromCharCode.apply(null, bytes.subarray(start, start + length) as unknown as number[]);
  const charCodes = (charCodesByLength[length] ??= new Array<number>(length).fill(0));
  for (let i = 0; i < length; i++) charCodes[i] = bytes[start + i]!;
  return String.fromCharCode.apply(null, charCodes);
}

export function encodeUtf8(text: string): Uint8Array {
  return textEncoder.encode(text);
}

export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return textDecoder.decode(bytes);
  } catch {
    throw new DecodeError(`${what} is not valid UTF-8`);
  }
}
