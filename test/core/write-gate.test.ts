/** Example-based tests of the write gate: each names one behaviour of DESIGN.md §2. */

import { describe, expect, it } from 'vitest';
import { ElementStore } from '../../src/core/element-store.ts';
import { type ReplicationUnit, type WriteGateLimits, type WriteRequest, WriteGate } from '../../src/core/write-gate.ts';

function setup(limits: Partial<WriteGateLimits> = {}, elementsMax = 100) {
  const store = new ElementStore({ elementsMax, digest: { leafBits: 4, fanoutBits: 2 } });
  const gate = new WriteGate(store, { queueLengthMax: 8, queuedMax: 64, groupSizeMax: 16, ...limits });
  const request = (key: string, ts: number, value: number | null = ts, deleted = false): WriteRequest => ({ key, ts, value, deleted, seq: 0, answer: undefined });
  const units = (): ReplicationUnit[] => {
    const out: ReplicationUnit[] = [];
    for (let u = gate.pollUnit(); u !== undefined; u = gate.pollUnit()) out.push(u);
    return out;
  };
  const answered = (): WriteRequest[] => {
    const out: WriteRequest[] = [];
    for (let r = gate.pollAnswered(); r !== undefined; r = gate.pollAnswered()) out.push(r);
    return out;
  };
  return { store, gate, request, units, answered };
}

