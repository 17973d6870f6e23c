import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Timestamp } from '../../src/core/clock.ts';
import { type DigestShape, hashKey, pairHashHigh, pairHashLow } from '../../src/core/digest.ts';
import { type Element, ElementStore } from '../../src/core/element-store.ts';
import { JsonText, type StoredValue } from '../../src/core/json-text.ts';
import { sessionOfKey } from '../../src/core/keys.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { propertyOptions } from '../support/property.ts';

const SMALL: DigestShape = { leafBits: 4, fanoutBits: 2 };

/** One write as the store receives it. A timestamp identifies one write. */
interface Update {
  readonly key: string;
  readonly value: JsonValue;
  readonly ts: Timestamp;
  readonly deleted: boolean;
}

const KEYS = [
  's/a/meta',
  's/a/p/1',
  's/a/p/2',
  's/a/p/2/t/cam',
  's/a/lobby/9',
  's/b/meta',
  's/b/p/1',
  's/room-3/p/x',
  's/ab/p/1', // a session whose id starts with another's
  'node/x',
  'node/y',
  'cfg',
];

const valueArb: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.constant(null),
  fc.record({ role: fc.constantFrom('host', 'guest'), muted: fc.boolean() }),
);

/** Writes with distinct timestamps (as HLC timestamps are), over a small key pool so keys collide. */
const updatesArb = (maxLength = 60): fc.Arbitrary<Update[]> =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: 5_000 }), { maxLength, size: 'max' })
    .chain((stamps) =>
      fc.tuple(
        ...stamps.map((ts) =>
          fc.record({
            key: fc.constantFrom(...KEYS),
            value: valueArb,
            ts: fc.constant(ts),
            deleted: fc.nat({ max: 3 }).map((n) => n === 0), // one write in four is a delete
          }),
        ),
      ),
    )
    .map((updates) => updates as Update[]);

/** The same updates, some repeated, in a random order. */
const delivery = (updates: readonly Update[]): fc.Arbitrary<Update[]> =>
  fc
    .array(fc.nat({ max: Math.max(0, updates.length - 1) }), { maxLength: updates.length === 0 ? 0 : 20 })
    .chain((repeats) => {
      const all = [...updates, ...repeats.map((i) => updates[i]!)];
      return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
    });

/** Reference model: per key, the write with the greatest ts. */
function model(updates: readonly Update[]): Map<string, Update> {
  const out = new Map<string, Update>();
  for (const u of updates) {
    const held = out.get(u.key);
    if (held === undefined || u.ts > held.ts) out.set(u.key, u);
  }
  return out;
}

type PlainElement = Pick<Element, 'key' | 'value' | 'ts' | 'deleted'>;

function asElement(u: Update): PlainElement {
  return { key: u.key, value: u.deleted ? null : u.value, ts: u.ts, deleted: u.deleted };
}

function plain(e: Element): PlainElement {
  return { key: e.key, value: e.value, ts: e.ts, deleted: e.deleted };
}

function storeOf(updates: readonly Update[], shape: DigestShape = SMALL): ElementStore {
  const store = new ElementStore({ elementsMax: 1_000, digest: shape });
  for (const u of updates) store.apply(u.key, u.value, u.ts, u.deleted);
  return store;
}

/** The digest root of a set of pairs, computed independently of any Digest: the XOR of the pair hashes. */
function xorRoot(pairs: Iterable<Update>): [number, number] {
  let low = 0;
  let high = 0;
  for (const u of pairs) {
    const h = hashKey(u.key);
    low = (low ^ pairHashLow(h, u.ts)) >>> 0;
    high = (high ^ pairHashHigh(h, u.ts)) >>> 0;
  }
  return [low, high];
}

