/** Lazy decoding (what the nodes use: values stay validated JSON text) must
 *  refuse exactly the bodies eager decoding refuses, and agree on every value. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonText, plainValue } from '../../src/core/json-text.ts';
import { FRAME_HEADER_BYTES, type Message, decodeBody, decodeElementColumns, encodeFrame } from '../../src/replication/messages.ts';
import { DecodeError } from '../../src/replication/wire.ts';
import { anyMessageArbitrary, messageArbitraries } from '../support/message-arbitraries.ts';
import { numRuns } from '../support/property.ts';

function outcome(body: Uint8Array, lazyValues: boolean): Message | 'refused' {
  try {
    return decodeBody(body, { lazyValues });
  } catch (error) {
    if (error instanceof DecodeError) return 'refused';
    throw error;
  }
}

/** The message with every JsonText replaced by its parsed value. */
function plain(message: Message): unknown {
  return JSON.parse(
    JSON.stringify(message, (_key, v: unknown) => (v instanceof JsonText ? plainValue(v) : ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v)),
  );
}

const mutatedBody = fc
  .tuple(anyMessageArbitrary({ listMax: 3, textMax: 8, jsonDepthMax: 3 }), fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('set', 'insert', 'delete')), { maxLength: 3 }))
  .map(([message, edits]) => {
    const bytes = Array.from(encodeFrame(message).subarray(FRAME_HEADER_BYTES));
    for (const [at, byte, how] of edits) {
      const i = bytes.length === 0 ? 0 : at % bytes.length;
      if (how === 'set') bytes[i] = byte;
      else if (how === 'insert') bytes.splice(i, 0, byte);
      else bytes.splice(i, 1);
    }
    return Uint8Array.from(bytes);
  });

describe('codec: lazy values', () => {
  it('codec: lazy and eager decoding refuse the same mutated bodies and agree on every accepted one', () => {
    fc.assert(
      fc.property(mutatedBody, (body) => {
        const eager = outcome(body, false);
        const lazy = outcome(body, true);
        if (eager === 'refused' || lazy === 'refused') {
          expect(lazy === 'refused', `eager ${eager === 'refused' ? 'refused' : 'accepted'} what lazy ${lazy === 'refused' ? 'refused' : 'accepted'}`).toBe(eager === 'refused');
          return;
        }
        expect(plain(lazy)).toEqual(plain(eager));
      }),
      { numRuns: Math.max(20_000, numRuns * 20) },
    );
  });

  it('codec: a lazily decoded value re-encodes as the very bytes it arrived as', () => {
    const text = '{ "spaced" : [1, 2.50, "x"] }';
    const body = encodeFrame({ type: 'update', requestId: 1, key: 's/a/p/1', ts: 0, deleted: false, value: JsonText.fromValidatedText(text) }).subarray(FRAME_HEADER_BYTES);
    const decoded = decodeBody(body, { lazyValues: true }) as Message & { type: 'update' };
    expect(decoded.value).toBeInstanceOf(JsonText);
    expect((decoded.value as JsonText).text).toBe(text);
    expect(plainValue(decoded.value)).toEqual({ spaced: [1, 2.5, 'x'] });
  });

  it('codec: a replicate or snapshot frame decoded as columns holds what lazy decoding holds, and is refused with the same message', () => {
    const arbitraries = messageArbitraries({ listMax: 6, textMax: 12, jsonDepthMax: 4 });
    // Valid frames, and frames with a few bytes set, inserted or deleted after the type byte.
    const body = fc.tuple(fc.oneof(arbitraries.replicate, arbitraries.snapshot), fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('set', 'insert', 'delete')), { maxLength: 3 })).map(([message, edits]) => {
      const bytes = Array.from(encodeFrame(message).subarray(FRAME_HEADER_BYTES));
      for (const [at, byte, how] of edits) {
        const i = 1 + (at % Math.max(1, bytes.length - 1));
        if (how === 'set') bytes[i] = byte;
        else if (how === 'insert') bytes.splice(i, 0, byte);
        else bytes.splice(i, 1);
      }
      return Uint8Array.from(bytes);
    });
    fc.assert(
      fc.property(body, (bytes) => {
        let expected: unknown;
        try {
          const message = decodeBody(bytes, { lazyValues: true }) as Message & { type: 'replicate' | 'snapshot' };
          expected = {
            type: message.type,
            firstSeq: message.firstSeq,
            elements: message.elements.map((e) => ({ key: e.key, ts: e.ts, deleted: e.deleted, text: e.deleted ? '' : (e.value as JsonText).text, bytes: e.deleted ? 0 : (e.value as JsonText).byteLength })),
          };
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
          expected = `refused: ${error.message}`;
        }
        let actual: unknown;
        try {
          const c = decodeElementColumns(bytes);
          actual = {
            type: c.type,
            firstSeq: c.firstSeq,
            elements: c.keys.map((key, i) => ({ key, ts: c.ts[i], deleted: c.deleted[i] === 1, text: c.texts[i], bytes: c.textBytes[i] })),
          };
          expect(c.count).toBe(c.keys.length);
          // And the message the columns stand for is the one lazy decoding gives.
          expect(c.toMessage()).toEqual(decodeBody(bytes, { lazyValues: true }));
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
          actual = `refused: ${error.message}`;
        }
        expect(actual).toEqual(expected);
      }),
      { numRuns: Math.max(20_000, numRuns * 20) },
    );
  });
});

