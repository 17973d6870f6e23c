import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_LENGTH_MAX_DEFAULT, KEY_SEGMENT_LENGTH_MAX, checkKey, isKeyBytes, sessionOfKey, sessionPrefix } from '../../src/core/keys.ts';
import { VALUE_BYTES_MAX_DEFAULT, VALUE_DEPTH_MAX, checkValue, scanJsonText, utf8Length } from '../../src/core/value.ts';
import { propertyOptions } from '../support/property.ts';

const SEGMENT_CHARS = 'ABCXYZabcxyz0189_.:~-';
const segment = fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS), minLength: 1, maxLength: KEY_SEGMENT_LENGTH_MAX });

describe('keys: checkKey', () => {
  it('keys: checkKey accepts well-formed keys', () => {
    for (const key of [
      's/abc/p/7',
      's/a/meta',
      'node/x',
      's/abc/p/7/t/cam-1',
      's/abc/lobby/u:42',
      'x',
      'S/abc', // only a lower-case `s` names a session
      'a'.repeat(KEY_SEGMENT_LENGTH_MAX),
      `s/${'b'.repeat(KEY_SEGMENT_LENGTH_MAX)}/meta`,
    ]) {
      expect(checkKey(key), key).toBeUndefined();
    }
  });

  it('keys: checkKey accepts a key of exactly the length limit and refuses one character more', () => {
    const parts: string[] = [];
    while (parts.join('/').length < KEY_LENGTH_MAX_DEFAULT) parts.push('a'.repeat(KEY_SEGMENT_LENGTH_MAX));
    const atLimit = parts.join('/').slice(0, KEY_LENGTH_MAX_DEFAULT).replace(/\/$/, 'z');
    expect(atLimit).toHaveLength(KEY_LENGTH_MAX_DEFAULT);
    expect(checkKey(atLimit)).toBeUndefined();
    const error = checkKey(`${atLimit}b`);
    expect(error?.code).toBe('invalid_key');
    expect(error?.message).toBe(`key is ${KEY_LENGTH_MAX_DEFAULT + 1} characters; the limit is ${KEY_LENGTH_MAX_DEFAULT}`);
    // A custom limit applies too.
    expect(checkKey('node/abcdef', 8)?.message).toContain('the limit is 8');
  });

  it('keys: checkKey refuses non-strings with invalid_key naming the type it got', () => {
    for (const [key, type] of [
      [undefined, 'undefined'],
      [null, 'object'],
      [42, 'number'],
      [['s', 'a', 'meta'], 'object'],
      [{ key: 'node/x' }, 'object'],
      [Symbol('k'), 'symbol'],
    ] as const) {
      const error = checkKey(key);
      expect(error, String(type)).toMatchObject({ code: 'invalid_key', key });
      expect(error?.message).toBe(`key must be a string, got ${type}`);
    }
  });

  it('keys: checkKey refuses malformed strings with invalid_key and a message about the grammar', () => {
    const bad = [
      '',
      'node//x',
      's//meta',
      '/node/x',
      'node/x/',
      '/',
      'node x',
      'node/ä',
      'node/x?y=1',
      'node/x#y',
      'node\\x',
      'node/x\n',
      '\nnode/x',
      'node/%20',
      'node/' + 'a'.repeat(KEY_SEGMENT_LENGTH_MAX + 1),
      's/' + 'b'.repeat(KEY_SEGMENT_LENGTH_MAX + 1) + '/meta',
    ];
    for (const key of bad) {
      const error = checkKey(key);
      expect(error, JSON.stringify(key)).toMatchObject({ code: 'invalid_key', key });
      expect(error?.message).toContain(JSON.stringify(key));
      expect(error?.message).toContain(`1-${KEY_SEGMENT_LENGTH_MAX} each`);
    }
  });

  it('keys: checkKey refuses an over-long key with a truncated key in the error', () => {
    const key = 'node/' + 'a/'.repeat(200) + 'z';
    const error = checkKey(key);
    expect(error?.code).toBe('invalid_key');
    expect(error?.message).toContain(`key is ${key.length} characters`);
    expect(String(error?.key).length).toBeLessThan(40);
  });

  it('keys: checkKey refuses a session key that names no element inside the session', () => {
    for (const key of ['s/abc', 's']) {
      const error = checkKey(key);
      expect(error, key).toMatchObject({ code: 'invalid_key', key });
      expect(error?.message).toContain('names no element inside a session');
    }
  });

  it('keys: checkKey accepts every key built from 1-64 character segments within the length limit', () => {
    fc.assert(
      fc.property(fc.tuple(fc.oneof(fc.constant('s'), segment), fc.array(segment, { maxLength: 5 })), ([first, rest]) => {
        const segments = [first, ...rest];
        const key = segments.join('/');
        const expectedValid = key.length <= KEY_LENGTH_MAX_DEFAULT && !(key === 's' || (segments[0] === 's' && segments.length === 2));
        expect(checkKey(key) === undefined).toBe(expectedValid);
        expect(isKeyBytes(new TextEncoder().encode(key), 0, key.length)).toBe(expectedValid);
      }),
      propertyOptions(),
    );
  });
});