/** What every index of a store says, in a form one toEqual can compare (one expect is much faster than hundreds). */
function viewOf(store: ElementStore, keys: readonly string[]) {
  const bucketOf: Record<string, number[]> = {};
  // With 65,536 leaves, only the buckets the keys hash to are read, to stay fast.
  const buckets =
    store.digest.leafCount <= 4096
      ? Array.from({ length: store.digest.leafCount }, (_, i) => i)
      : [...new Set(keys.map((key) => store.digest.bucketOf(hashKey(key))))];
  for (const bucket of buckets) {
    for (const e of store.bucketElements(bucket)) (bucketOf[e.key] ??= []).push(bucket);
  }
  const sessions: Record<string, { size: number; keys: string[] }> = {};
  for (const session of store.sessions()) {
    sessions[session] = { size: store.sessionSize(session), keys: [...store.sessionElements(session)].map((e) => e.key).sort() };
  }
  const byKey: Record<string, { element: PlainElement | undefined; has: boolean; currentTs: Timestamp }> = {};
  for (const key of keys) byKey[key] = { element: store.get(key) && plain(store.get(key)!), has: store.has(key), currentTs: store.currentTs(key) };
  return {
    size: store.size,
    tombstoneCount: store.tombstoneCount,
    newestTs: store.newestTs,
    entries: [...store.entries()].map(plain),
    changedSinceZero: store.changedSince(0).map(plain),
    byKey,
    sessions,
    bucketOf,
    root: store.digest.root(),
  };
}

/** Every index of `store` agrees with `expected` (the elements it should hold). */
function expectStoreHolds(store: ElementStore, expected: Map<string, Update>): void {
  const wanted = [...expected.values()].sort((a, b) => a.ts - b.ts).map(asElement);
  const sessions: Record<string, { size: number; keys: string[] }> = {};
  for (const e of wanted) {
    const session = sessionOfKey(e.key);
    if (session === undefined) continue;
    const entry = (sessions[session] ??= { size: 0, keys: [] });
    entry.size++;
    entry.keys.push(e.key);
  }
  for (const entry of Object.values(sessions)) entry.keys.sort();
  const byKey: Record<string, { element: PlainElement | undefined; has: boolean; currentTs: Timestamp }> = {};
  for (const e of wanted) byKey[e.key] = { element: e, has: true, currentTs: e.ts };
  const bucketOf: Record<string, number[]> = {};
  for (const e of wanted) bucketOf[e.key] = [store.digest.bucketOf(hashKey(e.key))];
  expect(viewOf(store, [...expected.keys()])).toEqual({
    size: expected.size,
    tombstoneCount: wanted.filter((e) => e.deleted).length,
    newestTs: wanted.at(-1)?.ts ?? 0,
    entries: wanted, // oldest first
    changedSinceZero: wanted,
    byKey,
    sessions,
    bucketOf, // each key in exactly one bucket, the one its hash names
    root: xorRoot(expected.values()),
  });
}

describe('element store: newer wins', () => {
  it('element store: any order of the same updates, with repeats, gives the model state and digest root', () => {
    fc.assert(
      fc.property(
        updatesArb().chain((updates) => fc.tuple(fc.constant(updates), delivery(updates), delivery(updates))),
        ([updates, first, second]) => {
          const expected = model(updates);
          const storeA = new ElementStore({ elementsMax: 1_000, digest: SMALL });
          // Each outcome matches the model at that moment: applied exactly when newer than what the key holds.
          const seen = new Map<string, Timestamp>();
          const outcomes: string[] = [];
          const modelOutcomes: string[] = [];
          for (const u of first) {
            outcomes.push(storeA.apply(u.key, u.value, u.ts, u.deleted));
            const held = seen.get(u.key) ?? 0;
            modelOutcomes.push(u.ts > held ? 'applied' : 'stale');
            if (u.ts > held) seen.set(u.key, u.ts);
          }
          expect(outcomes).toEqual(modelOutcomes);
          expectStoreHolds(storeA, expected);
          const storeB = storeOf(second);
          expectStoreHolds(storeB, expected);
          expect(storeB.digest.root()).toEqual(storeA.digest.root());
        },
      ),
      propertyOptions(),
    );
  });

  it('element store: the default digest shape agrees with the model too', () => {
    fc.assert(
      fc.property(
        updatesArb(30).chain((updates) => fc.tuple(fc.constant(updates), delivery(updates))),
        ([updates, order]) => {
          const store = new ElementStore();
          for (const u of order) store.apply(u.key, u.value, u.ts, u.deleted);
          expectStoreHolds(store, model(updates));
        },
      ),
      propertyOptions(),
    );
  });

  it('element store: a write at an equal or older ts is stale and changes nothing', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    expect(store.apply('s/a/p/1', { role: 'host' }, 100)).toBe('applied');
    expect(store.apply('node/x', 1, 50)).toBe('applied');
    const root = store.digest.root();
    const before = [...store.entries()].map(plain);
    expect(store.apply('s/a/p/1', { role: 'guest' }, 100)).toBe('stale');
    expect(store.apply('s/a/p/1', { role: 'guest' }, 99)).toBe('stale');
    expect(store.apply('s/a/p/1', null, 100, true)).toBe('stale');
    expect(store.apply('s/a/p/1', null, 1, true)).toBe('stale');
    expect([...store.entries()].map(plain)).toEqual(before);
    expect(store.digest.root()).toEqual(root);
    expect(store.tombstoneCount).toBe(0);
    expect(store.changedSince(50).map((e) => e.key)).toEqual(['s/a/p/1']);
    expect(store.apply('s/a/p/1', { role: 'guest' }, 101)).toBe('applied');
    expect(store.get('s/a/p/1')?.value).toEqual({ role: 'guest' });
  });
});

