import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey, hashKeyLow } from '../../src/core/digest.ts';
import { KeyIndex } from '../../src/core/key-index.ts';
import { propertyOptions } from '../support/property.ts';

interface TestEntry {
  readonly key: string;
  readonly hashLow: number;
}

/** Few keys and, in one run in two, few distinct hashes: long probe runs, wrap-around and shifts on delete. */
const KEYS = Array.from({ length: 40 }, (_, i) => `k${i}`);

type Op = { kind: 'add'; key: string } | { kind: 'delete'; key: string } | { kind: 'get'; key: string } | { kind: 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

/** Hash functions: the real one, a few values (collisions), values near the int32 edges (negative, wrap). */
const hashOfArb: fc.Arbitrary<(key: string) => number> = fc.oneof(
  fc.constant((key: string) => hashKeyLow(key)),
  fc.integer({ min: 1, max: 5 }).map((n) => (key: string) => hashKeyLow(key) % n),
  fc.constant((key: string) => (hashKeyLow(key) % 3 === 0 ? 0x7fffffff : hashKeyLow(key) % 2 === 0 ? -1 : 0xfffffff0)),
);

describe('key index', () => {
  it('key index: any sequence of adds, deletes and clears finds exactly what a Map holds, whatever the hash collisions', () => {
    fc.assert(
      fc.property(hashOfArb, fc.array(opArb, { maxLength: 300 }), (hashOf, ops) => {
        const index = new KeyIndex<TestEntry>();
        const model = new Map<string, TestEntry>();
        for (const op of ops) {
          if (op.kind === 'add') {
            if (model.has(op.key)) continue; // add requires a missing key
            const entry = { key: op.key, hashLow: hashOf(op.key) };
            index.add(entry);
            model.set(op.key, entry);
          } else if (op.kind === 'delete') {
            const entry = model.get(op.key) ?? { key: op.key, hashLow: hashOf(op.key) };
            expect(index.delete(entry)).toBe(model.delete(op.key));
          } else if (op.kind === 'get') {
            expect(index.get(op.key, hashOf(op.key))).toBe(model.get(op.key));
          } else {
            index.clear();
            model.clear();
          }
          expect(index.size).toBe(model.size);
        }
        for (const key of KEYS) expect(index.get(key, hashOf(key))).toBe(model.get(key));
        expect(new Set(index.values())).toEqual(new Set(model.values()));
      }),
      propertyOptions(),
    );
  });

  it('key index: deleting an entry equal in key but not the one added finds nothing', () => {
    const index = new KeyIndex<TestEntry>();
    const entry = { key: 's/a/p/1', hashLow: hashKeyLow('s/a/p/1') };
    index.add(entry);
    expect(index.delete({ ...entry })).toBe(false);
    expect(index.get(entry.key, entry.hashLow)).toBe(entry);
  });

  it('key index: 100,000 entries survive growth and are all found, then all deleted', () => {
    const index = new KeyIndex<TestEntry>();
    const entries = Array.from({ length: 100_000 }, (_, i) => ({ key: `s/${i >> 4}/p/${i & 15}`, hashLow: hashKey(`s/${i >> 4}/p/${i & 15}`).hashLow }));
    for (const entry of entries) index.add(entry);
    expect(index.size).toBe(entries.length);
    expect(entries.every((e) => index.get(e.key, hashKeyLow(e.key)) === e)).toBe(true);
    expect(index.get('s/x/p/1', hashKeyLow('s/x/p/1'))).toBeUndefined();
    for (const entry of entries) expect(index.delete(entry)).toBe(true);
    expect(index.size).toBe(0);
    expect([...index.values()]).toEqual([]);
  });

  it('key index: hashKeyLow is the low lane of hashKey', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (key) => {
        expect(hashKeyLow(key)).toBe(hashKey(key).hashLow);
      }),
      propertyOptions(),
    );
  });
});