describe('keys: isKeyBytes', () => {
  const encoder = new TextEncoder();
  /** Near-valid keys: the grammar's characters, slashes, 's' prefixes, a few invalid and non-ASCII characters, long runs. */
  const keyish = fc.oneof(
    fc.string({ unit: fc.constantFrom('s', '/', 'a', 'Z', '0', '_', '.', ':', '~', '-', ' ', '%', 'é', '\u0000', '日'), maxLength: 24 }),
    fc.tuple(fc.integer({ min: 60, max: 70 }), fc.integer({ min: 0, max: 5 })).map(([n, k]) => `s/${'a'.repeat(n)}/${'b'.repeat(k)}`),
    fc.integer({ min: 250, max: 262 }).map((n) => `node/${'x/'.repeat(n >> 1)}`.slice(0, n)),
    fc.constantFrom('s', 's/', 's/a', 's/a/', 's/a/b', 'sa/b', 'node', '/a', 'a//b', 'x'.repeat(64), 'x'.repeat(65)),
  );

  it('keys: isKeyBytes accepts exactly the UTF-8 of the keys checkKey accepts, wherever they sit in a buffer', () => {
    fc.assert(
      fc.property(keyish, fc.nat({ max: 7 }), (key, offset) => {
        const bytes = encoder.encode(key);
        const buffer = new Uint8Array(offset + bytes.length + 3).fill(0x61);
        buffer.set(bytes, offset);
        expect(isKeyBytes(buffer, offset, bytes.length), JSON.stringify(key)).toBe(checkKey(key) === undefined);
      }),
      propertyOptions(),
    );
  });
});

describe('keys: sessionOfKey and sessionPrefix', () => {
  it('keys: sessionOfKey names the session of session keys', () => {
    expect(sessionOfKey('s/abc/p/7')).toBe('abc');
    expect(sessionOfKey('s/a/meta')).toBe('a');
    expect(sessionOfKey('s/room-1/p/7/t/cam')).toBe('room-1');
  });

  it('keys: sessionOfKey is undefined for keys outside any session', () => {
    for (const key of ['node/x', 'sx/abc/meta', 'S/abc/meta', 'x', 'ss/a/b', 's']) {
      expect(sessionOfKey(key), key).toBeUndefined();
    }
  });

  it('keys: every key under sessionPrefix(session) belongs to that session', () => {
    fc.assert(
      fc.property(segment, fc.array(segment, { minLength: 1, maxLength: 3 }), (session, rest) => {
        const key = sessionPrefix(session) + rest.join('/');
        expect(key.startsWith(`s/${session}/`)).toBe(true);
        expect(sessionOfKey(key)).toBe(session);
      }),
      propertyOptions(),
    );
  });
});

/** Wraps `leaf` in `depth` arrays: the leaf sits at nesting depth `depth`. */
/** The oracle: JSON data as the value module documents it (plain objects and arrays, finite numbers, strings, booleans, null; at most VALUE_DEPTH_MAX deep). */
function isJsonData(value: unknown, depth: number): boolean {
  if (depth > VALUE_DEPTH_MAX) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((inner) => isJsonData(inner, depth + 1));
  if (typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && Object.values(value).every((inner) => isJsonData(inner, depth + 1));
}

function nested(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Any UTF-16 unit, lone surrogates included. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));

