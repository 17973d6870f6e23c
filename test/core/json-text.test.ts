/** validateJsonText must accept exactly what JSON.parse accepts (within the
 *  depth and double-range limits), since nodes store validated text and parse
 *  it only when read. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonText, jsonTextProblem, jsonTextString, plainValue, validateJsonText } from '../../src/core/json-text.ts';
import { VALUE_DEPTH_MAX, checkValue } from '../../src/core/value.ts';
import { propertyOptions } from '../support/property.ts';

const encoder = new TextEncoder();
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The reference: strict UTF-8, JSON.parse, depth and finite numbers (checkValue). */
function reference(bytes: Uint8Array, depthMax: number): boolean {
  let value: unknown;
  try {
    value = JSON.parse(strict.decode(bytes));
  } catch {
    return false;
  }
  const depthOf = (v: unknown): number => (Array.isArray(v) ? 1 + Math.max(0, ...v.map(depthOf)) : v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
  if (depthOf(value) > depthMax) return false;
  return typeof checkValue(value, Number.MAX_SAFE_INTEGER) === 'number';
}

function agrees(bytes: Uint8Array, depthMax = VALUE_DEPTH_MAX): void {
  const check = validateJsonText(bytes, depthMax);
  expect(check.ok, `${JSON.stringify(strictOrHex(bytes))}: ${check.ok ? 'accepted' : check.problem}`).toBe(reference(bytes, depthMax));
  // The allocation-free form the decoder uses names the same problem.
  expect(jsonTextProblem(bytes, depthMax)).toBe(check.ok ? undefined : check.problem);
  // The form that also decodes (ASCII on its own path) gives the strict decoder's string or the same problem.
  expect(jsonTextString(bytes, depthMax)).toEqual(check.ok ? strict.decode(bytes) : { problem: check.problem });
}

function strictOrHex(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    return Buffer.from(bytes).toString('hex');
  }
}

describe('json text', () => {
  it('json text: every JSON text JSON.stringify makes is accepted, and parses back to the value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.boolean(), (value, pretty) => {
        const bytes = encoder.encode(JSON.stringify(value, null, pretty ? 2 : undefined));
        agrees(bytes);
        if (validateJsonText(bytes, VALUE_DEPTH_MAX).ok) expect(JsonText.fromValidatedText(strict.decode(bytes)).value()).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      propertyOptions(),
    );
  });

  it('json text: arbitrary strings, and JSON texts with a byte changed, inserted or removed, are judged as JSON.parse judges them', () => {
    const mutated = fc.tuple(fc.json({ maxDepth: 4 }), fc.nat(), fc.constantFrom(...'{}[]",:\\0123456789-+.eEtrufalsn \u00e9\u{1F600}x'.split('')), fc.constantFrom('replace', 'insert', 'delete')).map(([json, at, ch, how]) => {
      const i = json.length === 0 ? 0 : at % json.length;
      return how === 'replace' ? json.slice(0, i) + ch + json.slice(i + 1) : how === 'insert' ? json.slice(0, i) + ch + json.slice(i) : json.slice(0, i) + json.slice(i + 1);
    });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), mutated), (text) => agrees(encoder.encode(text))),
      propertyOptions(),
    );
  });

  it('json text: arbitrary bytes (invalid UTF-8 included) are judged as strict UTF-8 decoding plus JSON.parse judge them', () => {
    const inString = fc.uint8Array({ maxLength: 12 }).map((b) => Uint8Array.from([0x22, ...b, 0x22]));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 24 }), inString), (bytes) => agrees(bytes)), propertyOptions());
  });

  it('json text: nesting beyond the limit and numbers beyond a double are refused, naming the problem', () => {
    expect(validateJsonText(encoder.encode('['.repeat(33) + ']'.repeat(33)), 32)).toMatchObject({ ok: false, problem: expect.stringMatching(/nesting deeper than 32/) });
    expect(validateJsonText(encoder.encode('['.repeat(32) + ']'.repeat(32)), 32)).toEqual({ ok: true, depth: 32 });
    for (const text of ['1e400', '-2E+308', '[1, 9e999]', '9'.repeat(400)]) expect(validateJsonText(encoder.encode(text), 32)).toMatchObject({ ok: false, problem: expect.stringMatching(/double/) });
    for (const text of ['1e-400', '1.7976931348623157e308', '1e308', '0.000', '-0']) expect(validateJsonText(encoder.encode(text), 32).ok, text).toBe(true);
    for (const text of ['', ' ', '01', '1.', '.5', '+1', '1e', '--1', 'tru', 'nul', '"\\x"', '"\\u12G4"', '{"a" 1}', '[1,]', '{,}', '"a', '"\u0001"', '1 2']) {
      expect(validateJsonText(encoder.encode(text), 32).ok, JSON.stringify(text)).toBe(false);
      agrees(encoder.encode(text));
    }
  });

  it('json text: plainValue parses JSON text once and passes plain values through', () => {
    const text = JsonText.fromValidatedText('{"a":[1,2]}');
    expect(plainValue(text)).toEqual({ a: [1, 2] });
    expect(plainValue(text)).toBe(plainValue(text));
    expect(plainValue({ b: true })).toEqual({ b: true });
  });

  it('json text: fromValidatedText counts the UTF-8 size of the text', () => {
    for (const text of ['{}', '{"n":"é😀"}', '"\\ud800"', '["日本"]']) expect(JsonText.fromValidatedText(text).byteLength, text).toBe(encoder.encode(text).length);
  });
});
