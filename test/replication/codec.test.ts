/** The binary protocol codec (src/replication/messages.ts, wire.ts): every
 *  message type round trips; the frame decoder reassembles any chunking and
 *  refuses oversized or empty frames up front; a malformed body is refused
 *  with DecodeError and nothing else. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  LIST_LENGTH_MAX,
  type Message,
  type MessageType,
  decodeBody,
  encodeFrame,
} from '../../src/replication/messages.ts';
import { DecodeError, WireWriter, asciiString } from '../../src/replication/wire.ts';
import { MESSAGE_TYPES, anyMessageArbitrary, expectedAfterWire, messageArbitraries, rawTexts, withoutRaw } from '../support/message-arbitraries.ts';
import { concat } from '../support/bytes.ts';
import { propertyOptions } from '../support/property.ts';

const SIZES = { listMax: 6, textMax: 24, jsonDepthMax: 3 };
const ARBITRARIES = messageArbitraries(SIZES);

function bodyOf(message: Message): Uint8Array {
  return encodeFrame(message).subarray(FRAME_HEADER_BYTES);
}

/**
 * Decodes an encoder-made body. The decoder may attach `raw`, the value's JSON
 * text as received, to updates and elements: it must be exactly the text the
 * encoder wrote (none for a deleted element). Returns the message without it.
 */
function decodeEncoded(bytes: Uint8Array): Message {
  const decoded = decodeBody(bytes);
  for (const { raw, value, deleted } of rawTexts(decoded)) {
    expect(new TextDecoder().decode(raw), `${decoded.type}: raw JSON text`).toBe(deleted ? '' : JSON.stringify(value));
  }
  return withoutRaw(decoded);
}

function roundTrip(message: Message): Message {
  return decodeEncoded(bodyOf(message));
}

