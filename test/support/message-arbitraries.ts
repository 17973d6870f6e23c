/** fast-check generators of valid protocol messages (src/replication/messages.ts)
 *  and the helpers that say what a message looks like after a trip over the
 *  wire. Shared by the codec, fuzz and handshake tests. */

import fc from 'fast-check';
import { checkKey } from '../../src/core/keys.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { type StoredValue, plainValue } from '../../src/core/json-text.ts';
import { NONCE_BYTES, PROOF_BYTES, type Message, type MessageType, type Role, type WireElement, type WireKeyTs } from '../../src/replication/messages.ts';

type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

export interface MessageSizes {
  /** Most items in a list field. */
  readonly listMax: number;
  /** Most code points in a free-text field (refuse, result). */
  readonly textMax: number;
  /** Deepest JSON value. */
  readonly jsonDepthMax: number;
}

export const SEGMENT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:~-';

export const segmentArbitrary = fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS), minLength: 1, maxLength: 12 });

/** Keys that pass checkKey: session keys `s/{seg}/p/{seg}` and general segment paths. */
export const keyArbitrary: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(segmentArbitrary, segmentArbitrary).map(([session, participant]) => `s/${session}/p/${participant}`),
  fc.tuple(segmentArbitrary, fc.array(segmentArbitrary, { maxLength: 4 })).map(([session, rest]) => ['s', session, ...rest, 'meta'].join('/')),
  fc
    .array(segmentArbitrary, { minLength: 1, maxLength: 5 })
    .map((segments) => segments.join('/'))
    .filter((key) => checkKey(key) === undefined),
);

/** Timestamps, sequence numbers, counters: non-negative safe integers, edges included. */
export const safeArbitrary: fc.Arbitrary<number> = fc.oneof(
  fc.maxSafeNat(),
  fc.constantFrom(0, 1, 2 ** 32, 2 ** 52, Number.MAX_SAFE_INTEGER),
);
export const u8Arbitrary = fc.nat(0xff);
export const u16Arbitrary = fc.nat(0xffff);
export const u32Arbitrary: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -0x80000000, max: 0x7fffffff }).map((n) => n >>> 0),
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
);
export const roleArbitrary: fc.Arbitrary<Role> = fc.constantFrom('primary', 'secondary', 'client');

function fixedBytes(length: number): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ minLength: length, maxLength: length });
}

/**
 * Free text (refuse and result fields): any code point, no lone surrogates
 * (UTF-8 cannot carry them). A leading U+FEFF is left out here: it is covered
 * by its own test in codec.test.ts.
 */
function textArbitrary(sizes: MessageSizes): fc.Arbitrary<string> {
  return fc.string({ unit: 'binary', maxLength: sizes.textMax }).filter((text) => !text.startsWith('\uFEFF'));
}

function jsonArbitrary(sizes: MessageSizes): fc.Arbitrary<JsonValue> {
  return fc.jsonValue({ maxDepth: sizes.jsonDepthMax, stringUnit: 'binary' }) as fc.Arbitrary<JsonValue>;
}

function elementArbitrary(sizes: MessageSizes): fc.Arbitrary<WireElement> {
  return fc.record({ key: keyArbitrary, ts: safeArbitrary, deleted: fc.boolean(), value: jsonArbitrary(sizes) }).map((e) => (e.deleted ? { ...e, value: null } : e));
}

function list<T>(item: fc.Arbitrary<T>, sizes: MessageSizes): fc.Arbitrary<T[]> {
  return fc.array(item, { maxLength: sizes.listMax });
}