describe('element store: tombstones', () => {
  it('element store: a delete leaves a tombstone with value null that get() still returns', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    store.apply('s/a/p/1', { role: 'host' }, 10);
    store.apply('s/a/p/2', { role: 'guest' }, 11);
    expect(store.apply('s/a/p/1', { ignored: true }, 12, true)).toBe('applied');
    expect(plain(store.get('s/a/p/1')!)).toEqual({ key: 's/a/p/1', value: null, ts: 12, deleted: true });
    expect(store.tombstoneCount).toBe(1);
    expect(store.size).toBe(2);
    expect(store.sessionSize('a')).toBe(2);
    expect(store.changedSince(11).map(plain)).toEqual([{ key: 's/a/p/1', value: null, ts: 12, deleted: true }]);
    // A delete of a key never seen is a tombstone too.
    expect(store.apply('s/a/lobby/3', 'x', 13, true)).toBe('applied');
    expect(store.get('s/a/lobby/3')).toMatchObject({ value: null, deleted: true, ts: 13 });
    expect(store.tombstoneCount).toBe(2);
    // A newer write revives a tombstone.
    expect(store.apply('s/a/p/1', { role: 'guest' }, 14)).toBe('applied');
    expect(plain(store.get('s/a/p/1')!)).toEqual({ key: 's/a/p/1', value: { role: 'guest' }, ts: 14, deleted: false });
    expect(store.tombstoneCount).toBe(1);
  });

  it('element store: collectTombstones removes exactly the tombstones at or below tsMax', () => {
    fc.assert(
      fc.property(
        updatesArb().chain((updates) => fc.tuple(fc.constant(updates), delivery(updates), fc.integer({ min: 0, max: 5_001 }))),
        ([updates, order, tsMax]) => {
          const store = storeOf(order);
          const expected = model(updates);
          const due = [...expected.values()].filter((u) => u.deleted && u.ts <= tsMax);
          expect(store.collectTombstones(tsMax)).toBe(due.length);
          for (const u of due) expected.delete(u.key);
          expectStoreHolds(store, expected);
          for (const u of due) {
            expect(store.get(u.key)).toBeUndefined();
            // Collected: its old write, or anything up to the collected ts, is stale now…
            expect(store.apply(u.key, 'late', u.ts)).toBe('stale');
            expect(store.apply(u.key, 'late', u.ts - 1)).toBe('stale');
          }
          expectStoreHolds(store, expected);
          // …and a write newer than every collected tombstone applies.
          const collectedMax = Math.max(0, ...due.map((u) => u.ts));
          for (const u of due) expect(store.currentTs(u.key)).toBe(collectedMax);
          for (const [i, u] of due.entries()) {
            expect(store.apply(u.key, 'back', collectedMax + 1 + i)).toBe('applied');
            expect(store.get(u.key)).toMatchObject({ value: 'back', deleted: false });
          }
        },
      ),
      propertyOptions(),
    );
  });

  it('element store: collectTombstones with a limit removes the oldest tombstones first', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    store.apply('s/a/p/1', null, 30, true);
    store.apply('s/a/p/2', null, 10, true);
    store.apply('s/a/p/3', null, 20, true);
    store.apply('s/a/p/4', 'live', 5);
    expect(store.collectTombstones(100, 2)).toBe(2);
    expect(store.has('s/a/p/2')).toBe(false);
    expect(store.has('s/a/p/3')).toBe(false);
    expect(store.has('s/a/p/1')).toBe(true);
    expect(store.has('s/a/p/4')).toBe(true);
    expect(store.tombstoneCount).toBe(1);
    expect(store.apply('s/a/p/3', 'again', 20)).toBe('stale');
    expect(store.apply('s/a/p/3', 'again', 21)).toBe('applied');
  });

  it('element store: collectTombstones keeps live elements and newer tombstones', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    store.apply('s/a/p/1', 'live', 5);
    store.apply('s/a/p/2', null, 6, true);
    store.apply('s/a/p/3', null, 9, true);
    expect(store.collectTombstones(8)).toBe(1);
    expect(store.get('s/a/p/1')?.value).toBe('live');
    expect(store.get('s/a/p/2')).toBeUndefined();
    expect(store.get('s/a/p/3')?.deleted).toBe(true);
    expect(store.collectTombstones(8)).toBe(0);
    expect(store.currentTs('s/a/p/2')).toBe(6);
  });

  it('element store: removeCollected removes exactly the listed keys held at their listed ts, keeps the rest, and raises collectedTsMax to the largest listed ts', () => {
    fc.assert(
      fc.property(
        updatesArb().chain((updates) =>
          fc.tuple(
            fc.constant(updates),
            delivery(updates),
            // A list names held (key, ts) pairs, pairs at another ts (older writes) and keys never written.
            fc.array(fc.tuple(fc.constantFrom(...KEYS, 's/zz/p/none'), fc.integer({ min: 1, max: 5_000 }), fc.boolean()), { maxLength: 12 }),
            fc.subarray(KEYS),
          ),
        ),
        ([updates, order, picks, busyKeys]) => {
          const store = storeOf(order);
          const expected = model(updates);
          // Half the picks name the held element's exact ts, the others a random ts.
          const entries = picks.map(([key, ts, exact]) => ({ key, ts: exact && expected.has(key) ? expected.get(key)!.ts : ts }));
          for (const key of busyKeys) {
            const handle = store.handle(key);
            if (handle !== undefined) handle.writer = 'busy';
          }
          const before = store.collectedTsMax;
          const removed = new Set<string>();
          for (const { key, ts } of entries) if (expected.get(key)?.ts === ts && !busyKeys.includes(key)) removed.add(key);
          expect(store.removeCollected(entries)).toBe(removed.size);
          expect(store.collectedCount).toBe(removed.size);
          for (const key of removed) expected.delete(key);
          // The same list again removes nothing more: a resent collect frame is harmless.
          expect(store.removeCollected(entries)).toBe(0);
          for (const key of busyKeys) {
            const handle = store.handle(key);
            if (handle !== undefined) handle.writer = undefined;
          }
          expectStoreHolds(store, expected);
          const bound = Math.max(before, ...entries.map((e) => e.ts));
          expect(store.collectedTsMax).toBe(bound);
          for (const key of removed) {
            expect(store.apply(key, 'late', bound)).toBe('stale');
            expect(store.currentTs(key)).toBe(bound);
          }
        },
      ),
      propertyOptions(),
    );
  });

  it('element store: removeCollected keeps a key written again after it was listed, and a busy one', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    store.apply('s/a/p/1', null, 5, true);
    store.apply('s/a/p/1', 'back', 7); // written again: no longer the listed tombstone
    store.apply('s/a/p/2', null, 6, true);
    store.handle('s/a/p/2')!.writer = 'busy';
    store.apply('s/a/p/3', null, 4, true);
    expect(store.removeCollected([{ key: 's/a/p/1', ts: 5 }, { key: 's/a/p/2', ts: 6 }, { key: 's/a/p/3', ts: 4 }])).toBe(1);
    expect(store.get('s/a/p/1')).toMatchObject({ value: 'back', ts: 7 });
    expect(store.get('s/a/p/2')).toMatchObject({ deleted: true, ts: 6 });
    expect(store.has('s/a/p/3')).toBe(false);
    expect(store.collectedTsMax).toBe(6);
    expect(store.dueTombstones(100)).toEqual([]); // the busy one is not due
    store.handle('s/a/p/2')!.writer = undefined;
    expect(store.dueTombstones(100)).toEqual([{ key: 's/a/p/2', ts: 6 }]);
  });

  it('element store: dueTombstones lists the oldest tombstones at or below tsMax and changes nothing', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    store.apply('s/a/p/1', null, 30, true);
    store.apply('s/a/p/2', null, 10, true);
    store.apply('s/a/p/3', null, 20, true);
    store.apply('s/a/p/4', 'live', 5);
    const root = store.digest.root();
    expect(store.dueTombstones(25, 1)).toEqual([{ key: 's/a/p/2', ts: 10 }]);
    expect(store.dueTombstones(25).sort((a, b) => a.ts - b.ts)).toEqual([{ key: 's/a/p/2', ts: 10 }, { key: 's/a/p/3', ts: 20 }]);
    expect(store.digest.root()).toEqual(root);
    expect(store.tombstoneCount).toBe(3);
  });

  it('element store: restore inserts a missing key at or below collectedTsMax, and only a missing one', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    const other = new ElementStore({ elementsMax: 10, digest: SMALL });
    store.apply('s/a/p/1', null, 5, true);
    store.apply('s/a/p/2', null, 9, true);
    other.apply('s/a/p/1', null, 5, true);
    store.collectTombstones(9);
    expect(store.apply('s/a/p/1', null, 5, true)).toBe('stale');
    expect(store.restore('s/a/p/1', null, 5, true)).toBe('applied');
    expect(store.restore('s/a/p/1', null, 5, true)).toBe('stale');
    expect(store.get('s/a/p/1')).toMatchObject({ deleted: true, ts: 5 });
    expect(store.digest.root()).toEqual(other.digest.root());
    expect(store.collectedTsMax).toBe(9);
  });

  it('element store: raiseCollectedTsMax only raises the bound', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    store.raiseCollectedTsMax(40);
    store.raiseCollectedTsMax(20);
    expect(store.collectedTsMax).toBe(40);
    expect(store.apply('s/a/p/1', 1, 40)).toBe('stale');
    expect(store.apply('s/a/p/1', 1, 41)).toBe('applied');
  });
});

