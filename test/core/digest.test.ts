import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Timestamp } from '../../src/core/clock.ts';
import {
  DIGEST_FANOUT_BITS_DEFAULT,
  DIGEST_LEAF_BITS_DEFAULT,
  Digest,
  type DigestShape,
  differingNodes,
  hashKey,
  pairHashHigh,
  pairHashLow,
} from '../../src/core/digest.ts';
import { ElementStore } from '../../src/core/element-store.ts';
import { type Difference, compareBucket, diffStores } from '../../src/core/sync-diff.ts';
import { propertyOptions } from '../support/property.ts';

const SMALL: DigestShape = { leafBits: 4, fanoutBits: 2 };
const DEFAULT: DigestShape = { leafBits: DIGEST_LEAF_BITS_DEFAULT, fanoutBits: DIGEST_FANOUT_BITS_DEFAULT };
const ODD: DigestShape = { leafBits: 5, fanoutBits: 2 }; // leafBits not a multiple of fanoutBits

const shapeArb: fc.Arbitrary<DigestShape> = fc.oneof(
  fc.constantFrom(SMALL, DEFAULT, ODD, { leafBits: 0, fanoutBits: 1 }, { leafBits: 7, fanoutBits: 3 }),
  fc.record({ leafBits: fc.integer({ min: 0, max: 12 }), fanoutBits: fc.integer({ min: 1, max: 8 }) }),
);

const segment = fc.string({ unit: fc.constantFrom(...'abcdefxyz0123_-.:'), minLength: 1, maxLength: 6 });
const keyArb = fc.oneof(
  fc.tuple(segment, segment).map(([session, p]) => `s/${session}/p/${p}`),
  fc.tuple(segment, segment).map(([session, p]) => `s/${session}/p/${p}/t/cam`),
  segment.map((s) => `node/${s}`),
);
const tsArb = fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));

/** A store's contents as (key → ts); whether an element is a tombstone does not matter to the digest. */
type Pairs = Map<string, Timestamp>;

const pairsArb = (maxLength: number): fc.Arbitrary<[string, Timestamp][]> =>
  fc.uniqueArray(fc.tuple(keyArb, tsArb), { maxLength, size: 'max', selector: ([key]) => key });

function storeOf(pairs: Iterable<readonly [string, Timestamp]>, shape: DigestShape): ElementStore {
  const store = new ElementStore({ elementsMax: 10_000, digest: shape });
  let i = 0;
  for (const [key, ts] of pairs) {
    // Every fifth element is a tombstone: the digest covers (key, ts) pairs whatever the value.
    const outcome = store.apply(key, { i }, ts, i % 5 === 4);
    if (outcome !== 'applied') throw new Error(`set-up: apply(${key}, ${ts}) was ${outcome}`);
    i++;
  }
  return store;
}

/** What diffStores must find, computed from the pairs directly. */
function expectedDiff(local: Pairs, remote: Pairs): Difference[] {
  const out: Difference[] = [];
  for (const key of new Set([...local.keys(), ...remote.keys()])) {
    const localTs = local.get(key) ?? 0;
    const remoteTs = remote.get(key) ?? 0;
    if (localTs !== remoteTs) out.push({ key, localTs, remoteTs });
  }
  return byKey(out);
}