describe('value: checkValue', () => {
  it('value: checkValue accepts JSON data and returns its UTF-8 JSON length', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 8 }),
          fc.jsonValue({ maxDepth: 8, stringUnit: 'binary' }),
          fc.jsonValue({ maxDepth: 4, stringUnit: anyCodeUnit }),
        ),
        (value) => {
          const bytes = checkValue(value, Number.MAX_SAFE_INTEGER);
          expect(bytes).toBe(Buffer.byteLength(JSON.stringify(value), 'utf8'));
        },
      ),
      propertyOptions(),
    );
  });

  it('value: checkValue accepts exactly JSON data (an oracle over arbitrary values, NaN, functions, class instances, depth) and names where a refused value fails', () => {
    const notJson = fc.constantFrom<unknown>(Number.NaN, Number.POSITIVE_INFINITY, undefined, () => 1, Symbol('s'), 10n, new Date(0), new Map(), /x/);
    const anyValue = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 2 }), notJson, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 4 })),
    })).value;
    fc.assert(
      fc.property(fc.oneof(anyValue, fc.integer({ min: VALUE_DEPTH_MAX - 1, max: VALUE_DEPTH_MAX + 2 }).map((depth) => nested(depth, 'x'))), (value) => {
        const result = checkValue(value, Number.MAX_SAFE_INTEGER);
        expect(typeof result === 'number', 'accepted exactly when the value is JSON data').toBe(isJsonData(value, 0));
        if (typeof result === 'number') expect(result).toBe(Buffer.byteLength(JSON.stringify(value), 'utf8'));
        else expect(result.message).toMatch(/^value (at \$|nests deeper than)/);
      }),
      propertyOptions(),
    );
  });

  it('value: checkValue accepts the usual shapes of element values', () => {
    const samples: unknown[] = [
      null,
      true,
      0,
      -1.5e300,
      '',
      'héllo 🎥',
      [],
      {},
      { role: 'host', muted: false, tracks: [{ id: 'cam', kind: 'video' }], joinedAt: 1_700_000_000_000 },
      Object.assign(Object.create(null) as object, { a: 1 }),
      nested(VALUE_DEPTH_MAX, 'deepest allowed'),
    ];
    for (const value of samples) {
      expect(checkValue(value), JSON.stringify(value)).toBe(Buffer.byteLength(JSON.stringify(value)));
    }
  });

  it('value: checkValue refuses values JSON cannot carry with invalid_value and a message naming where', () => {
    class Participant {
      constructor(readonly id: string) {}
    }
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const holey: unknown[] = [1];
    holey[2] = 3; // index 1 is a hole
    const cycleInArray: unknown[] = [];
    cycleInArray.push(cycleInArray);
    const cases: [unknown, RegExp][] = [
      [Number.NaN, /value at \$ is NaN/],
      [Number.POSITIVE_INFINITY, /value at \$ is Infinity/],
      [{ a: [1, Number.NEGATIVE_INFINITY] }, /value at \$\.a\[1\] is -Infinity/],
      [undefined, /value at \$ is a undefined/],
      [{ a: undefined }, /value at \$\.a is a undefined/],
      [holey, /\$\[1\] is a undefined/], // a hole reads as undefined
      [() => 1, /is a function/],
      [{ onChange: () => 1 }, /\$\.onChange is a function/],
      [10n, /is a bigint/],
      [Symbol('s'), /is a symbol/],
      [new Participant('p1'), /value at \$ is not a plain object/],
      [new Map([['a', 1]]), /is not a plain object/],
      [new Set([1]), /is not a plain object/],
      [new Date(0), /is not a plain object/],
      [[{ when: new Date(0) }], /value at \$\[0\]\.when is not a plain object/],
      [new Uint8Array(2), /is not a plain object/],
      [Object('boxed'), /is not a plain object/],
      [cycle, /nests deeper than 32/],
      [cycleInArray, /nests deeper than 32/],
      [nested(VALUE_DEPTH_MAX + 1, 0), /nests deeper than 32/],
      [nested(10_000, 0), /nests deeper than 32/],
    ];
    for (const [value, message] of cases) {
      const result = checkValue(value);
      expect(result, String(message)).toMatchObject({ code: 'invalid_value' });
      expect(typeof result === 'object' ? result.message : '').toMatch(message);
    }
  });

  it('value: checkValue refuses values larger than valueBytesMax and accepts one at the limit', () => {
    const atLimit = 'x'.repeat(VALUE_BYTES_MAX_DEFAULT - 2); // plus two quotes
    expect(checkValue(atLimit)).toBe(VALUE_BYTES_MAX_DEFAULT);
    const over = checkValue(`${atLimit}x`);
    expect(over).toEqual({ code: 'invalid_value', message: `value is ${VALUE_BYTES_MAX_DEFAULT + 1} bytes of JSON; the limit is ${VALUE_BYTES_MAX_DEFAULT}` });
    // Bytes, not characters: 3-byte characters reach the limit three times sooner.
    const wide = '€'.repeat(Math.ceil(VALUE_BYTES_MAX_DEFAULT / 3));
    expect(wide.length).toBeLessThan(VALUE_BYTES_MAX_DEFAULT);
    expect(checkValue(wide)).toMatchObject({ code: 'invalid_value' });
    // A custom limit applies too.
    expect(checkValue({ a: 'bcd' }, 10)).toMatchObject({ code: 'invalid_value', message: 'value is 11 bytes of JSON; the limit is 10' });
    expect(checkValue({ a: 'bc' }, 10)).toBe(10);
  });
});