describe('element store: capacity', () => {
  it('element store: an insert beyond elementsMax answers full and changes nothing', () => {
    const store = new ElementStore({ elementsMax: 3, digest: SMALL });
    expect(store.apply('s/a/p/1', 1, 1)).toBe('applied');
    expect(store.apply('s/a/p/2', 2, 2)).toBe('applied');
    expect(store.apply('s/a/p/3', null, 3, true)).toBe('applied');
    const root = store.digest.root();
    const before = [...store.entries()].map(plain);
    expect(store.apply('s/b/p/1', 4, 4)).toBe('full');
    expect(store.apply('node/x', null, 5, true)).toBe('full');
    expect(store.has('s/b/p/1')).toBe(false);
    expect(store.size).toBe(3);
    expect([...store.sessions()]).toEqual(['a']);
    expect(store.digest.root()).toEqual(root);
    expect([...store.entries()].map(plain)).toEqual(before);
    expect(store.newestTs).toBe(3);
    // Existing elements can still change while the store is full.
    expect(store.apply('s/a/p/1', 'changed', 6)).toBe('applied');
    expect(store.apply('s/a/p/2', null, 7, true)).toBe('applied');
    // Collecting tombstones makes room.
    expect(store.collectTombstones(7)).toBe(2);
    expect(store.apply('s/b/p/1', 4, 8)).toBe('applied');
    expect(store.size).toBe(2);
  });
});

