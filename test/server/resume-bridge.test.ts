/** Resume across streams: the bridge from what a client's mirror holds to
 *  what the node holds (newer, older, missing and deleted keys, collected
 *  tombstones, a client that is ahead), the check of `known` as input, a
 *  property over random histories that the bridge — through the SDK's own
 *  stream — leaves the mirror equal to the node and tells each differing key
 *  once, and the hub answering with it when its ring cannot replay. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ClientMessage, KnownElement, ServerMessage } from '../../src/conference/api.ts';
import type { ElementState } from '../../src/conference/model.ts';
import { SessionStream } from '../../src/client/session-stream.ts';
import { ElementStore } from '../../src/core/element-store.ts';
import { Hub } from '../../src/server/hub.ts';
import { bridgeChanges, checkKnown } from '../../src/server/resume-bridge.ts';
import { MemoryStateNode, StoreReader } from '../../src/server/state-node.ts';
import { propertyOptions } from '../support/property.ts';

const at = (key: string, ts: number, value: ElementState['value'] = { v: ts }): ElementState => ({ key: `s/s1/${key}`, ts, value });
const known = (...pairs: [string, number][]): KnownElement[] => pairs.map(([key, ts]) => [`s/s1/${key}`, ts]);
const noDeletions = (): number => 0;

describe('resume bridge: the changes from a mirror to the node', () => {
  it('resume bridge: newer and missing elements are sent, equal ones are not, and keys the node no longer holds are deleted at its tombstone ts', () => {
    const node = [at('same', 5), at('newer', 9), at('missing', 7)];
    const deleted = new Map([['s/s1/gone', 12]]);
    const bridge = bridgeChanges(known(['same', 5], ['newer', 3], ['gone', 4]), node, (key) => deleted.get(key) ?? 0);
    expect(bridge).toEqual({ ok: true, changes: [at('missing', 7), at('newer', 9), { key: 's/s1/gone', ts: 12, value: null }] });
  });

  it('resume bridge: a mirror equal to the node needs no change; an empty mirror gets every element', () => {
    const node = [at('a', 5), at('b', 6)];
    expect(bridgeChanges(known(['a', 5], ['b', 6]), node, noDeletions)).toEqual({ ok: true, changes: [] });
    expect(bridgeChanges([], node, noDeletions)).toEqual({ ok: true, changes: node });
  });

  it('resume bridge: a key the client holds that the node never held or collected is deleted at the collected tombstone ts, if that is newer', () => {
    expect(bridgeChanges(known(['old', 4]), [], () => 20)).toEqual({ ok: true, changes: [{ key: 's/s1/old', ts: 20, value: null }] });
    expect(bridgeChanges(known(['old', 4]), [], () => 4)).toMatchObject({ ok: false, problem: expect.stringContaining('s/s1/old at ts 4') });
  });

  it('resume bridge: a client that holds a key at a newer ts than the node (the node is behind it) gets no bridge, with the key named', () => {
    expect(bridgeChanges(known(['a', 8]), [at('a', 5)], noDeletions)).toEqual({ ok: false, problem: "the client holds s/s1/a at ts 8, newer than this node's 5" });
  });
});

describe('resume bridge: known as input', () => {
  const resume = { stream: 'x-e1-1', seq: 3 };

  it('resume bridge: a well-formed known passes; one beyond resumeKnownMax is too_large; a duplicate, a foreign key or no resume is invalid_request', () => {
    expect(checkKnown('s1', resume, known(['a', 1], ['b', 2]), 2)).toBeUndefined();
    expect(checkKnown('s1', resume, [], 2)).toBeUndefined();
    expect(checkKnown('s1', resume, known(['a', 1], ['b', 2], ['c', 3]), 2)).toEqual({ code: 'too_large', message: 'message/known has 3 entries; limits.resumeKnownMax is 2: leave it out to get a snapshot' });
    expect(checkKnown('s1', resume, known(['a', 1], ['a', 2]), 5)).toEqual({ code: 'invalid_request', message: 'message/known/1: key "s/s1/a" is listed twice' });
    expect(checkKnown('s1', resume, [['s/s2/a', 1]], 5)).toEqual({ code: 'invalid_request', message: 'message/known/0: key "s/s2/a" is not an element of session "s1"' });
    expect(checkKnown('s1', resume, [['s/s1', 1]], 5)).toMatchObject({ code: 'invalid_request' });
    expect(checkKnown('s1', undefined, [], 5)).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('only with message/resume') });
  });
});

/** One write of a random history: which key, deleted or not. Timestamps are the positions, so they only grow. */
const KEYS = ['meta', 'p/a', 'p/b', 'hand/a', 'hand/b', 'track/a/audio'];
const historyArbitrary = fc.array(fc.record({ key: fc.nat(KEYS.length - 1), deleted: fc.boolean() }), { minLength: 0, maxLength: 40 });