function byKey(diffs: readonly Difference[]): Difference[] {
  return [...diffs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

describe('digest: roots', () => {
  it('digest: stores holding the same pairs have equal roots whatever the order of application', () => {
    fc.assert(
      fc.property(
        shapeArb,
        pairsArb(60).chain((pairs) => fc.tuple(fc.constant(pairs), fc.shuffledSubarray(pairs, { minLength: pairs.length, maxLength: pairs.length }))),
        (shape, [pairs, shuffled]) => {
          const a = storeOf(pairs, shape);
          const b = storeOf(shuffled, shape);
          expect(b.digest.root()).toEqual(a.digest.root());
          expect(diffStores(a, b)).toEqual([]);
          // Equal everywhere, not only at the root.
          for (let level = 0; level <= a.digest.depth; level++) {
            const all = Array.from({ length: a.digest.nodeCount(level) }, (_, i) => i);
            expect(differingNodes(a.digest, level, all, b.digest.nodeHashes(level, all))).toEqual([]);
          }
        },
      ),
      propertyOptions(),
    );
  });

  it('digest: stores that reach the same pairs through older intermediate writes have equal roots', () => {
    fc.assert(
      fc.property(
        pairsArb(40).filter((pairs) => pairs.length > 0),
        fc.array(fc.nat(), { maxLength: 20 }),
        (pairs, rewrites) => {
          const direct = storeOf(pairs, SMALL);
          // Write older versions first, then the final ones: each update toggles the old pair out.
          const viaHistory = new ElementStore({ elementsMax: 10_000, digest: SMALL });
          for (const r of rewrites) {
            const [key, ts] = pairs[r % pairs.length]!;
            if (ts > 1) viaHistory.apply(key, 'old', 1 + (r % (ts - 1)));
          }
          for (const [key, ts] of pairs) expect(viaHistory.apply(key, 'new', ts)).toBe('applied');
          expect(viaHistory.digest.root()).toEqual(direct.digest.root());
        },
      ),
      propertyOptions(),
    );
  });

  it('digest: toggling a pair twice restores the previous hashes', () => {
    const digest = new Digest(ODD);
    const h = hashKey('s/a/p/1');
    digest.toggle(hashKey('node/x'), 7);
    const before = digest.root();
    digest.toggle(h, 42);
    expect(digest.root()).not.toEqual(before);
    digest.toggle(h, 42);
    expect(digest.root()).toEqual(before);
    digest.toggle(hashKey('node/x'), 7);
    expect(digest.root()).toEqual([0, 0]);
  });

  it('digest: the root of a known store is pinned (changing the pair hash breaks cross-version sync)', () => {
    const store = storeOf(
      [
        ['s/abc/p/7', 123_456_789_012_345],
        ['node/x', 1],
        ['s/a/meta', Number.MAX_SAFE_INTEGER],
      ],
      DEFAULT,
    );
    expect(store.digest.root()).toEqual(PINNED_ROOT);
    // The root XORs every pair, so it does not depend on the shape below it.
    const odd = storeOf(
      [
        ['node/x', 1],
        ['s/a/meta', Number.MAX_SAFE_INTEGER],
        ['s/abc/p/7', 123_456_789_012_345],
      ],
      ODD,
    );
    expect(odd.digest.root()).toEqual(PINNED_ROOT);
  });
});

// Computed once from the implementation of 2025-11 and pinned: any change to hashKey or the pair
// hash makes digests of old and new versions incomparable, which must be a deliberate decision.
const PINNED_ROOT: [number, number] = [1686891679, 1444610471];

describe('digest: hashKey', () => {
  it('digest: hashKey gives the pinned values for known keys', () => {
    expect(hashKey('')).toEqual({ hashLow: 2872998923, hashHigh: 2807238583 });
    expect(hashKey('s/abc/p/7')).toEqual({ hashLow: 2086642170, hashHigh: 2410081777 });
    expect(hashKey('node/x')).toEqual({ hashLow: 3012243538, hashHigh: 1803653355 });
    expect(hashKey('s/a/meta')).toEqual({ hashLow: 3611965946, hashHigh: 3944506904 });
    const h = hashKey('s/abc/p/7');
    expect(pairHashLow(h, 123_456_789_012_345)).toBe(947998680);
    expect(pairHashHigh(h, 123_456_789_012_345)).toBe(1548812417);
  });

  it('digest: hashKey is deterministic and returns two unsigned 32-bit lanes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (key) => {
        const a = hashKey(key);
        const b = hashKey(`${key}`);
        expect(b).toEqual(a);
        for (const lane of [a.hashLow, a.hashHigh]) {
          expect(Number.isInteger(lane) && lane >= 0 && lane < 2 ** 32).toBe(true);
        }
      }),
      propertyOptions(),
    );
  });
});

