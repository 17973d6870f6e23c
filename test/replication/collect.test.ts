/** Tombstone collection across the pair, through the in-memory network: rounds,
 *  the collect message, the bounds both stores judge missing keys by, bad
 *  collect frames, and the repair of tombstones one store collected alone. */

import { describe, expect, it } from 'vitest';
import { diffStores } from '../../src/core/sync-diff.ts';
import { collectEntriesPerFrame } from '../../src/replication/config.ts';
import { FrameDecoder, type Message, decodeBody, encodeFrame } from '../../src/replication/messages.ts';
import { WireWriter } from '../../src/replication/wire.ts';
import { Pair, type TestClient, pairStore, results } from '../support/pair-harness.ts';

const TIMINGS = { tombstoneRetentionMs: 1_000, tombstoneCollectIntervalMs: 500 };

function keyOf(i: number): string {
  return `s/room-${i % 7}/p/${i}`;
}

/** Records every message the primary sends the secondary. */
function recordToSecondary(pair: Pair): Message[] {
  const seen: Message[] = [];
  const poll = pair.primary.pollTransmit.bind(pair.primary);
  pair.primary.pollTransmit = () => {
    const out = poll();
    if (out?.kind === 'send') {
      const decoder = new FrameDecoder(1 << 24);
      for (const body of decoder.push(out.bytes) as Uint8Array[]) {
        if (body[0] === 13 || body[0] === 10 || body[0] === 21) seen.push(decodeBody(body));
      }
    }
    return out;
  };
  return seen;
}

/** Writes `count` elements, then deletes the even ones; returns the deleted keys. */
function writeAndDelete(pair: Pair, client: TestClient, count: number): string[] {
  for (let i = 0; i < count; i++) pair.update(client, keyOf(i), { i });
  pair.run();
  const deleted: string[] = [];
  for (let i = 0; i < count; i += 2) {
    pair.update(client, keyOf(i), null, 0, true);
    deleted.push(keyOf(i));
  }
  pair.run();
  return deleted;
}

function expectEqualStores(pair: Pair): void {
  expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
  expect(pair.secondaryStore.digest.root()).toEqual(pair.primaryStore.digest.root());
  expect(pair.secondaryStore.size).toBe(pair.primaryStore.size);
  expect(pair.secondaryStore.collectedTsMax).toBe(pair.primaryStore.collectedTsMax);
}

