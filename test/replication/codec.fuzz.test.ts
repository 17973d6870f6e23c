/** Fuzzing the frame decoder and the body decoder together, as a connection
 *  does: bytes → FrameDecoder.push → decodeBody. The only allowed outcomes are
 *  a DecodeError returned by push, a DecodeError thrown by decodeBody, or a
 *  message whose re-encoding decodes to an equal message. Anything else — a
 *  TypeError, a RangeError, a SyntaxError, a hang — fails. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES, FrameDecoder, type Message, decodeBody, encodeFrame } from '../../src/replication/messages.ts';
import { DecodeError } from '../../src/replication/wire.ts';
import { MESSAGE_TYPES, anyMessageArbitrary, rawTexts, withoutRaw } from '../support/message-arbitraries.ts';
import { concat } from '../support/bytes.ts';
import { numRuns, propertyOptions } from '../support/property.ts';

/** At least 100,000 cases per fuzz property; more when FC_NUM_RUNS asks for a soak. */
const FUZZ_RUNS = Math.max(100_000, numRuns * 100);
const FRAME_BYTES_MAX = 4096;

/** Wire codes of the known types (from encoding a minimal message of each). */
const TYPE_CODES: number[] = [1, 2, 3, 4, 10, 11, 12, 13, 20, 21, 22, 23, 24, 25, 26, 27, 28, 40, 41, 42, 43, 50, 51, 90];

/** Deep equality where numbers compare with === (so -0 equals 0, as JSON has no -0) and typed arrays by type and content. */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<number>;
    const y = b as unknown as ArrayLike<number>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** JSON for error messages, showing what JSON.stringify would hide (Infinity, -0, typed arrays). */
function show(value: unknown): string {
  return String(
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return `<number ${Object.is(v, -0) ? '-0' : String(v)}>`;
      if (ArrayBuffer.isView(v)) return `<${v.constructor.name} ${hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))}>`;
      return v;
    }),
  );
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** How a receiver reads a JSON text: UTF-8 (a leading byte-order mark dropped), then JSON.parse. */
function parseJson(raw: Uint8Array): unknown {
  try {
    return JSON.parse(utf8Decoder.decode(raw));
  } catch {
    return Symbol('unparseable');
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Decodes one body; returns quietly on DecodeError or on a message that survives re-encoding; throws otherwise. */
function checkBody(body: Uint8Array): Message | undefined {
  let message: Message;
  try {
    message = decodeBody(body);
  } catch (error) {
    if (error instanceof DecodeError) return undefined;
    throw new Error(`decodeBody threw ${(error as Error).name} (not DecodeError) for body ${hex(body)}: ${(error as Error).message}`, { cause: error });
  }
  let again: Message;
  try {
    again = decodeBody(encodeFrame(message).subarray(FRAME_HEADER_BYTES));
  } catch (error) {
    throw new Error(`decoded ${message.type} from ${hex(body)} but re-encoding and decoding it threw ${(error as Error).name}: ${(error as Error).message}`, { cause: error });
  }
  // `raw`, if the decoder keeps it, is the value's JSON text as received: it must say the same as `value`.
  for (const { raw, value, deleted } of rawTexts(message)) {
    const text = deleted ? undefined : parseJson(raw);
    if (deleted ? raw.length !== 0 : !sameValue(text, value)) {
      throw new Error(`decoded ${message.type} from ${hex(body)} keeps raw text ${hex(raw)} that does not match its value ${show(value)}`);
    }
  }
  if (!sameValue(withoutRaw(message), withoutRaw(again))) {
    throw new Error(`decoded ${message.type} from ${hex(body)} does not survive re-encoding: ${show(message)} became ${show(again)}`);
  }
  return message;
}

/** Feeds `chunks` to a fresh FrameDecoder, each body through checkBody, until push reports a DecodeError. */
function feed(chunks: readonly Uint8Array[]): { bodies: number; refused: boolean } {
  const decoder = new FrameDecoder(FRAME_BYTES_MAX);
  let bodies = 0;
  for (const chunk of chunks) {
    const out = decoder.push(chunk);
    if (out instanceof DecodeError) return { bodies, refused: true };
    if (!Array.isArray(out)) throw new Error(`push returned neither bodies nor a DecodeError: ${String(out)}`);
    for (const body of out) {
      if (body.length === 0 || body.length > FRAME_BYTES_MAX) throw new Error(`push returned a body of ${body.length} bytes`);
      bodies++;
      checkBody(body);
    }
    if (decoder.bufferedBytes > FRAME_HEADER_BYTES + FRAME_BYTES_MAX + chunk.length) throw new Error(`decoder holds ${decoder.bufferedBytes} bytes`);
  }
  return { bodies, refused: false };
}

function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.slice(from, p));
    from = p;
  }
  chunks.push(bytes.slice(from));
  return chunks;
}