describe('digest: diffStores', () => {
  it('digest: changing one key’s ts on one side is found as exactly that key with both timestamps', () => {
    fc.assert(
      fc.property(
        shapeArb,
        pairsArb(80).filter((pairs) => pairs.length > 0),
        fc.nat(),
        tsArb,
        (shape, pairs, pick, newTs) => {
          const [key, oldTs] = pairs[pick % pairs.length]!;
          fc.pre(newTs !== oldTs);
          const changed = pairs.map(([k, ts]): [string, Timestamp] => [k, k === key ? newTs : ts]);
          const local = storeOf(pairs, shape);
          const remote = storeOf(changed, shape);
          expect(local.digest.root()).not.toEqual(remote.digest.root());
          expect(diffStores(local, remote)).toEqual([{ key, localTs: oldTs, remoteTs: newTs }]);
          expect(diffStores(remote, local)).toEqual([{ key, localTs: newTs, remoteTs: oldTs }]);
        },
      ),
      propertyOptions(),
    );
  });

  it('digest: changing one key’s ts is found with the default digest shape', () => {
    fc.assert(
      fc.property(pairsArb(80).filter((pairs) => pairs.length > 0), fc.nat(), tsArb, (pairs, pick, newTs) => {
        const [key, oldTs] = pairs[pick % pairs.length]!;
        fc.pre(newTs !== oldTs);
        const local = storeOf(pairs, DEFAULT);
        const remote = storeOf(pairs, DEFAULT);
        // Here the remote side receives a newer write the way a live store does.
        if (newTs > oldTs) expect(remote.apply(key, 'newer', newTs)).toBe('applied');
        else {
          remote.clear();
          for (const [k, ts] of pairs) remote.apply(k, null, k === key ? newTs : ts);
        }
        expect(diffStores(local, remote)).toEqual([{ key, localTs: oldTs, remoteTs: newTs }]);
      }),
      propertyOptions(),
    );
  });

  it('digest: a key only one side holds is reported with 0 for the other side', () => {
    fc.assert(
      fc.property(shapeArb, pairsArb(60).filter((pairs) => pairs.length > 0), fc.nat(), (shape, pairs, pick) => {
        const [key, ts] = pairs[pick % pairs.length]!;
        const full = storeOf(pairs, shape);
        const missing = storeOf(
          pairs.filter(([k]) => k !== key),
          shape,
        );
        expect(diffStores(full, missing)).toEqual([{ key, localTs: ts, remoteTs: 0 }]);
        expect(diffStores(missing, full)).toEqual([{ key, localTs: 0, remoteTs: ts }]);
      }),
      propertyOptions(),
    );
  });

  it('digest: k random differences among n elements are all found and nothing else', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('ts' as const), ts: tsArb }),
      fc.record({ kind: fc.constant('onlyLocal' as const) }),
      fc.record({ kind: fc.constant('onlyRemote' as const) }),
    );
    fc.assert(
      fc.property(
        shapeArb,
        pairsArb(200),
        fc.array(fc.tuple(fc.nat(), mutation), { maxLength: 12 }),
        pairsArb(5),
        (shape, pairs, mutations, extraRemote) => {
          const local: Pairs = new Map(pairs);
          const remote: Pairs = new Map(pairs);
          for (const [pick, m] of mutations) {
            if (pairs.length === 0) break;
            const [key] = pairs[pick % pairs.length]!;
            if (m.kind === 'ts') remote.set(key, m.ts);
            else if (m.kind === 'onlyLocal') remote.delete(key);
            else local.delete(key);
          }
          for (const [key, ts] of extraRemote) if (!local.has(key) && !remote.has(key)) remote.set(key, ts);
          const expected = expectedDiff(local, remote);
          const localStore = storeOf(local, shape);
          const remoteStore = storeOf(remote, shape);
          const found = diffStores(localStore, remoteStore);
          expect(byKey(found)).toEqual(expected);
          expect(new Set(found.map((d) => d.key)).size).toBe(found.length); // each key once
          expect(localStore.digest.root()[0] === remoteStore.digest.root()[0] && localStore.digest.root()[1] === remoteStore.digest.root()[1]).toBe(
            expected.length === 0,
          );
        },
      ),
      propertyOptions(),
    );
  });

  it('digest: diffStores refuses stores with different digest shapes', () => {
    const a = new ElementStore({ elementsMax: 10, digest: SMALL });
    const b = new ElementStore({ elementsMax: 10, digest: ODD });
    const c = new ElementStore({ elementsMax: 10, digest: { leafBits: 4, fanoutBits: 1 } });
    expect(() => diffStores(a, b)).toThrow(RangeError);
    expect(() => diffStores(a, b)).toThrow('digest shapes differ: 4/2 vs 5/2');
    expect(() => diffStores(a, c)).toThrow(RangeError);
    expect(diffStores(a, new ElementStore({ elementsMax: 10, digest: SMALL }))).toEqual([]);
  });

  it('digest: compareBucket reports differing and one-sided keys once each, sorted by key', () => {
    expect(
      compareBucket(
        [
          { key: 'node/z', ts: 3 },
          { key: 'node/a', ts: 1 },
          { key: 'node/same', ts: 5 },
        ],
        [
          { key: 'node/same', ts: 5 },
          { key: 'node/a', ts: 2 },
          { key: 'node/m', ts: 9 },
        ],
      ),
    ).toEqual([
      { key: 'node/a', localTs: 1, remoteTs: 2 },
      { key: 'node/m', localTs: 0, remoteTs: 9 },
      { key: 'node/z', localTs: 3, remoteTs: 0 },
    ]);
  });
});