describe('resume bridge: property', () => {
  it('resume bridge property: for any history, any per-key point the client saw it to, and any tombstone collection, the bridge through the SDK stream makes the mirror equal the node and tells each differing key once', () => {
    fc.assert(
      fc.property(historyArbitrary, fc.array(fc.nat(40), { minLength: KEYS.length, maxLength: KEYS.length }), fc.nat(45), (history, cuts, collectUpTo) => {
        const writes = history.map((w, i): ElementState => ({ key: `s/s1/${KEYS[w.key]}`, ts: (i + 1) * 16, value: w.deleted ? null : { n: i } }));
        // The node holds the whole history (W2: whatever a client saw is on it), some tombstones collected.
        const store = new ElementStore();
        for (const w of writes) store.apply(w.key, w.value, w.ts, w.value === null);
        store.collectTombstones(collectUpTo * 16);
        const nodeElements = new StoreReader(store).sessionElements('s1');
        // The client saw, per key, the first cuts[k] writes of that key (deltas in any interleaving of keys).
        const seen = KEYS.flatMap((key, k) => writes.filter((w) => w.key === `s/s1/${key}`).slice(0, cuts[k]!));
        const stream = new SessionStream('s1');
        stream.handleSnapshot({ type: 'snapshot', session: 's1', stream: 'old', seq: 0, elements: [], resumed: false, reason: null });
        stream.handleDelta({ type: 'delta', session: 's1', seq: 1, changes: seen });
        stream.takeChanges();
        const before = new Map(stream.mirror.elements().map((e) => [e.key, e.ts]));
        const subscribe = stream.subscribeMessage() as Extract<ClientMessage, { type: 'subscribe' }>;
        expect(checkKnown('s1', subscribe.resume, subscribe.known!, 2_000)).toBeUndefined();

        const bridge = bridgeChanges(subscribe.known!, nodeElements, (key) => store.currentTs(key));
        expect(bridge.ok).toBe(true);
        if (!bridge.ok) return;
        expect(stream.handleResumed({ type: 'resumed', session: 's1', stream: 'new', seq: 7, changes: bridge.changes, reason: 'test' })).toBe('bridged');
        const told = stream.takeChanges();

        const byKey = (elements: readonly ElementState[]) => Object.fromEntries(elements.map((e) => [e.key, [e.ts, e.value]]));
        expect(byKey(stream.mirror.elements())).toEqual(byKey(nodeElements));
        // Exactly the keys whose live state differs, each once, and every change took effect.
        const after = new Map(nodeElements.map((e) => [e.key, e.ts]));
        const differing = new Set([...before.keys(), ...after.keys()].filter((key) => before.get(key) !== after.get(key)));
        expect(told.map((c) => c.key).sort()).toEqual([...differing].sort());
        expect(told).toEqual(bridge.changes);
        expect(stream.position).toEqual({ stream: 'new', seq: 7 });
      }),
      propertyOptions(),
    );
  });

  it('resume bridge property: for any known list at all (a client ahead, foreign timestamps), the bridge is either refused or exact', () => {
    const knownArbitrary = fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), fc.integer({ min: 1, max: 50 })), { selector: ([key]) => key });
    const nodeArbitrary = fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), fc.integer({ min: 1, max: 50 })), { selector: ([key]) => key });
    fc.assert(
      fc.property(knownArbitrary, nodeArbitrary, fc.integer({ min: 0, max: 50 }), (client, node, deletedTs) => {
        const nodeElements = node.map(([key, ts]) => at(key, ts));
        const list = client.map(([key, ts]): KnownElement => [`s/s1/${key}`, ts]);
        const bridge = bridgeChanges(list, nodeElements, () => deletedTs);
        if (!bridge.ok) return;
        const mirror = new Map(list.map(([key, ts]) => [key, ts]));
        for (const change of bridge.changes) {
          expect(change.ts).toBeGreaterThan(mirror.get(change.key) ?? 0);
          if (change.value === null) mirror.delete(change.key);
          else mirror.set(change.key, change.ts);
        }
        expect(Object.fromEntries(mirror)).toEqual(Object.fromEntries(nodeElements.map((e) => [e.key, e.ts])));
        expect(new Set(bridge.changes.map((c) => c.key)).size).toBe(bridge.changes.length);
      }),
      propertyOptions(),
    );
  });
});

