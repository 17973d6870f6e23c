/** The confstate binary protocol: message types and their encoding. Pure.
 *  This file does not know which role we play or what a connection is.
 *
 *  Frame = u32 big-endian body length, then the body: u8 message type and its
 *  fields. Integers are big-endian; timestamps and sequence numbers travel as
 *  float64 holding a safe integer; strings carry a u16 byte length, values a
 *  u32 byte length of UTF-8 JSON text. docs/PROTOCOL.md has the table. */

import { NODE_ID_MAX, type Timestamp } from '../core/clock.ts';
import { checkKey, isKeyBytes } from '../core/keys.ts';
import { type JsonValue, VALUE_DEPTH_MAX, checkValue, scanJsonText } from '../core/value.ts';
import { JsonText, type StoredValue, jsonTextString } from '../core/json-text.ts';
import { DecodeError, WireReader, WireWriter, asciiString, decodeUtf8 } from './wire.ts';

export const PROTOCOL_VERSION = 2;
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** Bytes of the length prefix in front of every frame body. */
export const FRAME_HEADER_BYTES = 4;

export type Role = 'primary' | 'secondary' | 'client';
const ROLES: readonly Role[] = ['primary', 'secondary', 'client'];

/** One element on the wire: a replicated unit, a snapshot entry or a repair. */
export interface WireElement {
  readonly key: string;
  readonly ts: Timestamp;
  readonly deleted: boolean;
  /** JSON text (from a lazy decode or the store) is sent as is, never re-encoded. */
  readonly value: StoredValue;
}

export interface WireKeyTs {
  readonly key: string;
  readonly ts: Timestamp;
}

export type Message =
  | {
      readonly type: 'hello';
      readonly version: number;
      readonly role: Role;
      readonly nodeId: number;
      readonly epoch: number;
      readonly nonce: Uint8Array;
    }
  | { readonly type: 'auth'; readonly proof: Uint8Array }
  | { readonly type: 'welcome'; readonly role: Role; readonly epoch: number; readonly digestLeafBits: number; readonly digestFanoutBits: number }
  | { readonly type: 'refuse'; readonly code: string; readonly message: string }
  | { readonly type: 'replicate'; readonly firstSeq: number; readonly elements: readonly WireElement[] }
  | { readonly type: 'ack'; readonly seq: number }
  | { readonly type: 'heartbeat'; readonly epoch: number; readonly seq: number }
  /**
   * Tombstone collection, sequenced like `replicate` (entry i has seq firstSeq + i): remove each
   * key held at exactly that ts; collectedTsMax rises to the largest listed ts.
   */
  | { readonly type: 'collect'; readonly firstSeq: number; readonly entries: readonly WireKeyTs[] }
  /** collectedTsMax: the secondary's bound for writes to missing keys (element-store.ts), which the primary adopts if higher. */
  | { readonly type: 'sync_state'; readonly elementCount: number; readonly rootLow: number; readonly rootHigh: number; readonly collectedTsMax: number }
  /** Catch-up and repair elements: laid out like `replicate`, kept apart so logs and tests can tell them from live units. */
  | { readonly type: 'snapshot'; readonly firstSeq: number; readonly elements: readonly WireElement[] }
  | { readonly type: 'digest_request'; readonly requestId: number; readonly level: number; readonly indexes: readonly number[] }
  | { readonly type: 'digest_response'; readonly requestId: number; readonly hashes: Uint32Array }
  | { readonly type: 'bucket_request'; readonly requestId: number; readonly buckets: readonly number[] }
  /** The pairs of the first `answered` requested buckets (fewer than asked when a frame would overflow). */
  | { readonly type: 'bucket_response'; readonly requestId: number; readonly answered: number; readonly pairs: readonly WireKeyTs[] }
  | { readonly type: 'fetch_request'; readonly requestId: number; readonly keys: readonly string[] }
  | { readonly type: 'fetch_response'; readonly requestId: number; readonly elements: readonly WireElement[] }
  /** collectedTsMax: the primary's bound, which the secondary adopts, so both judge writes to missing keys alike. */
  | { readonly type: 'sync_done'; readonly repaired: number; readonly collectedTsMax: number }
  | {
      readonly type: 'update';
      readonly requestId: number;
      readonly key: string;
      /** 0: the primary assigns one. */
      readonly ts: Timestamp;
      readonly deleted: boolean;
      readonly value: StoredValue;
    }
  | {
      readonly type: 'result';
      readonly requestId: number;
      readonly code: string;
      /** applied: the element's new ts; stale: its current ts; else 0. */
      readonly ts: Timestamp;
      readonly detail: string;
    }
  | { readonly type: 'get'; readonly requestId: number; readonly key: string }
  | {
      readonly type: 'value';
      readonly requestId: number;
      readonly found: boolean;
      readonly ts: Timestamp;
      readonly deleted: boolean;
      readonly value: StoredValue;
    }
  | { readonly type: 'check_request'; readonly requestId: number; readonly repair: boolean }
  /** Test hook (secondary started with test hooks only): set an element on that node alone. */
  | { readonly type: 'test_corrupt'; readonly requestId: number; readonly key: string; readonly ts: Timestamp; readonly value: StoredValue }
  | {
      readonly type: 'check_result';
      readonly requestId: number;
      readonly inSync: boolean;
      readonly repaired: number;
      readonly differences: readonly { readonly key: string; readonly primaryTs: Timestamp; readonly secondaryTs: Timestamp }[];
    };