/** Every node of every level, as read through nodeHashes: what a peer would be sent. */
function allNodes(digest: Digest): number[][] {
  const out: number[][] = [];
  for (let level = 0; level <= digest.depth; level++) {
    out.push([...digest.nodeHashes(level, Array.from({ length: digest.nodeCount(level) }, (_, i) => i))]);
  }
  return out;
}

describe('digest: inner levels recomputed on read', () => {
  it('digest: reads between writes at any level see every inner node as the XOR of its children, as a digest built in one go', () => {
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant('toggle' as const), key: keyArb, ts: tsArb }),
      fc.record({ kind: fc.constant('replace' as const), key: keyArb, from: tsArb, to: tsArb }),
      fc.record({ kind: fc.constant('read' as const), level: fc.nat({ max: 8 }) }),
    );
    // Shapes up to 2^8 leaves: the logic is the same at 2^16, the test a hundred times slower.
    const smallShapeArb = fc.record({ leafBits: fc.integer({ min: 0, max: 8 }), fanoutBits: fc.integer({ min: 1, max: 8 }) });
    fc.assert(
      fc.property(smallShapeArb, fc.array(opArb, { maxLength: 40 }), (shape, ops) => {
        const digest = new Digest(shape);
        /** The pair hashes the digest holds, XORed per leaf by the test itself. */
        const leaves = new Uint32Array(digest.leafCount * 2);
        const xorLeaf = (key: string, low: number, high: number): void => {
          const at = digest.bucketOf(hashKey(key)) * 2;
          leaves[at] = (leaves[at]! ^ low) >>> 0;
          leaves[at + 1] = (leaves[at + 1]! ^ high) >>> 0;
        };
        for (const op of ops) {
          if (op.kind === 'toggle') {
            digest.toggle(hashKey(op.key), op.ts);
            xorLeaf(op.key, pairHashLow(hashKey(op.key), op.ts), pairHashHigh(hashKey(op.key), op.ts));
          } else if (op.kind === 'replace') {
            const h = hashKey(op.key);
            digest.replace(h, op.from, op.to);
            xorLeaf(op.key, pairHashLow(h, op.from) ^ pairHashLow(h, op.to), pairHashHigh(h, op.from) ^ pairHashHigh(h, op.to));
          } else if (op.level <= digest.depth) digest.nodeHashes(op.level, [0]); // a read in between
        }
        const nodes = allNodes(digest);
        expect(nodes[digest.depth]).toEqual([...leaves]);
        // Bottom up, computed by the test: each inner node is the XOR of its children.
        for (let level = digest.depth - 1; level >= 0; level--) {
          const expected: number[] = [];
          for (let i = 0; i < digest.nodeCount(level); i++) {
            let low = 0;
            let high = 0;
            for (const child of digest.childrenOf(level, i)) {
              low = (low ^ nodes[level + 1]![child * 2]!) >>> 0;
              high = (high ^ nodes[level + 1]![child * 2 + 1]!) >>> 0;
            }
            expected.push(low, high);
          }
          expect(nodes[level]).toEqual(expected);
        }
        expect(digest.root()).toEqual([nodes[0]![0], nodes[0]![1]]);
      }),
      propertyOptions(),
    );
  });

  it('digest: clear() after writes leaves an all-zero tree at every level', () => {
    const digest = new Digest(ODD);
    digest.toggle(hashKey('s/a/p/1'), 7);
    digest.clear();
    for (const level of allNodes(digest)) expect(level.every((lane) => lane === 0)).toBe(true);
  });
});