describe('tombstone collection', () => {
  it('collection: tombstones older than the retention are collected on both stores in collect frames; both end equal with the same bound', () => {
    const pair = new Pair({ timings: TIMINGS });
    const sent = recordToSecondary(pair);
    const a = pair.connectClient('a');
    pair.run();
    const deleted = writeAndDelete(pair, a, 40);
    expect(pair.primaryStore.tombstoneCount).toBe(20);
    pair.advance(400);
    // Younger than the retention: kept on both.
    expect(pair.primaryStore.tombstoneCount).toBe(20);
    expect(sent.filter((m) => m.type === 'collect')).toEqual([]);
    pair.advance(1_200);
    expect(pair.primaryStore.tombstoneCount).toBe(0);
    expect(pair.secondaryStore.tombstoneCount).toBe(0);
    expect(pair.primaryStore.size).toBe(20);
    expect(pair.primaryStore.collectedCount).toBe(20);
    expect(pair.secondary.collectedCount).toBe(20);
    const collects = sent.filter((m) => m.type === 'collect');
    expect(collects.flatMap((m) => m.entries.map((e) => e.key)).sort()).toEqual([...deleted].sort());
    expectEqualStores(pair);
    expect(pair.primaryStore.collectedTsMax).toBeGreaterThan(0);
    // Every collect entry was acknowledged like an element: nothing is left in flight.
    expect(pair.primary.replicationInFlight).toBe(0);
    // A collected key comes back with a fresh write, on both.
    const id = pair.update(a, deleted[0]!, { back: true });
    pair.run();
    expect(results(a).get(id)).toMatchObject({ code: 'applied' });
    expect(pair.secondaryStore.get(deleted[0]!)).toMatchObject({ value: { back: true } });
    expectEqualStores(pair);
  });

  it('collection: a round larger than a frame goes out in frames of at most collectEntriesPerFrame entries, each within frameBytesMax', () => {
    const limits = { frameBytesMax: 1200, keyLengthMax: 32, valueBytesMax: 64, windowElementsMax: 64 };
    const pair = new Pair({ timings: TIMINGS, limits });
    const perFrame = collectEntriesPerFrame(pair.limits);
    expect(perFrame).toBe(27);
    const sent = recordToSecondary(pair);
    const a = pair.connectClient('a');
    pair.run();
    writeAndDelete(pair, a, 200);
    pair.advance(2_000);
    const collects = sent.filter((m) => m.type === 'collect');
    expect(collects.reduce((n, m) => n + m.entries.length, 0)).toBe(100);
    expect(collects.length).toBeGreaterThanOrEqual(4);
    for (const m of collects) {
      expect(m.entries.length).toBeLessThanOrEqual(perFrame);
      expect(encodeFrame(m).length - 4).toBeLessThanOrEqual(limits.frameBytesMax);
    }
    expectEqualStores(pair);
  });

  it('collection: a write to a listed key after its collect frame left lands on both stores; an older explicit ts is stale on both', () => {
    const pair = new Pair({ timings: TIMINGS });
    const a = pair.connectClient('a');
    pair.run();
    const deleted = writeAndDelete(pair, a, 10);
    const listed = deleted[0]!;
    const tombstoneTs = pair.primaryStore.get(listed)!.ts;
    pair.advance(1_000);
    expect(pair.primaryStore.tombstoneCount).toBe(5);
    // Fire the round without delivering anything, then write before the secondary sees the collect.
    while (pair.primaryStore.has(listed)) {
      pair.nowMs += 50;
      pair.wallMs += 50;
      pair.primary.handleTimeout(pair.nowMs);
    }
    expect(pair.secondaryStore.has(listed)).toBe(true); // the collect frame is still on its way
    const bound = pair.primaryStore.collectedTsMax;
    expect(bound).toBeGreaterThanOrEqual(tombstoneTs);
    const fresh = pair.update(a, listed, { again: 1 });
    const older = pair.update(a, deleted[1]!, { late: 1 }, tombstoneTs + 1);
    pair.run();
    expect(results(a).get(fresh)).toMatchObject({ code: 'applied' });
    expect(results(a).get(older)).toMatchObject({ code: 'stale', ts: bound });
    expect(pair.primaryStore.get(listed)).toMatchObject({ value: { again: 1 }, deleted: false });
    expect(pair.secondaryStore.get(listed)).toMatchObject({ value: { again: 1 }, deleted: false });
    expect(pair.secondaryStore.has(deleted[1]!)).toBe(false);
    expectEqualStores(pair);
  });

  it('collection: no round runs while the secondary catches up; it runs once the secondary streams', () => {
    const pair = new Pair({ timings: { ...TIMINGS, linkTimeoutMs: 10_000 }, startSecondary: false, minReplicas: 0, limits: { windowElementsMax: 4 } });
    const a = pair.connectClient('a');
    pair.run();
    writeAndDelete(pair, a, 400);
    pair.restartSecondary();
    pair.run(6);
    expect(pair.primary.secondaryState).toBe('catching_up');
    // Let time pass past the retention while the catch-up is held back (nothing delivered).
    for (let i = 0; i < 30; i++) {
      pair.nowMs += 50;
      pair.wallMs += 50;
      pair.primary.handleTimeout(pair.nowMs);
    }
    expect(pair.primaryStore.tombstoneCount).toBe(200);
    pair.advance(3_000);
    expect(pair.primary.secondaryState).toBe('streaming');
    expect(pair.primaryStore.tombstoneCount).toBe(0);
    expectEqualStores(pair);
  });

  it('collection: with no secondary attached the primary collects alone; a secondary that attaches later holding those tombstones is repaired to equal (collect entries from the digest comparison)', () => {
    const pair = new Pair({ timings: TIMINGS });
    const a = pair.connectClient('a');
    pair.run();
    writeAndDelete(pair, a, 60);
    expectEqualStores(pair);
    // The secondary goes away holding the tombstones; the primary (minReplicas 1: it refuses writes) collects alone.
    const kept = pairStore();
    for (const e of pair.secondaryStore.entries()) kept.apply(e.key, e.value, e.ts, e.deleted);
    pair.killSecondary();
    pair.advance(2_000);
    expect(pair.primary.secondaryState).toBe('none');
    expect(pair.primaryStore.tombstoneCount).toBe(0);
    expect(kept.tombstoneCount).toBe(30);
    // It comes back with its old store: the digest comparison finds 30 keys only it holds, all at
    // or below the primary's collectedTsMax, which the primary cannot copy: it sends collect entries.
    pair.restartSecondary(kept);
    pair.advance(50);
    expect(pair.secondary.state).toBe('in_sync');
    expect(pair.secondaryStore.tombstoneCount).toBe(0);
    expectEqualStores(pair);
  });

  it('collection: a sync check with repair removes a tombstone the secondary alone still holds below the shared bound', () => {
    const pair = new Pair({ timings: TIMINGS });
    const a = pair.connectClient('a');
    pair.run();
    writeAndDelete(pair, a, 20);
    pair.advance(2_000);
    expect(pair.primaryStore.tombstoneCount).toBe(0);
    const bound = pair.primaryStore.collectedTsMax;
    // As if the secondary had missed one collect entry (it cannot, in one stream: this is a test of the repair).
    expect(pair.secondaryStore.restore('s/gone/p/1', null, bound - 16, true)).toBe('applied');
    pair.send(a, { type: 'check_request', requestId: 1, repair: false });
    pair.run();
    expect(a.received.find((m) => m.type === 'check_result' && m.requestId === 1)).toMatchObject({ inSync: false, differences: [{ key: 's/gone/p/1', primaryTs: 0, secondaryTs: bound - 16 }] });
    pair.send(a, { type: 'check_request', requestId: 2, repair: true });
    pair.run();
    expect(a.received.find((m) => m.type === 'check_result' && m.requestId === 2)).toMatchObject({ repaired: 1 });
    pair.send(a, { type: 'check_request', requestId: 3, repair: false });
    pair.run();
    expect(a.received.find((m) => m.type === 'check_result' && m.requestId === 3)).toMatchObject({ inSync: true });
    expectEqualStores(pair);
  });

  it('collection: an empty secondary that catches up from a snapshot adopts the primary collectedTsMax, and a restarted empty primary adopts the secondary one', () => {
    const pair = new Pair({ timings: TIMINGS, minReplicas: 0 });
    const a = pair.connectClient('a');
    pair.run();
    writeAndDelete(pair, a, 20);
    pair.advance(2_000);
    const bound = pair.primaryStore.collectedTsMax;
    expect(bound).toBeGreaterThan(0);
    pair.restartSecondary();
    pair.advance(50);
    expect(pair.secondary.state).toBe('in_sync');
    expect(pair.secondaryStore.collectedTsMax).toBe(bound);
    expectEqualStores(pair);

    const other = new Pair({ timings: TIMINGS, startSecondary: false });
    const copy = pairStore();
    copy.apply('s/x/p/1', { live: 1 }, bound - 32);
    copy.raiseCollectedTsMax(bound);
    other.restartSecondary(copy);
    other.advance(50);
    expect(other.primaryStore.collectedTsMax).toBe(bound);
    expect(other.primaryStore.get('s/x/p/1')).toMatchObject({ value: { live: 1 } });
    expect(diffStores(other.primaryStore, other.secondaryStore)).toEqual([]);
  });

  it('collection: a write creating a key below the bound a secondary brings, sent while it negotiates, is stale on both stores', () => {
    const pair = new Pair({ timings: TIMINGS, startSecondary: false });
    const base = (pair.wallMs - 1_735_689_600_000) * 4096;
    const copy = pairStore();
    copy.apply('s/x/p/1', { kept: 1 }, base - 4096 * 30 + 2);
    copy.raiseCollectedTsMax(base - 4096 * 10);
    const a = pair.connectClient('a');
    pair.run();
    pair.restartSecondary(copy);
    while (pair.primary.secondaryState !== 'negotiating') pair.run(1);
    // Judged against this primary's bound (0) when it arrives: a unit, held until the secondary's state is known.
    const id = pair.update(a, 's/new/p/1', { v: 1 }, base - 4096 * 20 + 3);
    pair.advance(100);
    expect(pair.secondary.state).toBe('in_sync');
    expect(results(a).get(id)).toMatchObject({ code: 'stale', ts: base - 4096 * 10 });
    expect(pair.secondaryStore.has('s/new/p/1')).toBe(false);
    expect(pair.primaryStore.has('s/new/p/1')).toBe(false);
    expect(pair.primaryStore.get('s/x/p/1')).toMatchObject({ value: { kept: 1 } });
    expectEqualStores(pair);
  });

  it('collection: in a digest catch-up, a unit for a key the secondary collected waits until the repair brought the key back there, so both apply it', () => {
    const pair = new Pair({ timings: TIMINGS, startSecondary: false, minReplicas: 0 });
    const base = (pair.wallMs - 1_735_689_600_000) * 4096;
    const key = 's/cold/p/1';
    const a = pair.connectClient('a');
    pair.run();
    pair.update(a, 's/other/p/1', { other: 1 }, base - 4096 * 60 + 3);
    pair.update(a, key, { v: 0 }, base - 4096 * 50 + 3);
    pair.run();
    pair.update(a, key, null, base - 4096 * 40 + 3, true);
    pair.run();
    expect(pair.primaryStore.get(key)).toMatchObject({ deleted: true, ts: base - 4096 * 40 + 3 });
    // The secondary comes back having collected that tombstone (its bound is above it), holding the rest:
    // the comparison finds one difference, newer here, and nothing to fetch, so it ends at once.
    const copy = pairStore();
    copy.apply('s/other/p/1', { other: 1 }, base - 4096 * 60 + 3);
    copy.raiseCollectedTsMax(base - 4096 * 10);
    pair.restartSecondary(copy);
    while (pair.primary.secondaryState !== 'negotiating') pair.run(1);
    // Newer than the primary's tombstone, older than the secondary's bound: held until the repair is sent.
    const id = pair.update(a, key, { v: 2 }, base - 4096 * 20 + 3);
    pair.advance(100);
    expect(pair.secondary.state).toBe('in_sync');
    expect(results(a).get(id)).toMatchObject({ code: 'applied' });
    expect(pair.secondaryStore.get(key)).toMatchObject({ value: { v: 2 }, ts: base - 4096 * 20 + 3 });
    expectEqualStores(pair);
  });

  it('collection: a collect frame with a sequence gap closes the link and changes nothing; the secondary comes back in sync', () => {
    const pair = new Pair({ timings: { tombstoneCollectIntervalMs: 0 } });
    const a = pair.connectClient('a');
    pair.run();
    writeAndDelete(pair, a, 10);
    const root = pair.secondaryStore.digest.root();
    const victim = keyOf(0);
    const ts = pair.secondaryStore.get(victim)!.ts;
    pair.sendRawToSecondary(encodeFrame({ type: 'collect', firstSeq: 1_000_000, entries: [{ key: victim, ts }] }));
    pair.run(1);
    expect(pair.secondary.state).toBe('disconnected');
    expect(pair.secondaryStore.digest.root()).toEqual(root);
    expect(pair.secondaryStore.get(victim)).toMatchObject({ deleted: true, ts });
    expect(pair.secondaryStore.collectedTsMax).toBe(0);
    pair.advance(2_000);
    expect(pair.secondary.state).toBe('in_sync');
    expectEqualStores(pair);
  });

  it('collection: a malformed collect frame (an entry ts that is no safe integer) closes the link and changes nothing', () => {
    const pair = new Pair({ timings: { tombstoneCollectIntervalMs: 0 } });
    const a = pair.connectClient('a');
    pair.run();
    writeAndDelete(pair, a, 10);
    const root = pair.secondaryStore.digest.root();
    const victim = keyOf(0);
    const ts = pair.secondaryStore.get(victim)!.ts;
    // firstSeq is right (every element so far, plus one): only the second entry is bad.
    const w = new WireWriter();
    w.u32(0).u8(13).f64(pair.secondary.appliedCount + 1).u32(2).shortString(victim).f64(ts).shortString(keyOf(2)).f64(Number.NaN);
    const bytes = w.finish();
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, bytes.length - 4);
    pair.sendRawToSecondary(bytes);
    pair.run(1);
    expect(pair.secondary.state).toBe('disconnected');
    expect(pair.secondaryStore.digest.root()).toEqual(root);
    expect(pair.secondaryStore.has(victim)).toBe(true);
    pair.advance(2_000);
    expect(pair.secondary.state).toBe('in_sync');
    expectEqualStores(pair);
  });
});