export type MessageType = Message['type'];

const TYPE_CODES: Record<MessageType, number> = {
  hello: 1,
  auth: 2,
  welcome: 3,
  refuse: 4,
  replicate: 10,
  ack: 11,
  heartbeat: 12,
  collect: 13,
  sync_state: 20,
  snapshot: 21,
  digest_request: 22,
  digest_response: 23,
  bucket_request: 24,
  bucket_response: 25,
  fetch_request: 26,
  fetch_response: 27,
  sync_done: 28,
  update: 40,
  result: 41,
  get: 42,
  value: 43,
  check_request: 50,
  check_result: 51,
  test_corrupt: 90,
};
const TYPES_BY_CODE = new Map<number, MessageType>(Object.entries(TYPE_CODES).map(([name, code]) => [code, name as MessageType]));

/** Most items in one list field (elements, indexes, pairs): bounds decoder allocation. */
export const LIST_LENGTH_MAX = 1 << 20;

/** Encodes `message` as one whole frame: length prefix and body. */
export function encodeFrame(message: Message): Uint8Array {
  const writer = new WireWriter();
  appendFrame(message, writer);
  return writer.finish();
}

/** Appends `message` as one whole frame to `writer`: many frames can share one buffer and one write. */
export function appendFrame(message: Message, writer: WireWriter): void {
  const start = writer.length;
  writer.u32(0).u8(TYPE_CODES[message.type]);
  encodeBody(message, writer);
  writer.patchU32(start, writer.length - start - FRAME_HEADER_BYTES);
}