describe('digest: tree shape and drill-down', () => {
  it('digest: every shape, including leafBits not a multiple of fanoutBits, is a tree whose leaves are reached once each', () => {
    fc.assert(
      fc.property(fc.record({ leafBits: fc.integer({ min: 0, max: 12 }), fanoutBits: fc.integer({ min: 1, max: 8 }) }), (shape) => {
        const digest = new Digest(shape);
        expect(digest.depth).toBe(Math.ceil(shape.leafBits / shape.fanoutBits));
        expect(digest.nodeCount(0)).toBe(1);
        expect(digest.nodeCount(digest.depth)).toBe(digest.leafCount);
        expect(digest.leafCount).toBe(2 ** shape.leafBits);
        let frontier = [0];
        for (let level = 0; level < digest.depth; level++) {
          const next = frontier.flatMap((i) => digest.childrenOf(level, i));
          expect(next).toEqual(Array.from({ length: digest.nodeCount(level + 1) }, (_, i) => i));
          expect(Math.max(...frontier.map((i) => digest.childrenOf(level, i).length))).toBeLessThanOrEqual(2 ** shape.fanoutBits);
          frontier = next;
        }
        expect(frontier).toHaveLength(digest.leafCount);
      }),
      propertyOptions(),
    );
  });

  it('digest: the 5/2 shape has levels of 1, 2, 8 and 32 nodes', () => {
    const digest = new Digest(ODD);
    expect(digest.depth).toBe(3);
    expect([0, 1, 2, 3].map((level) => digest.nodeCount(level))).toEqual([1, 2, 8, 32]);
    expect(digest.childrenOf(0, 0)).toEqual([0, 1]);
    expect(digest.childrenOf(1, 1)).toEqual([4, 5, 6, 7]);
    expect(digest.childrenOf(2, 7)).toEqual([28, 29, 30, 31]);
    expect(() => digest.childrenOf(3, 0)).toThrow();
    expect(() => digest.nodeCount(4)).toThrow();
  });

  it('digest: differingNodes returns [] for identical digests at every level', () => {
    for (const shape of [SMALL, ODD, DEFAULT, { leafBits: 0, fanoutBits: 1 }]) {
      const a = storeOf(
        [
          ['s/a/p/1', 5],
          ['node/x', 9],
        ],
        shape,
      ).digest;
      const b = storeOf(
        [
          ['node/x', 9],
          ['s/a/p/1', 5],
        ],
        shape,
      ).digest;
      for (let level = 0; level <= a.depth; level++) {
        const all = Array.from({ length: Math.min(a.nodeCount(level), 4096) }, (_, i) => i);
        expect(differingNodes(a, level, all, b.nodeHashes(level, all))).toEqual([]);
      }
      expect(differingNodes(a, 0, [], new Uint32Array(0))).toEqual([]);
    }
  });

  it('digest: differingNodes descends into children above the leaves and names leaf buckets at the bottom', () => {
    const a = new Digest(SMALL);
    const b = new Digest(SMALL);
    const h = hashKey('s/a/p/1');
    b.toggle(h, 1);
    const leaf = b.bucketOf(h);
    expect(differingNodes(a, 0, [0], b.nodeHashes(0, [0]))).toEqual([0, 1, 2, 3]);
    const level1 = differingNodes(a, 1, [0, 1, 2, 3], b.nodeHashes(1, [0, 1, 2, 3]));
    expect(level1).toEqual(a.childrenOf(1, leaf >>> 2));
    expect(differingNodes(a, 2, level1, b.nodeHashes(2, level1))).toEqual([leaf]);
    expect(() => differingNodes(a, 0, [0], new Uint32Array(4))).toThrow();
  });

  it('digest: the constructor refuses shapes outside leafBits 0..24 and fanoutBits 1..8', () => {
    for (const shape of [
      { leafBits: -1, fanoutBits: 2 },
      { leafBits: 25, fanoutBits: 2 },
      { leafBits: 1.5, fanoutBits: 2 },
      { leafBits: 4, fanoutBits: 0 },
      { leafBits: 4, fanoutBits: 9 },
    ]) {
      expect(() => new Digest(shape), JSON.stringify(shape)).toThrow();
    }
  });
});