/** One generator per message type; the mapped type makes a missing type a compile error. */
export function messageArbitraries(sizes: MessageSizes): { readonly [T in MessageType]: fc.Arbitrary<MessageOf<T>> } {
  const text = textArbitrary(sizes);
  const json = jsonArbitrary(sizes);
  const elements = list(elementArbitrary(sizes), sizes);
  const pair: fc.Arbitrary<WireKeyTs> = fc.record({ key: keyArbitrary, ts: safeArbitrary });
  const c = <T extends string>(type: T) => fc.constant(type);
  return {
    hello: fc.record({ type: c('hello'), version: u16Arbitrary, role: roleArbitrary, nodeId: fc.integer({ min: 0, max: 15 }), epoch: safeArbitrary, nonce: fixedBytes(NONCE_BYTES) }),
    auth: fc.record({ type: c('auth'), proof: fixedBytes(PROOF_BYTES) }),
    welcome: fc.record({ type: c('welcome'), role: roleArbitrary, epoch: safeArbitrary, digestLeafBits: u8Arbitrary, digestFanoutBits: u8Arbitrary }),
    refuse: fc.record({ type: c('refuse'), code: text, message: text }),
    replicate: fc.record({ type: c('replicate'), firstSeq: safeArbitrary, elements }),
    ack: fc.record({ type: c('ack'), seq: safeArbitrary }),
    heartbeat: fc.record({ type: c('heartbeat'), epoch: safeArbitrary, seq: safeArbitrary }),
    collect: fc.record({ type: c('collect'), firstSeq: safeArbitrary, entries: list(pair, sizes) }),
    sync_state: fc.record({ type: c('sync_state'), elementCount: safeArbitrary, rootLow: u32Arbitrary, rootHigh: u32Arbitrary, collectedTsMax: safeArbitrary }),
    snapshot: fc.record({ type: c('snapshot'), firstSeq: safeArbitrary, elements }),
    digest_request: fc.record({ type: c('digest_request'), requestId: u32Arbitrary, level: u8Arbitrary, indexes: list(u32Arbitrary, sizes) }),
    digest_response: fc.record({ type: c('digest_response'), requestId: u32Arbitrary, hashes: list(u32Arbitrary, sizes).map((h) => Uint32Array.from(h)) }),
    bucket_request: fc.record({ type: c('bucket_request'), requestId: u32Arbitrary, buckets: list(u32Arbitrary, sizes) }),
    bucket_response: fc.record({ type: c('bucket_response'), requestId: u32Arbitrary, answered: u32Arbitrary, pairs: list(pair, sizes) }),
    fetch_request: fc.record({ type: c('fetch_request'), requestId: u32Arbitrary, keys: list(keyArbitrary, sizes) }),
    fetch_response: fc.record({ type: c('fetch_response'), requestId: u32Arbitrary, elements }),
    sync_done: fc.record({ type: c('sync_done'), repaired: safeArbitrary, collectedTsMax: safeArbitrary }),
    update: fc
      .record({ type: c('update'), requestId: u32Arbitrary, key: keyArbitrary, ts: safeArbitrary, deleted: fc.boolean(), value: json })
      .map((m) => (m.deleted ? { ...m, value: null } : m)),
    result: fc.record({ type: c('result'), requestId: u32Arbitrary, code: text, ts: safeArbitrary, detail: text }),
    get: fc.record({ type: c('get'), requestId: u32Arbitrary, key: keyArbitrary }),
    value: fc
      .record({ type: c('value'), requestId: u32Arbitrary, found: fc.boolean(), ts: safeArbitrary, deleted: fc.boolean(), value: json })
      .map((m) => (m.found && !m.deleted ? m : { ...m, value: null })),
    check_request: fc.record({ type: c('check_request'), requestId: u32Arbitrary, repair: fc.boolean() }),
    test_corrupt: fc.record({ type: c('test_corrupt'), requestId: u32Arbitrary, key: keyArbitrary, ts: safeArbitrary, value: json }),
    check_result: fc.record({
      type: c('check_result'),
      requestId: u32Arbitrary,
      inSync: fc.boolean(),
      repaired: safeArbitrary,
      differences: list(fc.record({ key: keyArbitrary, primaryTs: safeArbitrary, secondaryTs: safeArbitrary }), sizes),
    }),
  };
}

export const MESSAGE_TYPES = Object.keys(messageArbitraries({ listMax: 0, textMax: 0, jsonDepthMax: 0 })) as MessageType[];

/** Any valid message, of any type. */
export function anyMessageArbitrary(sizes: MessageSizes): fc.Arbitrary<Message> {
  return fc.oneof(...Object.values(messageArbitraries(sizes)) as fc.Arbitrary<Message>[]);
}

/** A JSON value as it comes out of JSON.parse(JSON.stringify(value)): -0 becomes 0. */
export function viaJson(value: StoredValue): JsonValue {
  return JSON.parse(JSON.stringify(plainValue(value))) as JsonValue;
}

function elementViaJson(e: WireElement): WireElement {
  return { ...e, value: viaJson(e.value) };
}

/** What `message` must decode to after encoding: the same, its JSON values with JSON semantics. */
export function expectedAfterWire(message: Message): Message {
  switch (message.type) {
    case 'replicate':
    case 'snapshot':
    case 'fetch_response':
      return { ...message, elements: message.elements.map(elementViaJson) };
    case 'update':
    case 'value':
    case 'test_corrupt':
      return { ...message, value: viaJson(message.value) };
    default:
      return message;
  }
}

/** Strips `raw` (the value's JSON text as received, which the decoder may attach to updates and elements). */
function stripRaw<T extends object>(carrier: T): T {
  if (!('raw' in carrier)) return carrier;
  const { raw: _raw, ...rest } = carrier as T & { raw: unknown };
  return rest as T;
}

/** A decoded message without the decoder-only `raw` fields, for comparing with what was encoded. */
export function withoutRaw(message: Message): Message {
  const stripped = stripRaw(message);
  return 'elements' in stripped ? ({ ...stripped, elements: stripped.elements.map(stripRaw) } as Message) : stripped;
}

/** The `raw` JSON texts a decoded message carries (update value, element values), with the value each belongs to. */
export function rawTexts(message: Message): { raw: Uint8Array; value: JsonValue; deleted: boolean }[] {
  const out: { raw: Uint8Array; value: JsonValue; deleted: boolean }[] = [];
  const carriers: readonly object[] = 'elements' in message ? [message, ...message.elements] : [message];
  for (const c of carriers) {
    const raw = (c as { raw?: unknown }).raw;
    if (raw === undefined) continue;
    if (!(raw instanceof Uint8Array)) throw new TypeError(`raw is not a Uint8Array: ${String(raw)}`);
    const { value, deleted } = c as { value: JsonValue; deleted?: boolean };
    out.push({ raw, value, deleted: deleted === true });
  }
  return out;
}