describe('element store: indexes', () => {
  it('element store: sessions, sessionSize and sessionElements follow inserts, tombstones and collection', () => {
    const store = new ElementStore({ elementsMax: 100, digest: SMALL });
    store.apply('s/a/meta', { title: 'A' }, 1);
    store.apply('s/a/p/1', { role: 'host' }, 2);
    store.apply('s/b/meta', { title: 'B' }, 3);
    store.apply('node/x', 'not in a session', 4);
    expect([...store.sessions()].sort()).toEqual(['a', 'b']);
    expect(store.sessionSize('a')).toBe(2);
    expect(store.sessionSize('b')).toBe(1);
    expect(store.sessionSize('zzz')).toBe(0);
    expect([...store.sessionElements('zzz')]).toEqual([]);
    expect([...store.sessionElements('a')].map((e) => e.key).sort()).toEqual(['s/a/meta', 's/a/p/1']);
    // A tombstone still belongs to its session until collected.
    store.apply('s/b/meta', null, 5, true);
    expect(store.sessionSize('b')).toBe(1);
    expect([...store.sessionElements('b')].map(plain)).toEqual([{ key: 's/b/meta', value: null, ts: 5, deleted: true }]);
    store.collectTombstones(5);
    expect([...store.sessions()]).toEqual(['a']);
    expect(store.sessionSize('b')).toBe(0);
    expect([...store.sessionElements('b')]).toEqual([]);
    store.apply('s/b/p/9', 'back', 6);
    expect([...store.sessions()].sort()).toEqual(['a', 'b']);
  });

  it('element store: changedSince(ts) returns exactly the elements newer than ts, oldest first', () => {
    fc.assert(
      fc.property(
        updatesArb().chain((updates) =>
          fc.tuple(
            fc.constant(updates),
            delivery(updates),
            fc.oneof(fc.integer({ min: 0, max: 5_001 }), fc.constantFrom(0, ...updates.map((u) => u.ts))),
          ),
        ),
        ([updates, order, since]) => {
          const store = storeOf(order);
          const expected = [...model(updates).values()]
            .filter((u) => u.ts > since)
            .sort((a, b) => a.ts - b.ts)
            .map(asElement);
          expect(store.changedSince(since).map(plain)).toEqual(expected);
          // entries() is sorted by ts and holds everything.
          const all = [...store.entries()];
          expect(all.map((e) => e.ts)).toEqual(all.map((e) => e.ts).sort((a, b) => a - b));
          expect(all.length).toBe(store.size);
          expect(store.changedSince(0).map(plain)).toEqual(all.map(plain));
        },
      ),
      propertyOptions(),
    );
  });

  it('element store: changedSince(newestTs) is empty and changedSince sees an element move to the newest end', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    store.apply('node/a', 1, 10);
    store.apply('node/b', 2, 30);
    store.apply('node/c', 3, 20); // out of order
    expect(store.changedSince(store.newestTs)).toEqual([]);
    expect(store.changedSince(10).map((e) => e.key)).toEqual(['node/c', 'node/b']);
    store.apply('node/a', 4, 40);
    expect(store.changedSince(10).map((e) => e.key)).toEqual(['node/c', 'node/b', 'node/a']);
    expect([...store.entries()].map((e) => e.ts)).toEqual([20, 30, 40]);
  });

  it('element store: bucketElements partitions the elements among the digest leaf buckets', () => {
    const store = new ElementStore({ elementsMax: 1_000, digest: SMALL });
    const keys = Array.from({ length: 200 }, (_, i) => `s/s${i % 7}/p/${i}`);
    keys.forEach((key, i) => store.apply(key, i, i + 1));
    let total = 0;
    const seen = new Set<string>();
    for (let bucket = 0; bucket < store.digest.leafCount; bucket++) {
      for (const e of store.bucketElements(bucket)) {
        expect(store.digest.bucketOf(hashKey(e.key))).toBe(bucket);
        seen.add(e.key);
        total++;
      }
    }
    expect(total).toBe(200);
    expect(seen.size).toBe(200);
    expect(() => store.bucketElements(store.digest.leafCount)).toThrow();
    expect(() => store.bucketElements(-1)).toThrow();
  });

  it('element store: clear() empties every index, zeroes the digest and forgets collected tombstones', () => {
    const store = new ElementStore({ elementsMax: 100, digest: SMALL });
    store.apply('s/a/meta', 1, 1);
    store.apply('s/a/p/1', null, 2, true);
    store.apply('node/x', 3, 3);
    store.apply('node/y', null, 4, true);
    store.collectTombstones(2);
    expect(store.digest.root()).not.toEqual([0, 0]);
    store.clear();
    expect(store.size).toBe(0);
    expect(store.tombstoneCount).toBe(0);
    expect(store.newestTs).toBe(0);
    expect([...store.entries()]).toEqual([]);
    expect(store.changedSince(0)).toEqual([]);
    expect([...store.sessions()]).toEqual([]);
    expect(store.sessionSize('a')).toBe(0);
    for (let bucket = 0; bucket < store.digest.leafCount; bucket++) expect(store.bucketElements(bucket)).toEqual([]);
    expect(store.digest.root()).toEqual([0, 0]);
    for (let level = 0; level <= store.digest.depth; level++) {
      const all = Array.from({ length: store.digest.nodeCount(level) }, (_, i) => i);
      expect([...store.digest.nodeHashes(level, all)].every((lane) => lane === 0)).toBe(true);
    }
    expect(store.currentTs('s/a/p/1')).toBe(0);
    expect(store.apply('s/a/p/1', 'fresh', 1)).toBe('applied');
    expect(store.digest.root()).toEqual(storeOf([{ key: 's/a/p/1', value: 'fresh', ts: 1, deleted: false }]).digest.root());
  });

  it('element store: an empty store has an all-zero digest root', () => {
    expect(new ElementStore({ elementsMax: 1, digest: SMALL }).digest.root()).toEqual([0, 0]);
    expect(new ElementStore().digest.root()).toEqual([0, 0]);
  });
});