describe('value: utf8Length', () => {
  it('value: utf8Length equals Buffer.byteLength for arbitrary strings, lone surrogates included', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 64 }),
          fc.string({ unit: anyCodeUnit, maxLength: 64 }),
          fc.string({ unit: fc.constantFrom('\ud83c', '\udfa5', '\ud83c\udfa5', 'a', 'é', '€', '\u07ff', '\u0800', '\uffff'), maxLength: 16 }),
          // Around the ASCII fast path's edge: 0x7f is one byte, 0x80 two.
          fc.string({ unit: fc.integer({ min: 0, max: 0x80 }).map((code) => String.fromCharCode(code)), maxLength: 2048 }),
        ),
        (text) => {
          expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'));
        },
      ),
      propertyOptions(),
    );
  });

  it('value: utf8Length counts each encoding width and each kind of lone surrogate like Buffer', () => {
    const samples: [string, number][] = [
      ['', 0],
      ['a', 1],
      ['\u007f', 1],
      ['\u0080', 2],
      ['\u07ff', 2],
      ['\u0800', 3],
      ['\uffff', 3],
      ['🎥', 4],
      ['\ud83c', 3], // lone high surrogate at the end
      ['\ud83ca', 4], // lone high surrogate before a non-surrogate
      ['\ud83c\ud83c', 6], // two high surrogates
      ['\udfa5', 3], // lone low surrogate
      ['\udfa5\ud83c', 6], // low then high: not a pair
    ];
    for (const [text, bytes] of samples) {
      expect(Buffer.byteLength(text, 'utf8'), JSON.stringify(text)).toBe(bytes);
      expect(utf8Length(text), JSON.stringify(text)).toBe(bytes);
    }
  });
});

describe('value: scanJsonText', () => {
  it('value: scanJsonText measures nesting outside strings and flags numbers that may overflow a double', () => {
    const scan = (text: string) => scanJsonText(new TextEncoder().encode(text));
    expect(scan('{"a":[1,[2,{"b":"[[[{{{"}]]}')).toEqual({ depth: 4, mayOverflow: false });
    expect(scan('[1e400]').mayOverflow).toBe(true);
    expect(scan('[-2.5E+308]').mayOverflow).toBe(true);
    expect(scan(`[${'9'.repeat(300)}]`).mayOverflow).toBe(true);
    expect(scan('{"e400": "1e999", "true": true, "x": 12e3}')).toEqual({ depth: 1, mayOverflow: false });
  });

  it('value: scanJsonText depth equals the nesting of any JSON value', () => {
    const depthOf = (v: unknown): number => (Array.isArray(v) ? 1 + Math.max(0, ...v.map(depthOf)) : v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        expect(scanJsonText(new TextEncoder().encode(JSON.stringify(v))).depth).toBe(depthOf(v));
      }),
      propertyOptions(),
    );
  });
});