describe('write gate', () => {
  it('write gate: creatingInFlightTsMin is the least ts of a unit in flight that creates an element', () => {
    const { store, gate, request, units } = setup();
    store.apply('s/1/old', 1, 5);
    expect(gate.creatingInFlightTsMin()).toBe(Number.POSITIVE_INFINITY);
    gate.submit(request('s/1/old', 7)); // the element exists: not creating
    gate.submit(request('s/1/new', 40));
    gate.submit(request('s/1/other', 30));
    gate.submit(request('s/1/other', 50)); // waits behind 30
    const [old, , other] = units();
    expect(gate.creatingInFlightTsMin()).toBe(30);
    gate.complete(other!, true);
    expect(gate.creatingInFlightTsMin()).toBe(40); // s/1/other exists now; its waiting request is no creation
    gate.complete(old!, true);
    expect(gate.creatingInFlightTsMin()).toBe(40);
  });

  it('write gate: a request for an idle element is dispatched at once and applied only on completion', () => {
    const { store, gate, request, units, answered } = setup();
    const r = request('s/1/meta', 10);
    gate.submit(r);
    const [unit] = units();
    expect(unit).toMatchObject({ key: 's/1/meta', ts: 10, value: 10, newElement: true });
    expect(store.get('s/1/meta')).toBeUndefined(); // replicate first (W3)
    expect(answered()).toEqual([]);
    gate.complete(unit!, true);
    expect(store.get('s/1/meta')).toMatchObject({ value: 10, ts: 10 });
    expect(answered().map((a) => a.answer)).toEqual([{ code: 'applied' }]);
  });

  it('write gate: requests waiting behind an in-flight update are processed in timestamp order as one group', () => {
    const { store, gate, request, units, answered } = setup();
    gate.submit(request('k', 10));
    const [first] = units();
    for (const ts of [30, 20, 25]) gate.submit(request('k', ts));
    expect(units()).toEqual([]); // blocked behind the in-flight update
    expect(gate.queueLength('k')).toBe(3);
    gate.complete(first!, true);
    const [group] = units();
    expect(group!.requests.map((r) => r.ts)).toEqual([20, 25, 30]);
    expect(group).toMatchObject({ ts: 30, value: 30 });
    gate.complete(group!, true);
    expect(answered().map((r) => [r.ts, r.answer!.code])).toEqual([
      [10, 'applied'],
      [20, 'applied'],
      [25, 'applied'],
      [30, 'applied'],
    ]);
    expect(store.get('k')!.ts).toBe(30);
  });

  it('write gate: a request not newer than the element is answered stale with the current ts', () => {
    const { gate, request, units, answered } = setup();
    gate.submit(request('k', 10));
    gate.complete(units()[0]!, true);
    answered();
    gate.submit(request('k', 10));
    gate.submit(request('k', 5));
    expect(answered().map((r) => r.answer)).toEqual([
      expect.objectContaining({ code: 'stale', currentTs: 10, ts: 10 }),
      expect.objectContaining({ code: 'stale', currentTs: 10, ts: 5 }),
    ]);
  });

  it('write gate: queued requests older than the update that completed are answered stale, not applied', () => {
    const { gate, request, units, answered } = setup();
    gate.submit(request('k', 10));
    const [first] = units();
    gate.submit(request('k', 7));
    gate.submit(request('k', 12));
    gate.complete(first!, true);
    const [group] = units();
    expect(group!.requests.map((r) => r.ts)).toEqual([12]);
    const stale = answered().find((r) => r.ts === 7)!;
    expect(stale.answer).toMatchObject({ code: 'stale', currentTs: 10 });
  });

  it('write gate: an equal timestamp waits for the group ahead of it, then is stale', () => {
    const { gate, request, units, answered } = setup();
    gate.submit(request('k', 1));
    const [first] = units();
    gate.submit(request('k', 5, 50));
    gate.submit(request('k', 5, 51));
    gate.complete(first!, true);
    const [group] = units();
    expect(group!.requests.map((r) => r.value)).toEqual([50]);
    gate.complete(group!, true);
    const second = answered().find((r) => r.value === 51)!;
    expect(second.answer).toMatchObject({ code: 'stale', currentTs: 5 });
  });

  it('write gate: a failed replication answers unavailable, applies nothing, and the queue moves on', () => {
    const { store, gate, request, units, answered } = setup();
    gate.submit(request('k', 10));
    const [first] = units();
    gate.submit(request('k', 11));
    gate.complete(first!, false);
    expect(store.get('k')).toBeUndefined();
    const [next] = units();
    expect(next!.ts).toBe(11);
    expect(answered()[0]!.answer).toMatchObject({ code: 'unavailable', reason: 'replication_failed' });
  });

  it('write gate: updates to different elements never wait on each other', () => {
    const { gate, request, units } = setup();
    gate.submit(request('a', 10));
    gate.submit(request('a', 11));
    gate.submit(request('b', 12));
    expect(units().map((u) => u.key)).toEqual(['a', 'b']);
  });

  it('write gate: an element queue at queueLengthMax answers queue_full for that element', () => {
    const { gate, request, units, answered } = setup({ queueLengthMax: 2 });
    gate.submit(request('k', 1));
    units();
    gate.submit(request('k', 2));
    gate.submit(request('k', 3));
    gate.submit(request('k', 4));
    expect(answered().map((r) => r.answer)).toEqual([expect.objectContaining({ code: 'queue_full', scope: 'element', limit: 2 })]);
    expect(gate.queueLength('k')).toBe(2);
  });

  it('write gate: queuedMax across elements answers queue_full for the node', () => {
    const { gate, request, units, answered } = setup({ queuedMax: 1 });
    gate.submit(request('a', 1));
    gate.submit(request('b', 1));
    units();
    gate.submit(request('a', 2));
    gate.submit(request('b', 2));
    expect(answered().map((r) => r.answer)).toEqual([expect.objectContaining({ code: 'queue_full', scope: 'node', limit: 1 })]);
  });

  it('write gate: a group holds at most groupSizeMax requests; the rest form the next group', () => {
    const { gate, request, units } = setup({ groupSizeMax: 2 });
    gate.submit(request('k', 1));
    const [first] = units();
    for (const ts of [2, 3, 4, 5, 6]) gate.submit(request('k', ts));
    gate.complete(first!, true);
    const [a] = units();
    expect(a!.requests.map((r) => r.ts)).toEqual([2, 3]);
    gate.complete(a!, true);
    expect(units()[0]!.requests.map((r) => r.ts)).toEqual([4, 5]);
  });

  it('write gate: a new element beyond elementsMax is rejected store_full, counting elements in flight', () => {
    const { gate, request, units, answered } = setup({}, 1);
    gate.submit(request('a', 1));
    gate.submit(request('b', 1));
    expect(units().map((u) => u.key)).toEqual(['a']);
    expect(answered()[0]!.answer).toMatchObject({ code: 'rejected', reason: 'store_full', key: 'b' });
  });

  it('write gate: a delete replicates a tombstone', () => {
    const { store, gate, request, units } = setup();
    gate.submit(request('k', 1, 1));
    gate.complete(units()[0]!, true);
    gate.submit(request('k', 2, null, true));
    const [unit] = units();
    expect(unit).toMatchObject({ deleted: true, ts: 2 });
    gate.complete(unit!, true);
    expect(store.get('k')).toMatchObject({ deleted: true, value: null, ts: 2 });
  });

  it('write gate: abortAll answers every waiting and in-flight request unavailable and forgets them', () => {
    const { gate, request, units, answered } = setup();
    gate.submit(request('k', 1));
    const [unit] = units();
    gate.submit(request('k', 2));
    gate.abortAll('demoted');
    expect(answered().map((r) => r.answer)).toEqual([
      expect.objectContaining({ code: 'unavailable', reason: 'demoted' }),
      expect.objectContaining({ code: 'unavailable', reason: 'demoted' }),
    ]);
    expect(gate.complete(unit!, true)).toBe(false);
    expect(gate.busyElementCount + gate.queuedCount + gate.inFlightCount).toBe(0);
  });

  it('write gate: a repair that raised the element meanwhile turns the completion into stale', () => {
    const { store, gate, request, units, answered } = setup();
    gate.submit(request('k', 5));
    const [unit] = units();
    store.apply('k', 'repaired', 9);
    gate.complete(unit!, true);
    expect(answered()[0]!.answer).toMatchObject({ code: 'stale', currentTs: 9 });
  });

  it('write gate: a repair that already copied the in-flight unit itself still answers applied', () => {
    const { store, gate, request, units, answered } = setup();
    gate.submit(request('k', 5));
    const [unit] = units();
    store.apply('k', 5, 5);
    gate.complete(unit!, true);
    expect(answered()[0]!.answer).toEqual({ code: 'applied' });
  });

  it('write gate: a busy tombstone is not collected, and the gate keeps one unit in flight per element', () => {
    const { store, gate, request, units } = setup();
    gate.submit(request('k', 1, null, true));
    gate.complete(units()[0]!, true);
    gate.submit(request('k', 2, null, true));
    const [unit] = units();
    expect(store.collectTombstones(10)).toBe(0); // the element has an update in flight
    gate.submit(request('k', 3));
    expect(units()).toEqual([]);
    gate.complete(unit!, true);
    expect(units()[0]!.ts).toBe(3);
  });

  it('write gate: an element created by a repair while its first write is in flight still has one unit in flight', () => {
    const { store, gate, request, units } = setup();
    gate.submit(request('k', 5));
    const [first] = units();
    store.apply('k', 'repaired', 3);
    gate.submit(request('k', 6));
    expect(units()).toEqual([]);
    expect(gate.queueLength('k')).toBe(1);
    gate.complete(first!, true);
    expect(units()[0]!.ts).toBe(6);
  });
});