describe('element store: catch-up order', () => {
  it('element store: a catch-up stream (oldest first) interleaved with live writes at the newest end gives every index and the digest of any order', () => {
    // Old elements stream in ts order, as a snapshot does; live writes (newer than all of them,
    // some to the same keys, some deletes) arrive in between: the ts list links both ends.
    const interleavedArb = updatesArb(80).chain((updates) => {
      const sorted = [...updates].sort((a, b) => a.ts - b.ts);
      return fc.tuple(fc.constant(updates), fc.nat({ max: sorted.length }), fc.array(fc.boolean(), { minLength: sorted.length, maxLength: sorted.length }));
    });
    fc.assert(
      fc.property(interleavedArb, ([updates, split, picks]) => {
        const sorted = [...updates].sort((a, b) => a.ts - b.ts);
        const snapshot = sorted.slice(0, split);
        const live = sorted.slice(split);
        const order: Update[] = [];
        let s = 0;
        let l = 0;
        for (const pickLive of picks) {
          if ((pickLive && l < live.length) || s === snapshot.length) order.push(live[l++]!);
          else order.push(snapshot[s++]!);
        }
        const store = storeOf(order);
        expectStoreHolds(store, model(updates));
        expect(store.digest.root()).toEqual(storeOf(updates).digest.root());
      }),
      propertyOptions(),
    );
  });
});

