/** Primary and secondary state machines wired through an in-memory network:
 *  the write path, catch-up, sync check and repair, and bad peers, without
 *  sockets or timers. */

import { describe, expect, it } from 'vitest';
import { diffStores } from '../../src/core/sync-diff.ts';
import { catchUpAckEvery, elementsPerFrame } from '../../src/replication/config.ts';
import { JsonText } from '../../src/core/json-text.ts';
import { FrameDecoder, decodeBody, encodeFrame } from '../../src/replication/messages.ts';
import { Pair, pairStore, results } from '../support/pair-harness.ts';

function keyOf(i: number): string {
  return `s/session-${i % 97}/p/${i % 13}`;
}

describe('replication pair', () => {
  it('replication: the secondary holds every element at its acknowledged ts before the acknowledgement arrives (W2)', () => {
    const pair = new Pair({ seed: 7 });
    pair.run();
    const writers = [pair.connectClient('a'), pair.connectClient('b'), pair.connectClient('c')];
    pair.run();
    let checked = 0;
    const keyOfRequest = new Map<string, string>();
    for (const writer of writers) {
      // Checked at the moment the acknowledgement reaches the client, not afterwards.
      writer.onMessage = (message) => {
        if (message.type !== 'result' || message.code !== 'applied') return;
        const key = keyOfRequest.get(`${writer.name}:${message.requestId}`)!;
        expect(pair.secondaryStore.currentTs(key)).toBeGreaterThanOrEqual(message.ts);
        checked++;
      };
    }
    const pending: { writer: (typeof writers)[number]; requestId: number; key: string }[] = [];
    for (let round = 0; round < 200; round++) {
      for (const writer of writers) {
        const key = keyOf(pair.random.below(400));
        const requestId = pair.update(writer, key, { round });
        keyOfRequest.set(`${writer.name}:${requestId}`, key);
        pending.push({ writer, requestId, key });
      }
      pair.run(pair.random.below(20));
    }
    pair.run();
    for (const { writer, requestId } of pending) {
      const result = results(writer).get(requestId)!;
      expect(result.code).toBe('applied');
    }
    expect(checked).toBe(pending.filter((p) => results(p.writer).get(p.requestId)!.code === 'applied').length);
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
  });

  it('replication: explicit out-of-order timestamps on one element apply in timestamp order on both stores; older ones are stale', () => {
    const pair = new Pair();
    const a = pair.connectClient('a');
    const b = pair.connectClient('b');
    pair.run();
    const base = pair.primary.gate.store.newestTs + (BigInt(0) === 0n ? 4096 * 1000 : 0);
    const key = 's/x/meta';
    const ids = [
      [a, pair.update(a, key, 'first', base + 16 * 5)],
      [b, pair.update(b, key, 'older', base + 16 * 2)],
      [a, pair.update(a, key, 'newest', base + 16 * 9)],
      [b, pair.update(b, key, 'middle', base + 16 * 7)],
    ] as const;
    pair.run();
    const codes = ids.map(([client, id]) => results(client).get(id)!.code);
    expect(codes).toEqual(['applied', 'stale', 'applied', 'applied']);
    expect(pair.primaryStore.get(key)).toMatchObject({ value: 'newest', ts: base + 16 * 9 });
    expect(pair.secondaryStore.get(key)).toMatchObject({ value: 'newest', ts: base + 16 * 9 });
    const stale = results(b).get(ids[1][1])!;
    expect(stale.ts).toBe(base + 16 * 5);
  });

  it('replication: with no secondary attached and minReplicas 1, writes are answered unavailable and change nothing', () => {
    const pair = new Pair({ startSecondary: false });
    const a = pair.connectClient('a');
    pair.run();
    const id = pair.update(a, 's/x/meta', 1);
    pair.run();
    expect(results(a).get(id)).toMatchObject({ code: 'unavailable' });
    expect(pair.primaryStore.size).toBe(0);
  });

  it('replication: an empty secondary catches up from a snapshot while writes continue, and ends in sync', () => {
    const pair = new Pair({ startSecondary: false, minReplicas: 0, limits: { windowElementsMax: 8 } });
    const a = pair.connectClient('a');
    pair.run();
    for (let i = 0; i < 3000; i++) pair.update(a, `s/s${i % 300}/p/${Math.floor(i / 300)}`, { i });
    pair.run();
    expect(pair.primaryStore.size).toBe(3000);
    pair.restartSecondary();
    pair.run(6);
    expect(pair.primary.secondaryState).toBe('catching_up');
    // Writes during the catch-up are acknowledged only once the secondary holds them.
    const during: number[] = [];
    a.onMessage = (message) => {
      if (message.type === 'result' && message.code === 'applied') {
        const i = during.indexOf(message.requestId);
        expect(pair.secondaryStore.currentTs(`s/s${i}/p/new`)).toBe(message.ts);
      }
    };
    let whileCatchingUp = 0;
    for (let i = 0; i < 200; i++) {
      if (pair.primary.secondaryState === 'catching_up') whileCatchingUp++;
      during.push(pair.update(a, `s/s${i}/p/new`, { during: i }));
      pair.run(1);
    }
    expect(whileCatchingUp).toBe(200);
    pair.run();
    for (const id of during) {
      const result = results(a).get(id)!;
      expect(result.code).toBe('applied');
    }
    expect(pair.secondary.state).toBe('in_sync');
    expect(pair.primary.secondaryState).toBe('streaming');
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
    expect(pair.secondaryStore.size).toBe(3200);
  });

  it('replication: writes that update and delete elements the snapshot has not reached yet (or has) still end in sync', () => {
    // The snapshot walks the store oldest first across many turns (a window of 8): elements
    // updated meanwhile move to the newest end, deleted ones become tombstones there.
    const pair = new Pair({ startSecondary: false, minReplicas: 0, limits: { windowElementsMax: 8 } });
    const a = pair.connectClient('a');
    pair.run();
    for (let i = 0; i < 2000; i++) pair.update(a, keyOf(i), { i });
    pair.run();
    pair.restartSecondary();
    pair.run(6);
    expect(pair.primary.secondaryState).toBe('catching_up');
    const during: number[] = [];
    let atWalk = 0;
    for (let n = 0; n < 300; n++) {
      // Every other write hits the element the snapshot would send next; the rest spread out.
      const next = pair.primaryStore.peekWalk();
      const key = n % 2 === 0 && next !== undefined ? next.key : keyOf((n * 7919) % 2000);
      if (key === next?.key) atWalk++;
      during.push(pair.update(a, key, n % 5 === 0 ? null : { n }, 0, n % 5 === 0));
      pair.run(2);
    }
    expect(atWalk).toBeGreaterThan(50);
    pair.run();
    for (const id of during) expect(results(a).get(id)?.code).toBe('applied');
    expect(pair.secondary.state).toBe('in_sync');
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
    expect(pair.secondaryStore.size).toBe(pair.primaryStore.size);
    expect(pair.primaryStore.peekWalk()).toBeUndefined();
  });

  it('replication: during a catch-up the secondary acknowledges catch-up elements in batches, a live unit at once', () => {
    // 256 elements of the window may be catch-up elements: acknowledged every 64. Frames of about 10
    // elements (small values and keys), reads of at most 700 bytes: once, one acknowledgement per frame.
    const limits = { windowElementsMax: 1024, keyLengthMax: 32, valueBytesMax: 64, frameBytesMax: 1200 };
    const pair = new Pair({ startSecondary: false, minReplicas: 0, limits, secondaryReadBytesMax: 700 });
    expect(elementsPerFrame(pair.limits)).toBe(10);
    const every = catchUpAckEvery(pair.limits).elements;
    expect(every).toBe(64);
    const a = pair.connectClient('a');
    pair.run();
    for (let i = 0; i < 2000; i++) pair.update(a, `s/s${i % 200}/p/${Math.floor(i / 200)}`, { i });
    pair.run();
    pair.restartSecondary();
    const acks: { seq: number; state: string }[] = [];
    const poll = pair.secondary.pollTransmit.bind(pair.secondary);
    pair.secondary.pollTransmit = () => {
      const out = poll();
      if (out?.kind === 'send') {
        const decoder = new FrameDecoder(1 << 20);
        for (const body of decoder.push(out.bytes) as Uint8Array[]) {
          const message = decodeBody(body);
          if (message.type === 'ack') acks.push({ seq: message.seq, state: pair.secondary.state });
        }
      }
      return out;
    };
    pair.run(40);
    expect(pair.secondary.state).toBe('catching_up');
    // A live write during the catch-up: acknowledged to the writer only once the secondary holds it (W2),
    // and acknowledged by the secondary in the very read that brought it, not after the next 64 elements.
    let answered = false;
    const live = pair.update(a, 's/live/p/1', { live: true });
    a.onMessage = (message) => {
      if (message.type !== 'result' || message.requestId !== live) return;
      expect(message.code).toBe('applied');
      expect(pair.secondaryStore.currentTs('s/live/p/1')).toBe(message.ts);
      answered = true;
    };
    while (!pair.secondaryStore.has('s/live/p/1')) pair.run(1);
    expect(pair.secondary.state).toBe('catching_up');
    expect(acks.at(-1)).toEqual({ seq: pair.secondary.appliedCount, state: 'catching_up' });
    pair.run();
    expect(answered).toBe(true);
    expect(pair.secondary.state).toBe('in_sync');
    expect(pair.primary.secondaryState).toBe('streaming');
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
    // About one acknowledgement per 64 elements (not one per 700-byte read), plus the live unit's and the last one.
    const catchingUp = acks.filter((ack) => ack.state === 'catching_up');
    expect(catchingUp.length).toBeLessThanOrEqual(Math.ceil(2001 / every) + 2);
    const gaps = catchingUp.map((ack, i) => ack.seq - (i === 0 ? 0 : catchingUp[i - 1]!.seq));
    expect(gaps.filter((gap) => gap < every).length).toBeLessThanOrEqual(1); // the live unit's read
    expect(acks.at(-1)!.seq).toBe(2001);
  });

  it('replication: a malformed catch-up frame closes the link and changes nothing; the secondary comes back and ends in sync', () => {
    const pair = new Pair({ startSecondary: false, minReplicas: 0, limits: { windowElementsMax: 64 } });
    const a = pair.connectClient('a');
    pair.run();
    for (let i = 0; i < 500; i++) pair.update(a, `s/s${i % 50}/p/${Math.floor(i / 50)}`, { i });
    pair.run();
    pair.restartSecondary();
    pair.run(10);
    expect(pair.secondary.state).toBe('catching_up');
    const heldBefore = pair.secondaryStore.size;
    // A snapshot frame whose second value is not JSON: the whole frame is refused, its first element included.
    const bad = encodeFrame({
      type: 'snapshot',
      firstSeq: 1,
      elements: [
        { key: 's/bad/p/1', ts: 5, deleted: false, value: JsonText.fromValidatedText('{"ok":1}') },
        { key: 's/bad/p/2', ts: 6, deleted: false, value: new JsonText('{"unterminated', 14) },
      ],
    });
    pair.sendRawToSecondary(bad);
    pair.run(1);
    pair.run(1);
    expect(pair.secondaryStore.has('s/bad/p/1')).toBe(false);
    expect(pair.secondaryStore.size).toBeLessThanOrEqual(heldBefore + 200); // only what came before the bad frame
    // The secondary redials, compares digests and catches up the rest.
    pair.advance(2_000);
    expect(pair.secondary.state).toBe('in_sync');
    expect(pair.primary.secondaryState).toBe('streaming');
    expect(pair.secondaryStore.has('s/bad/p/1')).toBe(false);
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
  });

  it('replication: a secondary that reconnects with stale data receives only what differs, both ways by newer timestamp', () => {
    const pair = new Pair();
    const a = pair.connectClient('a');
    pair.run();
    for (let i = 0; i < 500; i++) pair.update(a, keyOf(i), { i });
    pair.run();
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
    // The secondary restarts with an old copy: some keys missing, one it never had removed.
    const old = pairStore();
    let copied = 0;
    for (const element of pair.primaryStore.entries()) {
      if (copied++ % 5 === 0) continue;
      old.apply(element.key, element.value, element.ts, element.deleted);
    }
    pair.killSecondary();
    for (let i = 0; i < 50; i++) pair.update(a, keyOf(i), { changed: i }); // unavailable: no secondary
    pair.run();
    pair.restartSecondary(old);
    pair.advance(10);
    expect(pair.secondary.state).toBe('in_sync');
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
  });

  it('replication: the sync check names exactly the key changed on the secondary alone, and repair makes both equal', () => {
    const pair = new Pair();
    const a = pair.connectClient('a');
    pair.run();
    for (let i = 0; i < 300; i++) pair.update(a, keyOf(i), { i });
    pair.run();
    const victim = keyOf(42);
    const current = pair.primaryStore.get(victim)!;
    const s = pair.connectClient('tamper', 'secondary');
    pair.run();
    pair.send(s, { type: 'test_corrupt', requestId: 1, key: victim, ts: current.ts + 16, value: 'tampered' });
    pair.run();
    pair.send(a, { type: 'check_request', requestId: 900, repair: false });
    pair.run();
    const report = a.received.find((m) => m.type === 'check_result' && m.requestId === 900);
    expect(report).toMatchObject({ inSync: false, differences: [{ key: victim, primaryTs: current.ts, secondaryTs: current.ts + 16 }] });
    pair.send(a, { type: 'check_request', requestId: 901, repair: true });
    pair.run();
    expect(a.received.find((m) => m.type === 'check_result' && m.requestId === 901)).toMatchObject({ inSync: false, repaired: 1 });
    pair.send(a, { type: 'check_request', requestId: 902, repair: false });
    pair.run();
    expect(a.received.find((m) => m.type === 'check_result' && m.requestId === 902)).toMatchObject({ inSync: true, differences: [] });
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
  });

  it('replication: losing the secondary mid-stream answers in-flight updates unavailable, never applied', () => {
    const pair = new Pair();
    const a = pair.connectClient('a');
    pair.run();
    const ids = [];
    for (let i = 0; i < 100; i++) ids.push(pair.update(a, keyOf(i), { i }));
    pair.run(4); // some frames reach the primary, nothing is acknowledged yet
    pair.killSecondary();
    pair.run();
    for (const id of ids) {
      const result = results(a).get(id);
      expect(result).toBeDefined();
      expect(['applied', 'unavailable']).toContain(result!.code);
      if (result!.code === 'applied') expect(pair.secondaryStore.currentTs(keyOf(id - 1))).toBeGreaterThan(0);
    }
    // W3: whatever the primary holds, the dead secondary held too.
    for (const element of pair.primaryStore.entries()) expect(pair.secondaryStore.currentTs(element.key)).toBeGreaterThanOrEqual(element.ts);
  });

  it('replication: garbage bytes from a client close only that connection and change nothing', () => {
    const pair = new Pair();
    const a = pair.connectClient('a');
    const bad = pair.connectClient('bad');
    pair.run();
    pair.update(a, 's/x/meta', 1);
    pair.run();
    const before = pair.primaryStore.digest.root();
    pair.sendRaw(bad, new Uint8Array([0, 0, 0, 5, 99, 1, 2, 3, 4]));
    pair.sendRaw(bad, new Uint8Array([0x80, 0, 0, 0])); // a 2 GiB length prefix
    pair.run();
    expect(bad.closed).toBe(true);
    expect(pair.primaryStore.digest.root()).toEqual(before);
    const id = pair.update(a, 's/x/meta', 2);
    pair.run();
    expect(results(a).get(id)).toMatchObject({ code: 'applied' });
  });

  it('replication: a client that never authenticates is closed after the handshake timeout and changed nothing', () => {
    const pair = new Pair({ timings: { handshakeTimeoutMs: 500 } });
    const a = pair.connectClient('a');
    a.handshake = undefined; // it will never answer the server's hello
    pair.advance(600);
    expect(a.closed).toBe(true);
    expect(pair.primaryStore.size).toBe(0);
  });

  it('replication: the secondary answers writes not_primary and serves reads', () => {
    const pair = new Pair();
    const a = pair.connectClient('a');
    const s = pair.connectClient('reader', 'secondary');
    pair.run();
    pair.update(a, 's/x/meta', { v: 1 });
    pair.run();
    const id = pair.update(s, 's/x/meta', 2);
    pair.send(s, { type: 'get', requestId: 77, key: 's/x/meta' });
    pair.run();
    expect(results(s).get(id)).toMatchObject({ code: 'not_primary' });
    expect(s.received.find((m) => m.type === 'value')).toMatchObject({ found: true, value: { v: 1 } });
  });

  it('replication: a slow secondary bounds memory: beyond the window and pending limits writers get queue_full', () => {
    const pair = new Pair({ limits: { windowElementsMax: 8, pendingUnitsMax: 16, clientOutstandingMax: 100_000 } });
    const a = pair.connectClient('a');
    pair.run();
    expect(pair.primary.secondaryState).toBe('streaming');
    pair.secondaryRunning = false; // the secondary stalls: frames reach it, nothing is acknowledged
    pair.run();
    const ids = [];
    for (let i = 0; i < 100; i++) ids.push(pair.update(a, keyOf(i), i));
    pair.run();
    expect(pair.primary.replicationInFlight).toBe(8);
    const codes = ids.map((id) => results(a).get(id)?.code);
    expect(codes.filter((c) => c === 'queue_full').length).toBe(100 - 8 - 16);
    expect(codes.filter((c) => c === undefined).length).toBe(8 + 16); // waiting, not lost
    pair.advance(2000); // the link times out: the waiting ones are answered unavailable
    expect(ids.map((id) => results(a).get(id)?.code).filter((c) => c === 'unavailable').length).toBe(24);
  });

  it('replication: an empty restarted primary is refilled from the secondary when it reconnects', () => {
    const pair = new Pair({ startSecondary: false });
    const copy = pairStore();
    const base = (pair.wallMs - 1_735_689_600_000) * 4096;
    for (let i = 0; i < 1000; i++) copy.apply(keyOf(i * 7), { i }, base - 4096 * (1000 - i) + 2);
    pair.restartSecondary(copy);
    pair.advance(10);
    expect(pair.secondary.state).toBe('in_sync');
    expect(pair.primaryStore.size).toBe(copy.size);
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
  });

  it('replication: a primary catching up from a secondary that holds newer elements answers an older explicit-ts write stale, and both stores end equal', () => {
    // A primary restarted empty (or merging after serving alone) learns the secondary's newer elements
    // through the digest comparison. A write that arrives at any step of that catch-up must be judged
    // against them: it is stale, and it must not leave this store older than the secondary's.
    const codes = new Set<string>();
    for (let steps = 0; steps <= 24; steps++) {
      const pair = new Pair({ startSecondary: false });
      const copy = pairStore();
      const base = (pair.wallMs - 1_735_689_600_000) * 4096;
      const newerTs = base - 4096 * 10 + 2;
      for (let i = 0; i < 50; i++) copy.apply(`s/x/p/${i}`, { i }, newerTs);
      const client = pair.connectClient('c');
      pair.run();
      pair.restartSecondary(copy);
      pair.run(steps);
      const id = pair.update(client, 's/x/p/7', { from: 'client' }, base - 4096 * 20 + 3);
      pair.advance(100);
      const answer = results(client).get(id)!;
      codes.add(answer.code);
      if (answer.code !== 'unavailable') expect(answer, `after ${steps} steps`).toMatchObject({ code: 'stale', ts: newerTs });
      expect(pair.secondary.state).toBe('in_sync');
      expect(diffStores(pair.primaryStore, pair.secondaryStore), `after ${steps} steps`).toEqual([]);
      expect(pair.primaryStore.get('s/x/p/7')?.ts).toBe(newerTs);
    }
    // Before the secondary attaches the write is refused (minReplicas 1); during the catch-up it is stale.
    expect([...codes].sort()).toEqual(['stale', 'unavailable']);
  });

  it('replication: the window is bounded in bytes too: large values wait until earlier ones are acknowledged', () => {
    const pair = new Pair({ limits: { windowBytesMax: 10_000, clientOutstandingMax: 100_000 } });
    const a = pair.connectClient('a');
    pair.run();
    pair.secondaryRunning = false; // nothing is acknowledged
    const big = 'x'.repeat(3000);
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push(pair.update(a, keyOf(i), { big }));
    pair.run();
    // 3 values of ~3 KB fit under 10,000 bytes; the 4th crosses it and the rest wait.
    expect(pair.primary.replicationInFlight).toBe(4);
    pair.secondaryRunning = true;
    pair.advance(5000); // the link timed out meanwhile; the secondary redials and catches up
    for (const id of ids) expect(['applied', 'unavailable']).toContain(results(a).get(id)?.code);
  });

  it('replication: at most 64 sync checks wait for a catch-up to end; the next is answered queue_full, the waiting ones run after', () => {
    const pair = new Pair({ startSecondary: false, minReplicas: 0, limits: { windowElementsMax: 4 } });
    const a = pair.connectClient('a');
    pair.run();
    for (let i = 0; i < 200; i++) pair.update(a, keyOf(i), i);
    pair.run();
    pair.restartSecondary();
    pair.run(4);
    expect(pair.primary.secondaryState).not.toBe('streaming');
    for (let id = 1; id <= 65; id++) pair.send(a, { type: 'check_request', requestId: 1000 + id, repair: false });
    pair.run();
    expect(results(a).get(1065)).toMatchObject({ code: 'queue_full' });
    const reports = a.received.filter((m) => m.type === 'check_result');
    expect(reports).toHaveLength(64);
    for (const report of reports) expect(report).toMatchObject({ inSync: true });
  });

  it('replication: the periodic sync check runs every syncCheckIntervalMs, reports the result and repairs', () => {
    const pair = new Pair({ timings: { syncCheckIntervalMs: 1000 } });
    const a = pair.connectClient('a');
    pair.run();
    for (let i = 0; i < 50; i++) pair.update(a, keyOf(i), { i });
    pair.run();
    expect(pair.primary.lastSyncCheck).toBeUndefined();
    pair.advance(1100);
    expect(pair.primary.lastSyncCheck).toMatchObject({ inSync: true, differenceCount: 0 });
    const victim = keyOf(7);
    const s = pair.connectClient('tamper', 'secondary');
    pair.run();
    pair.send(s, { type: 'test_corrupt', requestId: 1, key: victim, ts: pair.primaryStore.get(victim)!.ts + 16, value: 'tampered' });
    pair.advance(1000);
    expect(pair.primary.lastSyncCheck).toMatchObject({ inSync: false, differenceCount: 1, repaired: 1, differences: [{ key: victim }] });
    pair.advance(1000);
    expect(pair.primary.lastSyncCheck).toMatchObject({ inSync: true });
    expect(diffStores(pair.primaryStore, pair.secondaryStore)).toEqual([]);
  });
});