function header(length: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(out.buffer).setUint32(0, length >>> 0);
  return out;
}

/** A frame-shaped piece of noise: a plausible (or exact) length prefix, a type code, random fields. */
const noisyFrame: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.oneof(fc.constant('exact' as const), fc.nat(300), fc.constantFrom(0, FRAME_BYTES_MAX, FRAME_BYTES_MAX + 1, 0xffffffff)),
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TYPE_CODES) }, { weight: 1, arbitrary: fc.nat(255) }),
    fc.uint8Array({ maxLength: 120 }),
  )
  .map(([length, type, rest]) => concat([header(length === 'exact' ? rest.length + 1 : length), Uint8Array.of(type), rest]));

const randomStream: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.array(noisyFrame, { minLength: 1, maxLength: 2 }).map(concat),
  fc.tuple(fc.uint8Array({ maxLength: 8 }), noisyFrame).map(concat),
);

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'type'; code: number }
  | { kind: 'length'; value: number }
  | { kind: 'lengthDelta'; delta: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.oneof(fc.nat(255), fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xff)) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('type' as const), code: fc.constantFrom(...TYPE_CODES) }),
  fc.record({ kind: fc.constant('length' as const), value: fc.oneof(fc.nat(FRAME_BYTES_MAX + 8), fc.constantFrom(0, 1, 0x80000000, 0xffffffff)) }),
  fc.record({ kind: fc.constant('lengthDelta' as const), delta: fc.integer({ min: -8, max: 8 }) }),
);

function mutate(frame: Uint8Array, mutations: readonly Mutation[], fixLength: boolean): Uint8Array {
  let bytes: Uint8Array = frame.slice();
  for (const m of mutations) {
    const at = 'at' in m ? m.at % (bytes.length + 1) : 0;
    switch (m.kind) {
      case 'flip':
        if (at < bytes.length) bytes[at]! ^= 1 << m.bit;
        break;
      case 'set':
        if (at < bytes.length) bytes[at] = m.byte;
        break;
      case 'truncate':
        bytes = bytes.slice(0, at);
        break;
      case 'insert':
        bytes = concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + m.count))]);
        break;
      case 'type':
        if (bytes.length > FRAME_HEADER_BYTES) bytes[FRAME_HEADER_BYTES] = m.code;
        break;
      case 'length':
        if (bytes.length >= FRAME_HEADER_BYTES) bytes.set(header(m.value), 0);
        break;
      case 'lengthDelta':
        if (bytes.length >= FRAME_HEADER_BYTES) bytes.set(header(new DataView(bytes.buffer).getUint32(0) + m.delta), 0);
        break;
    }
  }
  // Make the prefix match the mutated body, so the body itself reaches decodeBody.
  if (fixLength && bytes.length >= FRAME_HEADER_BYTES) bytes.set(header(bytes.length - FRAME_HEADER_BYTES), 0);
  return bytes;
}

describe('codec fuzz', () => {
  it(`codec fuzz: random bytes through FrameDecoder and decodeBody end only in DecodeError or a message that re-encodes to itself (${FUZZ_RUNS} cases)`, () => {
    fc.assert(
      fc.property(randomStream, fc.array(fc.nat(), { maxLength: 5 }), (stream, cuts) => {
        feed(split(stream, cuts));
        // the bytes as one body, bypassing the frame decoder
        if (stream.length > 0) checkBody(stream);
      }),
      propertyOptions({ numRuns: FUZZ_RUNS }),
    );
  });

  it(`codec fuzz: mutated valid frames through FrameDecoder and decodeBody end only in DecodeError or a message that re-encodes to itself (${FUZZ_RUNS} cases)`, () => {
    fc.assert(
      fc.property(
        anyMessageArbitrary({ listMax: 3, textMax: 8, jsonDepthMax: 2 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 4 }),
        (message, mutations, fixLength, cuts) => {
          const frame = encodeFrame(message);
          if (frame.length > 256) return; // keep inputs small: large messages add time, not coverage
          feed(split(mutate(frame, mutations, fixLength), cuts));
        },
      ),
      propertyOptions({ numRuns: FUZZ_RUNS }),
    );
  });

  it('codec fuzz: the type codes used for mutation are exactly the known message types', () => {
    // Guards TYPE_CODES above against drift from messages.ts.
    const unknownType = (code: number) => {
      try {
        decodeBody(Uint8Array.of(code));
      } catch (error) {
        return error instanceof DecodeError && error.message.startsWith('unknown message type');
      }
      return false;
    };
    expect(TYPE_CODES.filter(unknownType)).toEqual([]);
    expect(TYPE_CODES).toHaveLength(MESSAGE_TYPES.length);
    expect(Array.from({ length: 256 }, (_, code) => code).filter((code) => !unknownType(code))).toEqual(TYPE_CODES);
  });
});