describe('element store: the oldest-first walk', () => {
  it('element store: a walk interleaved with writes, replayed with those writes on an empty store, rebuilds the store (a catch-up)', () => {
    // What a snapshot sends (the walk up to the newest ts at its start) plus what live writes
    // send meanwhile (every write after the start) must give a secondary exactly the primary's
    // state, whichever elements the writes update, delete or create around the walk's position.
    const scriptArb = fc.array(fc.record({ walk: fc.boolean(), key: fc.constantFrom(...KEYS), deleted: fc.nat({ max: 3 }).map((n) => n === 0) }), { maxLength: 200 });
    fc.assert(
      fc.property(updatesArb(60), scriptArb, (initial, script) => {
        const store = storeOf(initial);
        const replica = new ElementStore({ elementsMax: 1_000, digest: SMALL });
        store.startWalk();
        expect(store.peekWalk()).toBe(store.entries().next().value);
        const until = store.newestTs;
        let ts = Math.max(until, 5_000);
        const sent = new Set<string>();
        let walking = true;
        const step = (): void => {
          const handle = store.walkNext();
          if (handle === undefined || handle.ts > until) {
            store.endWalk();
            walking = false;
            return;
          }
          expect(handle.removed).toBe(false);
          const id = `${handle.key}@${handle.ts}`;
          expect(sent.has(id), `${id} walked twice`).toBe(false);
          sent.add(id);
          replica.apply(handle.key, handle.storedValue, handle.ts, handle.deleted);
        };
        for (const op of script) {
          if (op.walk) {
            if (walking) step();
            continue;
          }
          ts++;
          const value = op.deleted ? null : { at: ts };
          expect(store.apply(op.key, value, ts, op.deleted)).toBe('applied');
          replica.apply(op.key, value, ts, op.deleted);
        }
        while (walking) step();
        expect(store.peekWalk()).toBeUndefined();
        expect(replica.size).toBe(store.size);
        expect(replica.digest.root()).toEqual(store.digest.root());
        expect([...replica.entries()].map((e) => [e.key, e.ts, e.value])).toEqual([...store.entries()].map((e) => [e.key, e.ts, e.value]));
      }),
      propertyOptions(),
    );
  });

  it('element store: a walk skips an element removed before it is reached and ends with clear()', () => {
    const store = new ElementStore({ elementsMax: 100, digest: SMALL });
    store.apply('s/a/p/1', null, 10, true);
    store.apply('s/a/p/2', { n: 2 }, 20);
    store.apply('s/a/p/3', { n: 3 }, 30);
    store.startWalk();
    expect(store.collectTombstones(10)).toBe(1); // the oldest, the walk's next element
    expect(store.walkNext()?.key).toBe('s/a/p/2');
    store.clear();
    expect(store.walkNext()).toBeUndefined();
    expect(store.peekWalk()).toBeUndefined();
  });
});