function encodeBody(m: Message, w: WireWriter): void {
  switch (m.type) {
    case 'hello':
      w.u16(m.version).u8(ROLES.indexOf(m.role)).u8(m.nodeId).f64(m.epoch).bytes(fixed(m.nonce, NONCE_BYTES, 'nonce'));
      return;
    case 'auth':
      w.bytes(fixed(m.proof, PROOF_BYTES, 'proof'));
      return;
    case 'welcome':
      w.u8(ROLES.indexOf(m.role)).f64(m.epoch).u8(m.digestLeafBits).u8(m.digestFanoutBits);
      return;
    case 'refuse':
      w.shortString(m.code).shortString(m.message);
      return;
    case 'replicate':
      w.f64(m.firstSeq);
      writeElements(w, m.elements);
      return;
    case 'ack':
      w.f64(m.seq);
      return;
    case 'heartbeat':
      w.f64(m.epoch).f64(m.seq);
      return;
    case 'collect':
      w.f64(m.firstSeq).u32(m.entries.length);
      for (const entry of m.entries) w.shortString(entry.key).f64(entry.ts);
      return;
    case 'sync_state':
      w.f64(m.elementCount).u32(m.rootLow).u32(m.rootHigh).f64(m.collectedTsMax);
      return;
    case 'snapshot':
      w.f64(m.firstSeq);
      writeElements(w, m.elements);
      return;
    case 'digest_request':
      w.u32(m.requestId).u8(m.level);
      writeU32List(w, m.indexes);
      return;
    case 'digest_response':
      w.u32(m.requestId);
      writeU32List(w, m.hashes);
      return;
    case 'bucket_request':
      w.u32(m.requestId);
      writeU32List(w, m.buckets);
      return;
    case 'bucket_response':
      w.u32(m.requestId).u32(m.answered).u32(m.pairs.length);
      for (const pair of m.pairs) w.shortString(pair.key).f64(pair.ts);
      return;
    case 'fetch_request':
      w.u32(m.requestId).u32(m.keys.length);
      for (const key of m.keys) w.shortString(key);
      return;
    case 'fetch_response':
      w.u32(m.requestId);
      writeElements(w, m.elements);
      return;
    case 'sync_done':
      w.f64(m.repaired).f64(m.collectedTsMax);
      return;
    case 'update':
      w.u32(m.requestId).shortString(m.key).f64(m.ts).u8(m.deleted ? 1 : 0);
      writeValue(w, m.deleted ? undefined : m.value);
      return;
    case 'result':
      w.u32(m.requestId).shortString(m.code).f64(m.ts).shortString(m.detail);
      return;
    case 'get':
      w.u32(m.requestId).shortString(m.key);
      return;
    case 'value':
      w.u32(m.requestId).u8((m.found ? 1 : 0) | (m.deleted ? 2 : 0)).f64(m.ts);
      writeValue(w, m.found && !m.deleted ? m.value : undefined);
      return;
    case 'check_request':
      w.u32(m.requestId).u8(m.repair ? 1 : 0);
      return;
    case 'test_corrupt':
      w.u32(m.requestId).shortString(m.key).f64(m.ts);
      writeValue(w, m.value);
      return;
    case 'check_result':
      w.u32(m.requestId).u8(m.inSync ? 1 : 0).f64(m.repaired).u32(m.differences.length);
      for (const d of m.differences) w.shortString(d.key).f64(d.primaryTs).f64(d.secondaryTs);
      return;
  }
}

const EMPTY = new Uint8Array(0);