/** Builds a frame body by hand: the type code, then whatever `fields` writes. */
function body(typeCode: number, fields: (w: WireWriter) => void = () => {}): Uint8Array {
  const w = new WireWriter().u8(typeCode);
  fields(w);
  return w.finish().slice();
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** decodeBody must throw DecodeError (an instance of it: no TypeError, RangeError, SyntaxError). */
function expectRefused(bytes: Uint8Array, what = ''): DecodeError {
  let thrown: unknown;
  try {
    decodeBody(bytes);
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `${what}: expected a DecodeError`).toBeInstanceOf(DecodeError);
  return thrown as DecodeError;
}

const SAMPLE: { readonly [T in MessageType]: Extract<Message, { type: T }> } = {
  hello: { type: 'hello', version: 1, role: 'secondary', nodeId: 2, epoch: 7, nonce: new Uint8Array(32).fill(9) },
  auth: { type: 'auth', proof: new Uint8Array(32).fill(0xab) },
  welcome: { type: 'welcome', role: 'primary', epoch: 7, digestLeafBits: 12, digestFanoutBits: 4 },
  refuse: { type: 'refuse', code: 'auth_failed', message: 'the peer did not prove the shared secret' },
  replicate: {
    type: 'replicate',
    firstSeq: 41,
    elements: [
      { key: 's/a/p/1', ts: 100, deleted: false, value: { name: 'Ann', mic: true } },
      { key: 's/a/p/2', ts: 101, deleted: true, value: null },
    ],
  },
  ack: { type: 'ack', seq: 42 },
  heartbeat: { type: 'heartbeat', epoch: 7, seq: 42 },
  collect: { type: 'collect', firstSeq: 43, entries: [{ key: 's/a/p/2', ts: 101 }, { key: 'node/y', ts: 6 }] },
  sync_state: { type: 'sync_state', elementCount: 2, rootLow: 0xdeadbeef, rootHigh: 0x01020304, collectedTsMax: 99 },
  snapshot: { type: 'snapshot', firstSeq: 3, elements: [{ key: 'node/x', ts: 5, deleted: false, value: [1, 'two', null] }, { key: 'node/y', ts: 6, deleted: true, value: null }] },
  digest_request: { type: 'digest_request', requestId: 3, level: 1, indexes: [0, 5, 0xffffffff] },
  digest_response: { type: 'digest_response', requestId: 3, hashes: Uint32Array.from([1, 2, 0xffffffff]) },
  bucket_request: { type: 'bucket_request', requestId: 4, buckets: [7, 8] },
  bucket_response: { type: 'bucket_response', requestId: 4, answered: 1, pairs: [{ key: 's/a/p/1', ts: 100 }] },
  fetch_request: { type: 'fetch_request', requestId: 5, keys: ['s/a/p/1', 'node/x'] },
  fetch_response: { type: 'fetch_response', requestId: 5, elements: [{ key: 's/a/p/1', ts: 100, deleted: false, value: 'x' }] },
  sync_done: { type: 'sync_done', repaired: 3, collectedTsMax: 99 },
  update: { type: 'update', requestId: 6, key: 's/a/p/1', ts: 0, deleted: false, value: { volume: 0.5 } },
  result: { type: 'result', requestId: 6, code: 'applied', ts: 102, detail: '' },
  get: { type: 'get', requestId: 7, key: 's/a/p/1' },
  value: { type: 'value', requestId: 7, found: true, ts: 102, deleted: false, value: { volume: 0.5 } },
  check_request: { type: 'check_request', requestId: 8, repair: true },
  test_corrupt: { type: 'test_corrupt', requestId: 9, key: 's/a/p/1', ts: 1, value: 'corrupt' },
  check_result: { type: 'check_result', requestId: 8, inSync: false, repaired: 1, differences: [{ key: 's/a/p/1', primaryTs: 102, secondaryTs: 1 }] },
};

/** The wire code of each type, read back from an encoded sample. */
const TYPE_CODE = Object.fromEntries(MESSAGE_TYPES.map((type) => [type, bodyOf(SAMPLE[type])[0]!])) as Record<MessageType, number>;

describe('codec: round trip', () => {
  it('codec: the arbitraries and the samples cover every message type, each with its own type code', () => {
    expect(Object.keys(SAMPLE).sort()).toEqual([...MESSAGE_TYPES].sort());
    expect(new Set(Object.values(TYPE_CODE)).size).toBe(MESSAGE_TYPES.length);
  });

  it('codec: a sample of every message type round trips and its length prefix counts the body', () => {
    for (const type of MESSAGE_TYPES) {
      const frame = encodeFrame(SAMPLE[type]);
      const length = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
      expect(length, type).toBe(frame.length - FRAME_HEADER_BYTES);
      expect(decodeEncoded(frame.subarray(FRAME_HEADER_BYTES)), type).toEqual(SAMPLE[type]);
    }
  });

  for (const type of MESSAGE_TYPES) {
    it(`codec: any valid ${type} message round trips through encodeFrame and decodeBody`, () => {
      fc.assert(
        fc.property(ARBITRARIES[type], (message) => {
          const frame = encodeFrame(message);
          expect(new DataView(frame.buffer, frame.byteOffset).getUint32(0)).toBe(frame.length - FRAME_HEADER_BYTES);
          expect(decodeEncoded(frame.subarray(FRAME_HEADER_BYTES))).toEqual(expectedAfterWire(message));
        }),
        propertyOptions(),
      );
    });
  }

  it('codec: asciiString builds the string of any ASCII run, reused arrays and long runs alike', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 300 }), fc.nat({ max: 5 }), (text, offset) => {
        const bytes = new Uint8Array(offset + text.length + 2).fill(0x7a);
        for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
        expect(asciiString(bytes, offset, text.length)).toBe(text);
      }),
      propertyOptions(),
    );
  });

  it('codec: a JSON value round trips with JSON semantics (-0 becomes 0, nothing else changes)', () => {
    const value = { a: -0, b: [1.5, -2e-7, 1e21, 'é😀', null, true], c: { '': {} } };
    const decoded = roundTrip({ type: 'update', requestId: 1, key: 'node/x', ts: 5, deleted: false, value });
    expect(decoded).toEqual({ type: 'update', requestId: 1, key: 'node/x', ts: 5, deleted: false, value: { ...value, a: 0 } });
    expect(decoded.type === 'update' && Object.is((decoded.value as { a: number }).a, 0)).toBe(true);
  });

  it('codec: integers at their limits round trip exactly (u8, u16, u32, 2^53 - 1)', () => {
    const messages: Message[] = [
      { type: 'hello', version: 0xffff, role: 'client', nodeId: 15, epoch: Number.MAX_SAFE_INTEGER, nonce: new Uint8Array(32).fill(0xff) },
      { type: 'welcome', role: 'secondary', epoch: 0, digestLeafBits: 0xff, digestFanoutBits: 0 },
      { type: 'sync_state', elementCount: Number.MAX_SAFE_INTEGER, rootLow: 0xffffffff, rootHigh: 0, collectedTsMax: Number.MAX_SAFE_INTEGER },
      { type: 'collect', firstSeq: Number.MAX_SAFE_INTEGER, entries: [{ key: 'x', ts: Number.MAX_SAFE_INTEGER }] },
      { type: 'bucket_response', requestId: 0xffffffff, answered: 0xffffffff, pairs: [{ key: 'x', ts: Number.MAX_SAFE_INTEGER }] },
      { type: 'check_result', requestId: 0, inSync: true, repaired: 0, differences: [] },
      { type: 'replicate', firstSeq: 0, elements: [] },
    ];
    for (const message of messages) expect(roundTrip(message), message.type).toEqual(message);
  });

  it('codec: a value message for a missing or deleted element carries no value and decodes it as null', () => {
    for (const [found, deleted] of [[false, false], [true, true], [false, true]] as const) {
      const message: Message = { type: 'value', requestId: 1, found, deleted, ts: 3, value: null };
      expect(roundTrip(message)).toEqual(message);
      // flags u8, ts f64, then a zero value length
      expect(bodyOf(message).subarray(-4)).toEqual(new Uint8Array(4));
    }
  });

  it('codec: refuse and result text beginning with U+FEFF (a byte-order mark) round trips unchanged', () => {
    // A leading BOM is an ordinary character of a JS string; the decoder must not strip it.
    const refuse: Message = { type: 'refuse', code: '\uFEFFauth_failed', message: '\uFEFF' };
    expect(roundTrip(refuse)).toEqual(refuse);
    const result: Message = { type: 'result', requestId: 1, code: 'invalid_value', ts: 0, detail: '\uFEFFvalue' };
    expect(roundTrip(result)).toEqual(result);
  });

  /** A body decodeBody accepts must give a message that encodes again and decodes to itself; refusing it is fine too. */
  function expectRefusedOrStable(bytes: Uint8Array, what: string): void {
    let message: Message;
    try {
      message = decodeBody(bytes);
    } catch (error) {
      expect(error, what).toBeInstanceOf(DecodeError);
      return;
    }
    let again: Message | undefined;
    expect(() => (again = roundTrip(message)), `${what}: re-encoding the decoded message`).not.toThrow();
    expect(again, what).toEqual(withoutRaw(message));
  }

  it('codec: a JSON number beyond the float64 range (1e400) is refused or decodes to a message that re-encodes to itself', () => {
    // JSON.parse turns 1e400 into Infinity, which JSON.stringify writes as null:
    // accepting it yields a message that is not a JsonValue and does not round trip.
    for (const text of ['1e400', '-1e400', '[1,1e999]', '{"volume":1.7976931348623157e309}']) {
      const bytes = body(TYPE_CODE.update, (w) => w.u32(1).shortString('s/a/p/1').f64(5).u8(0).longBytes(utf8(text)));
      expectRefusedOrStable(bytes, `update value ${text}`);
    }
  });

  it('codec: a JSON value nested 200,000 deep is refused or decodes to a message that re-encodes to itself', () => {
    // 400 KB, well inside the default 4 MiB frame limit.
    const depth = 200_000;
    const text = '['.repeat(depth) + ']'.repeat(depth);
    const bytes = body(TYPE_CODE.update, (w) => w.u32(1).shortString('s/a/p/1').f64(5).u8(0).longBytes(utf8(text)));
    expectRefusedOrStable(bytes, `update value nested ${depth} deep`);
  });

  it('codec: any valid message of any type round trips', () => {
    fc.assert(
      fc.property(anyMessageArbitrary(SIZES), (message) => {
        expect(roundTrip(message)).toEqual(expectedAfterWire(message));
      }),
      propertyOptions(),
    );
  });
});