describe('element store: values as JSON text', () => {
  it('element store: applyText is apply of the same JsonText: same outcomes, indexes, digest and stored text', () => {
    fc.assert(
      fc.property(
        updatesArb().chain((updates) => delivery(updates)),
        (order) => {
          const byText = new ElementStore({ elementsMax: 1_000, digest: SMALL });
          const byValue = new ElementStore({ elementsMax: 1_000, digest: SMALL });
          const outcomes: [string, string][] = [];
          for (const u of order) {
            const text = JSON.stringify(u.value);
            const bytes = new TextEncoder().encode(text).length;
            outcomes.push([byText.applyText(u.key, text, bytes, u.ts, u.deleted), byValue.apply(u.key, new JsonText(text, bytes), u.ts, u.deleted)]);
          }
          expect(outcomes.map(([a]) => a)).toEqual(outcomes.map(([, b]) => b));
          const stored = (store: ElementStore) => [...store.entries()].map((e) => [e.key, e.deleted, e.storedValue instanceof JsonText ? [e.storedValue.text, e.storedValue.byteLength] : e.storedValue]);
          expect(stored(byText)).toEqual(stored(byValue));
          expect(viewOf(byText, KEYS)).toEqual(viewOf(byValue, KEYS));
        },
      ),
      propertyOptions(),
    );
  });

  it('element store: JSON text comes back as the same text and size, a plain string stays a plain string', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    const text = '{"name":"Zoë 😀","n":1.50}';
    store.apply('s/a/p/1', JsonText.fromValidatedText(text), 1);
    store.apply('s/a/p/2', '{"not":"text"}', 2); // a JSON string value that happens to look like JSON
    const stored = store.get('s/a/p/1')!.storedValue;
    expect(stored).toBeInstanceOf(JsonText);
    expect([(stored as JsonText).text, (stored as JsonText).byteLength]).toEqual([text, new TextEncoder().encode(text).length]);
    expect(store.get('s/a/p/2')!.storedValue).toBe('{"not":"text"}');
    expect(store.get('s/a/p/2')!.value).toBe('{"not":"text"}');
    // Read by value: parsed once, and the text (not a re-encoding: 1.50 stays 1.50) is still what is sent on.
    expect(store.get('s/a/p/1')!.value).toEqual({ name: 'Zoë 😀', n: 1.5 });
    expect(store.get('s/a/p/1')!.value).toBe(store.get('s/a/p/1')!.value);
    expect((store.get('s/a/p/1')!.storedValue as JsonText).text).toBe(text);
    // Overwritten by a plain value, then by text again; a delete holds null.
    store.apply('s/a/p/1', { plain: true }, 3);
    expect(store.get('s/a/p/1')!.storedValue).toEqual({ plain: true });
    store.apply('s/a/p/1', JsonText.fromValidatedText('[1]'), 4);
    expect(store.get('s/a/p/1')!.value).toEqual([1]);
    store.apply('s/a/p/1', JsonText.fromValidatedText('"x"'), 5, true);
    expect([store.get('s/a/p/1')!.storedValue, store.get('s/a/p/1')!.value, store.get('s/a/p/1')!.deleted]).toEqual([null, null, true]);
  });

  it('element store: a value keeps its text and size through every kind of overwrite, up to the largest value', () => {
    const store = new ElementStore({ elementsMax: 10, digest: SMALL });
    const text = '{"name":"Zoë 😀"}';
    store.apply('s/a/p/1', JsonText.fromValidatedText(text), 1);
    const handle = store.handle('s/a/p/1')!;
    const writes: Array<[StoredValue, boolean]> = [[{ plain: true }, false], [JsonText.fromValidatedText(text), false], [JsonText.fromValidatedText('"x"'), true], [JsonText.fromValidatedText('[2]'), false]];
    let ts = 2;
    for (const [value, deleted] of writes) expect(store.applyToHandle(handle, value, ts++, deleted)).toBe('applied');
    const stored = handle.storedValue as JsonText;
    expect([stored.text, stored.byteLength, handle.value, handle.deleted]).toEqual(['[2]', 3, [2], false]);
    const big = `"${'x'.repeat(1024 * 1024 - 2)}"`;
    store.applyToHandle(handle, JsonText.fromValidatedText(big), ts++);
    expect((handle.storedValue as JsonText).byteLength).toBe(1024 * 1024);
  });
});