function fixed(bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`);
  return bytes;
}

function writeElements(w: WireWriter, elements: readonly WireElement[]): void {
  w.u32(elements.length);
  for (const e of elements) {
    w.shortString(e.key).f64(e.ts).u8(e.deleted ? 1 : 0);
    writeValue(w, e.deleted ? undefined : e.value);
  }
}

/** A value as u32-length-prefixed JSON text; undefined (deleted, missing) as empty. */
function writeValue(w: WireWriter, value: StoredValue | undefined): void {
  if (value === undefined) w.longBytes(EMPTY);
  else if (value instanceof JsonText) w.longString(value.text);
  else w.longString(JSON.stringify(value));
}

function writeU32List(w: WireWriter, list: ArrayLike<number>): void {
  w.u32(list.length);
  for (let i = 0; i < list.length; i++) w.u32(list[i]!);
}

/**
 * Decodes one frame body (without its length prefix). Throws DecodeError,
 * naming the problem, for an unknown type, a truncated or over-long body, a
 * bad key, malformed JSON, or a count beyond LIST_LENGTH_MAX.
 */
export function decodeBody(body: Uint8Array, options: DecodeOptions = EAGER): Message {
  const r = new WireReader(body);
  const code = r.u8();
  const type = TYPES_BY_CODE.get(code);
  if (type === undefined) throw new DecodeError(`unknown message type ${code}`);
  const message = decodeFields(type, r, options.lazyValues);
  r.end(type);
  return message;
}

export interface DecodeOptions {
  /**
   * Keep values as validated JSON text (JsonText) instead of parsing them:
   * what the nodes do, so a value is parsed only if someone reads it. The same
   * inputs are refused either way.
   */
  readonly lazyValues: boolean;
}

const EAGER: DecodeOptions = { lazyValues: false };

function decodeFields(type: MessageType, r: WireReader, lazy: boolean): Message {
  switch (type) {
    case 'hello': {
      const version = r.u16();
      const role = readRole(r);
      const nodeId = r.u8();
      if (nodeId > NODE_ID_MAX) throw new DecodeError(`node id ${nodeId} is outside 0..${NODE_ID_MAX}`);
      return { type, version, role, nodeId, epoch: r.safeInteger('epoch'), nonce: r.bytes(NONCE_BYTES).slice() };
    }
    case 'auth':
      return { type, proof: r.bytes(PROOF_BYTES).slice() };
    case 'welcome':
      return { type, role: readRole(r), epoch: r.safeInteger('epoch'), digestLeafBits: r.u8(), digestFanoutBits: r.u8() };
    case 'refuse':
      return { type, code: r.shortString('code'), message: r.shortString('message') };
    case 'replicate':
      return { type, firstSeq: r.safeInteger('firstSeq'), elements: readElements(r, lazy) };
    case 'ack':
      return { type, seq: r.safeInteger('seq') };
    case 'heartbeat':
      return { type, epoch: r.safeInteger('epoch'), seq: r.safeInteger('seq') };
    case 'collect': {
      const firstSeq = r.safeInteger('firstSeq');
      return { type, firstSeq, entries: readPairs(r) };
    }
    case 'sync_state':
      return { type, elementCount: r.safeInteger('elementCount'), rootLow: r.u32(), rootHigh: r.u32(), collectedTsMax: r.safeInteger('collectedTsMax') };
    case 'snapshot':
      return { type, firstSeq: r.safeInteger('firstSeq'), elements: readElements(r, lazy) };
    case 'digest_request':
      return { type, requestId: r.u32(), level: r.u8(), indexes: readU32List(r) };
    case 'digest_response':
      return { type, requestId: r.u32(), hashes: Uint32Array.from(readU32List(r)) };
    case 'bucket_request':
      return { type, requestId: r.u32(), buckets: readU32List(r) };
    case 'bucket_response': {
      const requestId = r.u32();
      const answered = r.u32();
      return { type, requestId, answered, pairs: readPairs(r) };
    }
    case 'fetch_request': {
      const requestId = r.u32();
      const keys: string[] = [];
      for (let i = 0, n = readCount(r); i < n; i++) keys.push(readKey(r));
      return { type, requestId, keys };
    }
    case 'fetch_response':
      return { type, requestId: r.u32(), elements: readElements(r, lazy) };
    case 'sync_done':
      return { type, repaired: r.safeInteger('repaired'), collectedTsMax: r.safeInteger('collectedTsMax') };
    case 'update': {
      const requestId = r.u32();
      const key = readKey(r);
      const ts = r.safeInteger('ts');
      const deleted = readFlag(r, 'deleted');
      const value = readValue(r, deleted, lazy);
      return { type, requestId, key, ts, deleted, value };
    }
    case 'result':
      return { type, requestId: r.u32(), code: r.shortString('code'), ts: r.safeInteger('ts'), detail: r.shortString('detail') };
    case 'get':
      return { type, requestId: r.u32(), key: readKey(r) };
    case 'value': {
      const requestId = r.u32();
      const flags = r.u8();
      if (flags > 3) throw new DecodeError(`value flags ${flags} are not 0..3`);
      const ts = r.safeInteger('ts');
      const found = (flags & 1) === 1;
      const deleted = (flags & 2) === 2;
      return { type, requestId, found, deleted, ts, value: readValue(r, !found || deleted, lazy) };
    }
    case 'check_request':
      return { type, requestId: r.u32(), repair: readFlag(r, 'repair') };
    case 'test_corrupt':
      return { type, requestId: r.u32(), key: readKey(r), ts: r.safeInteger('ts'), value: readValue(r, false, lazy) };
    case 'check_result': {
      const requestId = r.u32();
      const inSync = readFlag(r, 'inSync');
      const repaired = r.safeInteger('repaired');
      const differences: { key: string; primaryTs: number; secondaryTs: number }[] = [];
      for (let i = 0, n = readCount(r); i < n; i++) {
        differences.push({ key: readKey(r), primaryTs: r.safeInteger('primaryTs'), secondaryTs: r.safeInteger('secondaryTs') });
      }
      return { type, requestId, inSync, repaired, differences };
    }
  }
}

function readRole(r: WireReader): Role {
  const code = r.u8();
  const role = ROLES[code];
  if (role === undefined) throw new DecodeError(`role ${code} is not one of 0..${ROLES.length - 1}`);
  return role;
}

function readFlag(r: WireReader, what: string): boolean {
  const flag = r.u8();
  if (flag > 1) throw new DecodeError(`${what} flag ${flag} is not 0 or 1`);
  return flag === 1;
}

function readCount(r: WireReader): number {
  const count = r.u32();
  if (count > LIST_LENGTH_MAX) throw new DecodeError(`list of ${count} items exceeds ${LIST_LENGTH_MAX}`);
  // Each item takes at least one byte: a count beyond the body is a lie.
  if (count > r.remaining) throw new DecodeError(`list of ${count} items cannot fit in ${r.remaining} bytes`);
  return count;
}

function readPairs(r: WireReader): WireKeyTs[] {
  const pairs: WireKeyTs[] = [];
  for (let i = 0, n = readCount(r); i < n; i++) pairs.push({ key: readKey(r), ts: r.safeInteger('ts') });
  return pairs;
}

function readU32List(r: WireReader): number[] {
  const out: number[] = [];
  for (let i = 0, n = readCount(r); i < n; i++) out.push(r.u32());
  return out;
}

function readKey(r: WireReader): string {
  const length = r.u16();
  const start = r.skip(length);
  // Checked on the bytes (every valid key is ASCII), then built without a view or a regular expression.
  if (isKeyBytes(r.source, start, length)) return asciiString(r.source, start, length);
  const key = decodeUtf8(r.source.subarray(start, start + length), 'key');
  const problem = checkKey(key);
  if (problem !== undefined) throw new DecodeError(problem.message);
  return key;
}

function readValue(r: WireReader, absent: boolean, lazy: boolean): StoredValue {
  const bytes = r.longBytes();
  if (absent) {
    if (bytes.length !== 0) throw new DecodeError('a deleted or missing element carries no value');
    return null;
  }
  if (lazy) {
    // Validated as JSON now, parsed only when read; held as a string, so it pins no socket chunk.
    const text = jsonTextString(bytes, VALUE_DEPTH_MAX);
    if (typeof text !== 'string') throw new DecodeError(`value is not valid JSON within the limits: ${text.problem}`);
    return new JsonText(text, bytes.length);
  }
  // Deep nesting would overflow the stack when the value is encoded again.
  const scan = scanJsonText(bytes);
  if (scan.depth > VALUE_DEPTH_MAX) throw new DecodeError(`value nests deeper than ${VALUE_DEPTH_MAX} levels`);
  const text = decodeUtf8(bytes, 'value');
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch {
    throw new DecodeError(`value is not valid JSON (${bytes.length} bytes)`);
  }
  // A number beyond float64 (1e400) parses to Infinity, which JSON cannot carry back.
  if (scan.mayOverflow && typeof checkValue(value, Number.MAX_SAFE_INTEGER) !== 'number') {
    throw new DecodeError('value holds a number beyond the range of a double');
  }
  return value;
}

/**
 * A `replicate` or `snapshot` frame's elements as columns: what a secondary
 * applies, live or catching up, decoded without an object, a value view's
 * JsonText or a boxed timestamp per element. Deleted elements have text '' and 0 bytes.
 */
export class ElementColumns {
  constructor(
    readonly type: 'replicate' | 'snapshot',
    readonly firstSeq: number,
    readonly count: number,
    readonly keys: string[],
    readonly ts: Float64Array,
    readonly deleted: Uint8Array,
    /** Each value's validated JSON text and its UTF-8 size. */
    readonly texts: string[],
    readonly textBytes: Int32Array,
  ) {}

  /** The message these columns were decoded from (for the paths that refuse or relay one). */
  toMessage(): Message {
    const elements: WireElement[] = [];
    for (let i = 0; i < this.count; i++) {
      const deleted = this.deleted[i] === 1;
      elements.push({ key: this.keys[i]!, ts: this.ts[i]!, deleted, value: deleted ? null : new JsonText(this.texts[i]!, this.textBytes[i]!) });
    }
    return { type: this.type, firstSeq: this.firstSeq, elements };
  }
}

/** Whether a frame body (without its length prefix) is one `decodeElementColumns` takes. */
export function isElementFrame(body: Uint8Array): boolean {
  const code = body[0];
  return code === TYPE_CODES.replicate || code === TYPE_CODES.snapshot;
}

/**
 * Decodes a `replicate` or `snapshot` frame body (without its length prefix)
 * into columns. Guarantees: throws DecodeError, with the same message, for
 * exactly the bodies `decodeBody(body, { lazyValues: true })` refuses, and
 * otherwise holds the same elements in the same order (the codec tests prove both).
 */
export function decodeElementColumns(body: Uint8Array): ElementColumns {
  const r = new WireReader(body);
  const code = r.u8();
  const type = code === TYPE_CODES.replicate ? 'replicate' : code === TYPE_CODES.snapshot ? 'snapshot' : undefined;
  if (type === undefined) throw new DecodeError(`not a replicate or snapshot frame: message type ${code}`);
  const firstSeq = r.safeInteger('firstSeq');
  const count = readCount(r);
  const keys = new Array<string>(count);
  const texts = new Array<string>(count);
  const ts = new Float64Array(count);
  const deleted = new Uint8Array(count);
  const textBytes = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    keys[i] = readKey(r);
    ts[i] = r.safeInteger('ts');
    const gone = readFlag(r, 'deleted');
    const bytes = r.longBytes();
    if (gone) {
      if (bytes.length !== 0) throw new DecodeError('a deleted or missing element carries no value');
      deleted[i] = 1;
      texts[i] = '';
      continue;
    }
    // As readValue with lazy values: validated as JSON now, kept as text.
    const text = jsonTextString(bytes, VALUE_DEPTH_MAX);
    if (typeof text !== 'string') throw new DecodeError(`value is not valid JSON within the limits: ${text.problem}`);
    texts[i] = text;
    textBytes[i] = bytes.length;
  }
  r.end(type);
  return new ElementColumns(type, firstSeq, count, keys, ts, deleted, texts, textBytes);
}

function readElements(r: WireReader, lazy: boolean): WireElement[] {
  const out: WireElement[] = [];
  for (let i = 0, n = readCount(r); i < n; i++) {
    const key = readKey(r);
    const ts = r.safeInteger('ts');
    const deleted = readFlag(r, 'deleted');
    out.push({ key, ts, deleted, value: readValue(r, deleted, lazy) });
  }
  return out;
}

/**
 * Splits a byte stream into frame bodies. Guarantees: never buffers more than
 * one frame of at most `frameBytesMax` plus one chunk; a length prefix above
 * `frameBytesMax` is reported before any of its body is buffered, so a 2 GiB
 * prefix costs nothing.
 */
export class FrameDecoder {
  readonly frameBytesMax: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Adds bytes and returns every complete frame body now available, or a
   * DecodeError for an oversized frame (the connection must then be closed).
   */
  push(chunk: Uint8Array): Uint8Array[] | DecodeError {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const bodies: Uint8Array[] = [];
    for (;;) {
      if (this.#buffered < FRAME_HEADER_BYTES) return bodies;
      const head = this.#peek(FRAME_HEADER_BYTES);
      const length = ((head[0]! << 24) | (head[1]! << 16) | (head[2]! << 8) | head[3]!) >>> 0;
      if (length > this.frameBytesMax) {
        return new DecodeError(`frame of ${length} bytes exceeds the limit of ${this.frameBytesMax}`);
      }
      if (length === 0) return new DecodeError('empty frame: every frame has a type byte');
      if (this.#buffered < FRAME_HEADER_BYTES + length) return bodies;
      const frame = this.#take(FRAME_HEADER_BYTES + length);
      bodies.push(frame.subarray(FRAME_HEADER_BYTES));
    }
  }

  #peek(count: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length >= count) return first;
    this.#merge();
    return this.#chunks[0]!;
  }

  #take(count: number): Uint8Array {
    let first = this.#chunks[0]!;
    if (first.length < count) {
      this.#merge();
      first = this.#chunks[0]!;
    }
    this.#buffered -= count;
    if (first.length === count) {
      this.#chunks.shift();
      return first;
    }
    this.#chunks[0] = first.subarray(count);
    return first.subarray(0, count);
  }

  #merge(): void {
    const merged = new Uint8Array(this.#buffered);
    let at = 0;
    for (const chunk of this.#chunks) {
      merged.set(chunk, at);
      at += chunk.length;
    }
    this.#chunks = [merged];
  }
}