describe('codec: FrameDecoder', () => {
  const MESSAGES: Message[] = [SAMPLE.hello, SAMPLE.auth, SAMPLE.replicate, SAMPLE.ack, SAMPLE.check_result];
  const FRAMES = MESSAGES.map((m) => encodeFrame(m));
  const STREAM = concat(FRAMES);
  const BODIES = FRAMES.map((f) => f.slice(FRAME_HEADER_BYTES));

  /** Feeds `chunks` in order; fails on a DecodeError; returns every body (copied). */
  function feed(decoder: FrameDecoder, chunks: readonly Uint8Array[]): Uint8Array[] {
    const bodies: Uint8Array[] = [];
    for (const chunk of chunks) {
      const out = decoder.push(chunk);
      if (out instanceof DecodeError) throw out;
      for (const b of out) bodies.push(b.slice());
    }
    return bodies;
  }

  function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
    const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
    const chunks: Uint8Array[] = [];
    let from = 0;
    for (const p of points) {
      chunks.push(bytes.subarray(from, p));
      from = p;
    }
    chunks.push(bytes.subarray(from));
    return chunks;
  }

  it('codec: a stream split in two at every byte boundary yields the same bodies in order', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const decoder = new FrameDecoder(4096);
      const bodies = feed(decoder, [STREAM.slice(0, cut), STREAM.slice(cut)]);
      expect(bodies, `cut at ${cut}`).toEqual(BODIES);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('codec: a stream fed one byte at a time yields the same bodies in order, each as soon as it is complete', () => {
    const decoder = new FrameDecoder(4096);
    const bodies: Uint8Array[] = [];
    const ends = new Set(FRAMES.map((_, i) => FRAMES.slice(0, i + 1).reduce((n, f) => n + f.length, 0)));
    for (let i = 0; i < STREAM.length; i++) {
      const out = decoder.push(STREAM.slice(i, i + 1));
      if (out instanceof DecodeError) throw out;
      expect(out.length, `after byte ${i}`).toBe(ends.has(i + 1) ? 1 : 0);
      bodies.push(...out.map((b) => b.slice()));
      expect(decoder.bufferedBytes).toBeLessThanOrEqual(Math.max(...FRAMES.map((f) => f.length)));
    }
    expect(bodies).toEqual(BODIES);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('codec: several frames in one chunk come out together, in order', () => {
    const decoder = new FrameDecoder(4096);
    const out = decoder.push(STREAM);
    expect(out).not.toBeInstanceOf(DecodeError);
    expect((out as Uint8Array[]).map((b) => b.slice())).toEqual(BODIES);
    expect(decoder.bufferedBytes).toBe(0);
    // and the same with a partial frame left over
    const partial = concat([STREAM, FRAMES[0]!.subarray(0, 6)]);
    const second = new FrameDecoder(4096);
    expect((second.push(partial) as Uint8Array[]).map((b) => b.slice())).toEqual(BODIES);
    expect(second.bufferedBytes).toBe(6);
    expect((second.push(FRAMES[0]!.subarray(6)) as Uint8Array[]).map((b) => b.slice())).toEqual([BODIES[0]]);
  });

  it('codec: random messages cut into random chunks come out as the same bodies, in order, and decode to the messages', () => {
    fc.assert(
      fc.property(fc.array(anyMessageArbitrary({ listMax: 3, textMax: 8, jsonDepthMax: 2 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 40 }), (messages, cuts) => {
        const frames = messages.map((m) => encodeFrame(m));
        const decoder = new FrameDecoder(1 << 20);
        const bodies = feed(decoder, split(concat(frames), cuts));
        expect(bodies).toEqual(frames.map((f) => f.slice(FRAME_HEADER_BYTES)));
        expect(bodies.map(decodeEncoded)).toEqual(messages.map(expectedAfterWire));
        expect(decoder.bufferedBytes).toBe(0);
      }),
      propertyOptions(),
    );
  });

  it('codec: a frame of exactly frameBytesMax is accepted and one byte more is refused', () => {
    const limit = 64;
    const exact = new Uint8Array(FRAME_HEADER_BYTES + limit);
    new DataView(exact.buffer).setUint32(0, limit);
    const out = new FrameDecoder(limit).push(exact);
    expect(out).not.toBeInstanceOf(DecodeError);
    expect((out as Uint8Array[]).map((b) => b.length)).toEqual([limit]);

    const over = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(over.buffer).setUint32(0, limit + 1);
    expect(new FrameDecoder(limit).push(over)).toBeInstanceOf(DecodeError);
  });

  it('codec: a 2 GiB length prefix is refused with DecodeError from the header alone, holding under 100 bytes', () => {
    const decoder = new FrameDecoder(4 * 1024 * 1024);
    // the header arrives in two pieces: nothing is decided on half a header
    expect(decoder.push(Uint8Array.of(0x80, 0x00))).toEqual([]);
    const out = decoder.push(Uint8Array.of(0x00, 0x00));
    expect(out).toBeInstanceOf(DecodeError);
    expect((out as DecodeError).message).toContain('2147483648');
    expect(decoder.bufferedBytes).toBeLessThan(100);

    const withBody = new FrameDecoder(4 * 1024 * 1024);
    expect(withBody.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3))).toBeInstanceOf(DecodeError);
    expect(withBody.bufferedBytes).toBeLessThan(100);
  });

  it('codec: an oversized frame after valid frames in the same chunk is still refused', () => {
    const bad = Uint8Array.of(0x80, 0, 0, 0);
    expect(new FrameDecoder(4096).push(concat([STREAM, bad]))).toBeInstanceOf(DecodeError);
  });

  it('codec: a zero-length frame is refused with DecodeError', () => {
    expect(new FrameDecoder(4096).push(new Uint8Array(4))).toBeInstanceOf(DecodeError);
    const decoder = new FrameDecoder(4096);
    expect(decoder.push(concat([FRAMES[3]!, new Uint8Array(2)]))).not.toBeInstanceOf(DecodeError);
    expect(decoder.push(new Uint8Array(2))).toBeInstanceOf(DecodeError);
  });

  it('codec: an empty chunk changes nothing', () => {
    const decoder = new FrameDecoder(4096);
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
    expect(decoder.push(STREAM.subarray(0, 3))).toEqual([]);
    expect(decoder.push(new Uint8Array(0))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(3);
    expect(feed(decoder, [STREAM.subarray(3)])).toEqual(BODIES);
  });
});

describe('codec: decodeBody refuses malformed bodies with DecodeError', () => {
  it('codec: an empty body is refused with DecodeError', () => {
    expectRefused(new Uint8Array(0), 'empty');
  });

  it('codec: every unknown type byte is refused with DecodeError', () => {
    const known = new Set(Object.values(TYPE_CODE));
    let unknown = 0;
    for (let code = 0; code < 256; code++) {
      if (known.has(code)) continue;
      unknown++;
      expectRefused(Uint8Array.of(code), `type ${code}`);
      expectRefused(Uint8Array.of(code, 0, 0, 0, 0, 0, 0, 0, 0), `type ${code} with bytes`);
    }
    expect(unknown).toBe(256 - MESSAGE_TYPES.length);
  });

  it('codec: every proper prefix of a valid body is refused with DecodeError', () => {
    fc.assert(
      fc.property(anyMessageArbitrary(SIZES), (message) => {
        const whole = bodyOf(message);
        for (let length = 0; length < whole.length; length++) expectRefused(whole.slice(0, length), `${message.type} cut to ${length}/${whole.length}`);
      }),
      propertyOptions(),
    );
  });

  it('codec: every proper prefix of every sample body is refused with DecodeError', () => {
    for (const type of MESSAGE_TYPES) {
      const whole = bodyOf(SAMPLE[type]);
      for (let length = 0; length < whole.length; length++) expectRefused(whole.slice(0, length), `${type} cut to ${length}`);
    }
  });

  it('codec: trailing bytes after a valid body are refused with DecodeError', () => {
    fc.assert(
      fc.property(anyMessageArbitrary(SIZES), fc.uint8Array({ minLength: 1, maxLength: 16 }), (message, extra) => {
        const whole = bodyOf(message);
        const longer = new Uint8Array(whole.length + extra.length);
        longer.set(whole);
        longer.set(extra, whole.length);
        expectRefused(longer, message.type);
      }),
      propertyOptions(),
    );
  });

  const getBody = (keyBytes: Uint8Array) => body(TYPE_CODE.get, (w) => w.u32(1).u16(keyBytes.length).bytes(keyBytes));

  it('codec: a key that is not valid UTF-8 is refused with DecodeError', () => {
    expect(decodeBody(getBody(utf8('node/x')))).toEqual({ type: 'get', requestId: 1, key: 'node/x' });
    for (const bad of [
      [0xff],
      [0x6e, 0xc3], // truncated 2-byte sequence
      [0xc0, 0xaf], // overlong '/'
      [0xed, 0xa0, 0x80], // an encoded surrogate
      [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
      [0x80],
    ]) {
      expectRefused(getBody(Uint8Array.from(bad)), `key bytes ${bad.join(',')}`);
    }
  });

  it('codec: a key that fails checkKey is refused with DecodeError in every message that carries keys', () => {
    const badKeys = ['', 'a//b', '/a', 'a/', 's', 's/abc', 'a b', 'é', 'x'.repeat(65), `${'abcdefgh/'.repeat(29)}abcd`, 'a\u0000b'];
    for (const key of badKeys) {
      const k = (w: WireWriter) => w.shortString(key);
      expectRefused(getBody(utf8(key)), `get ${JSON.stringify(key)}`);
      expectRefused(body(TYPE_CODE.update, (w) => k(w.u32(1)).f64(1).u8(0).longBytes(utf8('1'))), `update ${key}`);
      expectRefused(body(TYPE_CODE.test_corrupt, (w) => k(w.u32(1)).f64(1).longBytes(utf8('1'))), `test_corrupt ${key}`);
      expectRefused(body(TYPE_CODE.replicate, (w) => k(w.f64(0).u32(1)).f64(1).u8(1).u32(0)), `replicate ${key}`);
      expectRefused(body(TYPE_CODE.fetch_request, (w) => k(w.u32(1).u32(1))), `fetch_request ${key}`);
      expectRefused(body(TYPE_CODE.bucket_response, (w) => k(w.u32(1).u32(1).u32(1)).f64(1)), `bucket_response ${key}`);
      expectRefused(body(TYPE_CODE.collect, (w) => k(w.f64(1).u32(1)).f64(1)), `collect ${key}`);
      expectRefused(body(TYPE_CODE.check_result, (w) => k(w.u32(1).u8(0).f64(1).u32(1)).f64(1).f64(2)), `check_result ${key}`);
    }
  });

  const updateBody = (deleted: number, value: Uint8Array, ts = (w: WireWriter) => w.f64(5)) =>
    body(TYPE_CODE.update, (w) => {
      ts(w.u32(1).shortString('node/x'));
      w.u8(deleted).longBytes(value);
    });

  it('codec: a value that is not valid JSON (or not UTF-8) is refused with DecodeError', () => {
    expect(decodeBody(updateBody(0, utf8(' {"a": [1, 2]} ')))).toMatchObject({ type: 'update', value: { a: [1, 2] } });
    for (const text of ['', '{', '{"a":}', 'undefined', 'NaN', "'x'", '1 2', '[1,]', '01', '"\u0001"', '{a:1}']) {
      expectRefused(updateBody(0, utf8(text)), `update value ${JSON.stringify(text)}`);
      expectRefused(body(TYPE_CODE.test_corrupt, (w) => w.u32(1).shortString('node/x').f64(1).longBytes(utf8(text))), `test_corrupt ${text}`);
      expectRefused(body(TYPE_CODE.value, (w) => w.u32(1).u8(1).f64(1).longBytes(utf8(text))), `value ${text}`);
      expectRefused(body(TYPE_CODE.snapshot, (w) => w.f64(1).u32(1).shortString('node/x').f64(1).u8(0).longBytes(utf8(text))), `snapshot ${text}`);
    }
    expectRefused(updateBody(0, Uint8Array.of(0x22, 0xff, 0x22)), 'value with invalid UTF-8');
  });

  it('codec: a deleted or missing element that carries a value is refused with DecodeError', () => {
    expect(decodeBody(updateBody(1, new Uint8Array(0)))).toMatchObject({ type: 'update', deleted: true, value: null });
    expectRefused(updateBody(1, utf8('1')), 'deleted update');
    expectRefused(updateBody(1, utf8('null')), 'deleted update carrying null');
    const element = (deleted: number, value: string) => (w: WireWriter) => w.u32(1).shortString('s/a/p/1').f64(9).u8(deleted).longBytes(utf8(value));
    expect(decodeBody(body(TYPE_CODE.replicate, (w) => element(1, '')(w.f64(0))))).toMatchObject({ elements: [{ deleted: true, value: null }] });
    expectRefused(body(TYPE_CODE.replicate, (w) => element(1, '{}')(w.f64(0))), 'deleted replicate element');
    expectRefused(body(TYPE_CODE.snapshot, (w) => element(1, '0')(w.f64(0))), 'deleted snapshot element');
    expectRefused(body(TYPE_CODE.fetch_response, (w) => element(1, '"x"')(w.u32(4))), 'deleted fetch_response element');
    for (const flags of [0, 2, 3]) {
      expectRefused(body(TYPE_CODE.value, (w) => w.u32(1).u8(flags).f64(1).longBytes(utf8('1'))), `value flags ${flags} with a value`);
    }
  });

  it('codec: a boolean flag above 1 (and value flags above 3) is refused with DecodeError', () => {
    for (const flag of [2, 3, 0x80, 0xff]) {
      expectRefused(updateBody(flag, new Uint8Array(0)), `update deleted ${flag}`);
      expectRefused(body(TYPE_CODE.snapshot, (w) => w.f64(0).u32(1).shortString('node/x').f64(1).u8(flag).u32(0)), `snapshot deleted ${flag}`);
      expectRefused(body(TYPE_CODE.check_request, (w) => w.u32(1).u8(flag)), `check_request repair ${flag}`);
      expectRefused(body(TYPE_CODE.check_result, (w) => w.u32(1).u8(flag).f64(0).u32(0)), `check_result inSync ${flag}`);
      expectRefused(body(TYPE_CODE.replicate, (w) => w.f64(0).u32(1).shortString('node/x').f64(1).u8(flag).u32(0)), `element deleted ${flag}`);
    }
    for (const flags of [4, 5, 0xff]) expectRefused(body(TYPE_CODE.value, (w) => w.u32(1).u8(flags).f64(1).u32(0)), `value flags ${flags}`);
    expect(decodeBody(body(TYPE_CODE.snapshot, (w) => w.f64(2).u32(0)))).toEqual({ type: 'snapshot', firstSeq: 2, elements: [] });
  });

  it('codec: a role byte outside 0..2 is refused with DecodeError', () => {
    for (const role of [3, 0xff]) {
      expectRefused(body(TYPE_CODE.hello, (w) => w.u16(1).u8(role).u8(1).f64(1).bytes(new Uint8Array(32))), `hello role ${role}`);
      expectRefused(body(TYPE_CODE.welcome, (w) => w.u8(role).f64(1).u8(12).u8(4)), `welcome role ${role}`);
    }
  });

  it('codec: a list count larger than the remaining bytes is refused with DecodeError', () => {
    const counts = [1, 2, 5, 1000, LIST_LENGTH_MAX, LIST_LENGTH_MAX + 1, 0x7fffffff, 0xffffffff];
    for (const n of counts) {
      expectRefused(body(TYPE_CODE.replicate, (w) => w.f64(0).u32(n)), `replicate count ${n}`);
      expectRefused(body(TYPE_CODE.snapshot, (w) => w.f64(0).u32(n)), `snapshot count ${n}`);
      expectRefused(body(TYPE_CODE.fetch_response, (w) => w.u32(1).u32(n)), `fetch_response count ${n}`);
      expectRefused(body(TYPE_CODE.digest_request, (w) => w.u32(1).u8(0).u32(n)), `digest_request count ${n}`);
      expectRefused(body(TYPE_CODE.digest_response, (w) => w.u32(1).u32(n)), `digest_response count ${n}`);
      expectRefused(body(TYPE_CODE.bucket_request, (w) => w.u32(1).u32(n)), `bucket_request count ${n}`);
      expectRefused(body(TYPE_CODE.bucket_response, (w) => w.u32(1).u32(0).u32(n)), `bucket_response count ${n}`);
      expectRefused(body(TYPE_CODE.fetch_request, (w) => w.u32(1).u32(n)), `fetch_request count ${n}`);
      expectRefused(body(TYPE_CODE.check_result, (w) => w.u32(1).u8(0).f64(0).u32(n)), `check_result count ${n}`);
      expectRefused(body(TYPE_CODE.collect, (w) => w.f64(1).u32(n)), `collect count ${n}`);
    }
    // a count that fits the bytes but not the items is a truncation
    expectRefused(body(TYPE_CODE.digest_request, (w) => w.u32(1).u8(0).u32(3).u32(1).u32(2)), 'three indexes, two present');
  });

  it('codec: a string length beyond the body is refused with DecodeError', () => {
    expectRefused(body(TYPE_CODE.refuse, (w) => w.u16(0xffff).bytes(utf8('abc'))), 'refuse code');
    expectRefused(body(TYPE_CODE.update, (w) => w.u32(1).shortString('node/x').f64(1).u8(0).u32(0xffffffff).bytes(utf8('1'))), 'value length');
  });

  it('codec: a timestamp or sequence number that is not a non-negative safe integer is refused with DecodeError', () => {
    const bad = [Number.NaN, -1, -0.5, 0.5, 2 ** 53, 2 ** 60, Number.MAX_SAFE_INTEGER + 2, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -Number.MAX_VALUE, Number.MIN_VALUE];
    for (const ts of bad) {
      const t = (w: WireWriter) => w.f64(ts);
      expectRefused(updateBody(0, utf8('1'), t), `update ts ${ts}`);
      expectRefused(body(TYPE_CODE.ack, t), `ack seq ${ts}`);
      expectRefused(body(TYPE_CODE.heartbeat, (w) => t(w.f64(1))), `heartbeat seq ${ts}`);
      expectRefused(body(TYPE_CODE.heartbeat, (w) => t(w).f64(1)), `heartbeat epoch ${ts}`);
      expectRefused(body(TYPE_CODE.hello, (w) => t(w.u16(1).u8(0).u8(1)).bytes(new Uint8Array(32))), `hello epoch ${ts}`);
      expectRefused(body(TYPE_CODE.welcome, (w) => t(w.u8(0)).u8(12).u8(4)), `welcome epoch ${ts}`);
      expectRefused(body(TYPE_CODE.replicate, (w) => t(w).u32(0)), `replicate firstSeq ${ts}`);
      expectRefused(body(TYPE_CODE.replicate, (w) => t(w.f64(0).u32(1).shortString('node/x')).u8(1).u32(0)), `element ts ${ts}`);
      expectRefused(body(TYPE_CODE.sync_state, (w) => t(w).u32(0).u32(0).f64(0)), `sync_state count ${ts}`);
      expectRefused(body(TYPE_CODE.sync_state, (w) => t(w.f64(0).u32(0).u32(0))), `sync_state collectedTsMax ${ts}`);
      expectRefused(body(TYPE_CODE.sync_done, (w) => t(w).f64(0)), `sync_done repaired ${ts}`);
      expectRefused(body(TYPE_CODE.sync_done, (w) => t(w.f64(0))), `sync_done collectedTsMax ${ts}`);
      expectRefused(body(TYPE_CODE.collect, (w) => t(w).u32(0)), `collect firstSeq ${ts}`);
      expectRefused(body(TYPE_CODE.collect, (w) => t(w.f64(1).u32(1).shortString('node/x'))), `collect entry ts ${ts}`);
      expectRefused(body(TYPE_CODE.result, (w) => t(w.u32(1).shortString('applied')).shortString('')), `result ts ${ts}`);
      expectRefused(body(TYPE_CODE.value, (w) => t(w.u32(1).u8(0)).u32(0)), `value ts ${ts}`);
      expectRefused(body(TYPE_CODE.bucket_response, (w) => t(w.u32(1).u32(1).u32(1).shortString('node/x'))), `pair ts ${ts}`);
      expectRefused(body(TYPE_CODE.check_result, (w) => t(w.u32(1).u8(0).f64(0).u32(1).shortString('node/x').f64(1))), `secondaryTs ${ts}`);
      expectRefused(body(TYPE_CODE.test_corrupt, (w) => t(w.u32(1).shortString('node/x')).longBytes(utf8('1'))), `test_corrupt ts ${ts}`);
    }
    // NaN with a payload, too
    expectRefused(body(TYPE_CODE.ack, (w) => w.bytes(Uint8Array.of(0x7f, 0xf8, 0, 0, 0, 0, 0, 1))), 'NaN payload');
    expect(decodeBody(body(TYPE_CODE.ack, (w) => w.f64(Number.MAX_SAFE_INTEGER)))).toEqual({ type: 'ack', seq: Number.MAX_SAFE_INTEGER });
  });
});

describe('codec: fields checked on decode', () => {
  it('codec: a hello with a node id outside 0..15 is refused with DecodeError naming it', () => {
    const body = encodeFrame({ type: 'hello', version: 1, role: 'client', nodeId: 15, epoch: 1, nonce: new Uint8Array(32) }).subarray(4);
    const bad = new Uint8Array(body);
    bad[4] = 16; // type(1) version(2) role(1) nodeId
    expect(() => decodeBody(bad)).toThrow(/node id 16/);
  });

  it('codec: a -0 timestamp decodes as 0', () => {
    const body = new Uint8Array(encodeFrame({ type: 'ack', seq: 0 }).subarray(4));
    new DataView(body.buffer).setFloat64(1, -0);
    const message = decodeBody(body);
    expect(Object.is((message as { seq: number }).seq, 0)).toBe(true);
  });
});