/** Records what the hub sends a subscriber after its first messages. */
function recorder(): { send(text: string): void; messages: ServerMessage[] } {
  const messages: ServerMessage[] = [];
  return { messages, send: (text) => messages.push(JSON.parse(text) as ServerMessage) };
}

const parse = (texts: readonly string[]): ServerMessage[] => texts.map((text) => JSON.parse(text) as ServerMessage);

async function write(node: MemoryStateNode, key: string, value: ElementState['value']): Promise<number> {
  const [outcome] = await node.write([{ key: `s/s1/${key}`, value }]);
  expect(outcome!.code).toBe('applied');
  return (outcome as { ts: number }).ts;
}

describe('hub: resume across streams', () => {
  const limits = { resumeDeltasMax: 2, resumeSessionsMax: 10, deltaChangesMax: 100 };

  it('hub: a resume from a stream this server never issued, with known, is answered resumed on the current stream with the bridge, then live deltas from its seq', async () => {
    const node = new MemoryStateNode();
    const hub = new Hub(node, limits, 'here');
    const watcher = recorder();
    hub.subscribe('s1', watcher, undefined);
    const metaTs = await write(node, 'meta', { title: 'x' });
    const handTs = await write(node, 'hand/a', { raisedAtMs: 1 });
    const goneTs = await write(node, 'hand/b', null); // a deletion the client has not seen
    const current = hub.snapshot('s1');

    const client = recorder();
    const first = parse(hub.subscribe('s1', client, { stream: 'elsewhere-e1-4', seq: 9 }, [['s/s1/meta', metaTs], ['s/s1/hand/b', 5]]));
    expect(first).toEqual([{
      type: 'resumed', session: 's1', stream: current.stream, seq: current.seq,
      changes: [{ key: 's/s1/hand/a', ts: handTs, value: { raisedAtMs: 1 } }, { key: 's/s1/hand/b', ts: goneTs, value: null }],
      reason: `stream "elsewhere-e1-4" is not this session's current stream ${JSON.stringify(current.stream)}`,
    }]);
    await write(node, 'hand/a', null);
    await Promise.resolve();
    expect(client.messages).toMatchObject([{ type: 'delta', seq: current.seq + 1, changes: [{ key: 's/s1/hand/a', value: null }] }]);
    hub.close();
  });

  it('hub: deltas no longer held are bridged too; within the ring known is not needed and the deltas are replayed', async () => {
    const node = new MemoryStateNode();
    const hub = new Hub(node, limits, 'here');
    const first = parse(hub.subscribe('s1', recorder(), undefined))[0] as Extract<ServerMessage, { type: 'snapshot' }>;
    const ts = await write(node, 'meta', { title: 'x' });
    await Promise.resolve();
    const within = parse(hub.subscribe('s1', recorder(), { stream: first.stream, seq: 0 }, []));
    expect(within.map((m) => m.type)).toEqual(['resumed', 'delta']);
    expect(within[0]).toEqual({ type: 'resumed', session: 's1', stream: first.stream, seq: 0 });
    for (let i = 0; i < 3; i++) {
      await write(node, 'hand/a', i % 2 === 0 ? { raisedAtMs: i } : null);
      await Promise.resolve();
    }
    const beyond = parse(hub.subscribe('s1', recorder(), { stream: first.stream, seq: 0 }, []));
    expect(beyond).toMatchObject([{ type: 'resumed', stream: first.stream, seq: 4, changes: [{ key: 's/s1/meta', ts }, { key: 's/s1/hand/a' }], reason: expect.stringContaining('no longer held') }]);
    hub.close();
  });

  it('hub: a client ahead of the node (it holds a newer ts) gets the flagged snapshot saying why no bridge exists; without known, the snapshot as before', async () => {
    const node = new MemoryStateNode();
    const hub = new Hub(node, limits, 'here');
    const ts = await write(node, 'meta', { title: 'x' });
    const ahead = parse(hub.subscribe('s1', recorder(), { stream: 'gone-e1-1', seq: 3 }, [['s/s1/meta', ts + 16]]));
    expect(ahead).toMatchObject([{ type: 'snapshot', resumed: false, reason: expect.stringContaining(`no exact bridge from the known elements: the client holds s/s1/meta at ts ${ts + 16}`) }]);
    const plain = parse(hub.subscribe('s1', recorder(), { stream: 'gone-e1-1', seq: 3 }));
    expect(plain).toMatchObject([{ type: 'snapshot', resumed: false, reason: 'stream "gone-e1-1" is not this session\'s current stream "here-e1-1"' }]);
    // A session this server holds no stream for at all: the same, with that reason.
    const other = parse(hub.subscribe('s2', recorder(), { stream: 'gone-e1-1', seq: 3 }, []));
    expect(other).toEqual([{ type: 'resumed', session: 's2', stream: 'here-e1-2', seq: 0, changes: [], reason: 'stream "gone-e1-1" is not held by this server' }]);
    hub.close();
  });

  it('hub: after an epoch change (the stream starts again) a subscriber resuming the old stream is bridged with nothing to change', async () => {
    const info = { nodeId: 1, role: 'secondary' as 'primary' | 'secondary', epoch: 1, primaryUrl: null };
    const node = new MemoryStateNode({ ...info, role: 'primary' });
    const status = node.status.bind(node);
    node.status = () => ({ ...status(), info });
    node.nodeInfo = () => info;
    const hub = new Hub(node, limits, 'here');
    const watcher = recorder();
    const snapshot = parse(hub.subscribe('s1', watcher, undefined))[0] as Extract<ServerMessage, { type: 'snapshot' }>;
    const ts = await write(node, 'meta', { title: 'x' });
    await Promise.resolve();
    info.epoch = 2;
    info.role = 'primary';
    hub.checkEpoch();
    const fresh = watcher.messages.at(-1) as Extract<ServerMessage, { type: 'snapshot' }>;
    expect(fresh.stream).toBe('here-e2-2');
    const back = parse(hub.subscribe('s1', recorder(), { stream: snapshot.stream, seq: 1 }, [['s/s1/meta', ts]]));
    expect(back).toEqual([{ type: 'resumed', session: 's1', stream: 'here-e2-2', seq: 0, changes: [], reason: `stream ${JSON.stringify(snapshot.stream)} is not this session's current stream "here-e2-2"` }]);
    hub.close();
  });
});
