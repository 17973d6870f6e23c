/** The replicated idempotency window: a command applied on the primary is
 *  known as done on the secondary (the next primary after a failover), from
 *  the record written in the same turn as the command's updates (one marker
 *  element per turn) — and only once those updates are in the store that answers. Driven over the
 *  in-memory pair harness with LocalNodes on both sides, over MemoryStateNode,
 *  and over a two-node simulation with crashes for the property. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planCommand } from '../../src/conference/commands.ts';
import type { Actor, ElementUpdate } from '../../src/conference/model.ts';
import { type CommandResult, CommandService } from '../../src/server/command-service.ts';
import { SessionIndex } from '../../src/server/session-index.ts';
import { MemoryCommandDedupe } from '../../src/server/dedupe.ts';
import { type DedupeRecord, MARKER_PREFIX, type Marker, ReplicatedCommandDedupe, elementText, parseElement, recordText } from '../../src/server/replicated-dedupe.ts';
import type { NodeInfo } from '../../src/conference/api.ts';
import { type Change, MemoryStateNode, type NodeStatus, type StateNode, type WriteOptions, type WriteOutcome } from '../../src/server/state-node.ts';
import { refusal } from '../../src/server/errors.ts';
import { pairLocalNodes } from '../support/local-nodes.ts';
import { Pair } from '../support/pair-harness.ts';
import { FrameDecoder, decodeBody } from '../../src/replication/messages.ts';
import { numRuns, propertyOptions } from '../support/property.ts';

/** Runs `promise` while the pair moves frames, like the event loop would. */
async function settle<T>(pair: Pair, promise: Promise<T>): Promise<T> {
  for (let i = 0; i < 20; i++) {
    pair.run();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return promise;
}

const OK: CommandResult = { ok: true, duplicate: false };
const keep = (r: CommandResult): boolean => r.ok;
const HAND = 's/s1/hand/alice';

/** What CommandService does with the dedupe's write options: its updates in one write, which records them; ok when every update applied. */
function writing(node: StateNode, updates: readonly ElementUpdate[], runs: { count: number }) {
  return async (writeOptions: WriteOptions): Promise<CommandResult> => {
    runs.count++;
    if (node.status().info.role !== 'primary') return { ok: false, duplicate: false, error: refusal('not_primary', 'secondary') };
    const outcomes = await node.write(updates, writeOptions);
    const failed = outcomes.filter((o) => o.code !== 'applied');
    if (failed.length === 0) return OK;
    return { ok: false, duplicate: false, error: refusal('stale', failed[0]!.code), failed: failed.map((f) => ({ key: f.key, code: f.code })) };
  };
}

function dedupeOn(node: StateNode, clock: { nowMs(): number }, entriesMax = 100, slots = 1024): ReplicatedCommandDedupe {
  return new ReplicatedCommandDedupe(new MemoryCommandDedupe({ entriesMax, ttlMs: 60_000 }, clock), node, { slots, ttlMs: 60_000 }, clock);
}

/** Replicate frames the primary sends, as lists of the keys each carries. */
function recordReplicateFrames(pair: Pair): string[][] {
  const frames: string[][] = [];
  const decoder = new FrameDecoder(pair.limits.frameBytesMax);
  const poll = pair.primary.pollTransmit.bind(pair.primary);
  pair.primary.pollTransmit = () => {
    const out = poll();
    if (out?.kind === 'send') {
      const bodies = decoder.push(out.bytes);
      if (!Array.isArray(bodies)) throw bodies;
      for (const body of bodies) {
        const message = decodeBody(body);
        if (message.type === 'replicate') frames.push(message.elements.map((e) => e.key));
      }
    }
    return out;
  };
  return frames;
}

describe('replicated dedupe', () => {
  it('replicated dedupe (property): a marker element reads back exactly as written; anything else reads as no records or fewer, never a throw', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_.:~-]{1,12}$/);
    const key = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
    const hash = fc.stringMatching(/^[A-Za-z0-9_-]{22}$/);
    const marker = fc.record({ k: hash, f: hash, a: fc.integer({ min: 0, max: 2 ** 45 }), p: fc.nat(1000), updates: fc.array(fc.tuple(key, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), { maxLength: 8 }) })
      .map(({ updates, ...rest }): Marker => ({ ...rest, keys: updates.map((u) => u[0]), tss: updates.map((u) => u[1]) }));
    const record = fc.oneof(marker, hash.map((k): DedupeRecord => ({ k, withdrawn: true })));
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 6 }), (records) => {
        expect(parseElement(elementText(records.map(recordText)))).toEqual(records);
      }),
      propertyOptions(),
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue(), fc.string().map((tail) => `m3;${tail}`)), (value) => {
        const read = parseElement(value);
        if (read !== undefined) expect(parseElement(elementText(read.map(recordText)))).toEqual(read);
      }),
      propertyOptions(),
    );
    expect(parseElement(null)).toBeUndefined();
    expect(parseElement('m2 aaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbb 1 1')).toBeUndefined();
    expect(parseElement({ k: 'a', f: 'b', a: 1, e: [] })).toBeUndefined();
    expect(parseElement('m3;short 1 2 3;aaaaaaaaaaaaaaaaaaaaaa -')).toEqual([{ k: 'aaaaaaaaaaaaaaaaaaaaaa', withdrawn: true }]);
  });

  it('replicated dedupe: a command done on the primary is a duplicate on the secondary, without running again', async () => {
    const pair = new Pair({ seed: 11 });
    pair.run();
    const { primary, secondary } = pairLocalNodes(pair);
    const clock = { nowMs: () => 1_000_000 };
    const onPrimary = dedupeOn(primary, clock);
    const onSecondary = dedupeOn(secondary, clock);
    const runs = { count: 0 };
    const first = await settle(pair, onPrimary.run('s1\u0000participant:alice\u0000cmd-1', '{"type":"raise_hand"}', writing(primary, [{ key: HAND, value: { raisedAtMs: 1 } }], runs), keep));
    expect(first).toEqual({ kind: 'first', outcome: OK });
    expect(onSecondary.markerCount).toBe(1);
    expect(onSecondary.waitingCount).toBe(0);
    expect([...pair.secondaryStore.entries()].some((e) => e.key.startsWith(MARKER_PREFIX))).toBe(true);
    const retry = await onSecondary.run('s1\u0000participant:alice\u0000cmd-1', '{"type":"raise_hand"}', writing(secondary, [], runs), keep);
    expect(retry).toEqual({ kind: 'duplicate', outcome: OK });
    expect(runs.count).toBe(1);
    const conflict = await onSecondary.run('s1\u0000participant:alice\u0000cmd-1', '{"type":"lower_hand"}', writing(secondary, [], runs), keep);
    expect(conflict).toEqual({ kind: 'conflict' });
  });

  it('replicated dedupe: the record travels in the same replicate frame as the command updates, one round trip', async () => {
    const pair = new Pair({ seed: 14 });
    pair.run();
    const { primary } = pairLocalNodes(pair);
    const frames = recordReplicateFrames(pair);
    let writes = 0;
    const counted: StateNode = {
      status: () => primary.status(),
      nodeInfo: () => primary.nodeInfo(),
      write: (updates, options) => (writes++, primary.write(updates, options)),
      sessionElements: (session) => primary.sessionElements(session),
      currentTs: (key) => primary.currentTs(key),
      elementTs: (key) => primary.elementTs(key),
      sessionIds: () => primary.sessionIds(),
      onChange: (listener) => primary.onChange(listener),
      beforeSend: (flush) => primary.beforeSend(flush),
    };
    const dedupe = dedupeOn(counted, { nowMs: () => 1_000_000 });
    const updates = [{ key: HAND, value: { raisedAtMs: 1 } }, { key: 's/s1/p/alice', value: { name: 'Alice' } }];
    const answer = await settle(pair, dedupe.run('k-one-turn', 'f', writing(counted, updates, { count: 0 }), keep));
    expect(answer).toEqual({ kind: 'first', outcome: OK });
    // The command's write, then the turn's marker element, written just before the frame leaves.
    expect(writes).toBe(2);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.slice(0, 2)).toEqual([HAND, 's/s1/p/alice']);
    expect(frames[0]![2]!.startsWith(MARKER_PREFIX)).toBe(true);
  });

  it('replicated dedupe: CommandService writes a command with an id as its updates and, in the same turn, the record naming them, and answers its retry duplicate', async () => {
    const memory = new MemoryStateNode();
    const writes: number[] = [];
    const node: StateNode = {
      status: () => memory.status(),
      nodeInfo: () => memory.nodeInfo(),
      write: (updates, options) => (writes.push(updates.length), memory.write(updates, options)),
      sessionElements: (session) => memory.sessionElements(session),
      currentTs: (key) => memory.currentTs(key),
      elementTs: (key) => memory.elementTs(key),
      sessionIds: () => memory.sessionIds(),
      onChange: (listener) => memory.onChange(listener),
      beforeSend: (flush) => memory.beforeSend(flush),
    };
    const clock = { nowMs: () => 1_800_000_000_000 };
    const dedupe = dedupeOn(node, clock, 1);
    const service = new CommandService(node, planCommand, dedupe, new SessionIndex(memory), { sessionsMax: 10, mirrorsMax: 10, sessionQueueLengthMax: 10 }, clock);
    const admin: Actor = { kind: 'service', id: 'admin', tokenRole: 'host' };
    const alice: Actor = { kind: 'participant', id: 'alice', tokenRole: 'participant' };
    expect((await service.execute({ session: 's1', actor: admin, requestId: undefined, command: { type: 'create', settings: { lobby: false } } })).ok).toBe(true);
    writes.length = 0;
    expect(await service.execute({ session: 's1', actor: alice, requestId: 'join-1', command: { type: 'join', name: 'Alice' } })).toEqual({ ok: true, duplicate: false });
    // The join's updates, then the turn's marker element with its record.
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe(1);
    expect(dedupe.markerCount).toBe(1);
    const marker = [...memory.store.entries()].find((e) => e.key.startsWith(MARKER_PREFIX))!;
    const recorded = parseElement(marker.value)![0] as Marker;
    expect(recorded.keys.length).toBeGreaterThan(0);
    recorded.keys.forEach((key, i) => expect(memory.elementTs(key)).toBe(recorded.tss[i]));
    // The in-memory window (one entry) forgets it; the marker answers.
    await service.execute({ session: 's1', actor: alice, requestId: 'hand-1', command: { type: 'raise_hand' } });
    expect(await service.execute({ session: 's1', actor: alice, requestId: 'join-1', command: { type: 'join', name: 'Alice' } })).toEqual({ ok: true, duplicate: true });
    expect(writes).toHaveLength(4);
    service.close();
  });

  it('replicated dedupe: a marker that reached the secondary before the update it names is not a duplicate until that update arrives', async () => {
    const pair = new Pair({ seed: 13 });
    pair.run();
    const { primary, secondary } = pairLocalNodes(pair);
    const clock = { nowMs: () => 1_000_000 };
    const onPrimary = dedupeOn(primary, clock);
    const onSecondary = dedupeOn(secondary, clock);
    const client = pair.connectClient('c');
    pair.run();
    // A write of the element is in flight: the command's update waits behind it in the write gate, its marker does not.
    pair.update(client, HAND, { raisedAtMs: 0 });
    pair.run(1);
    const runs = { count: 0 };
    const first = onPrimary.run('k-behind', 'f', writing(primary, [{ key: HAND, value: { raisedAtMs: 1 } }], runs), keep);
    while (![...pair.secondaryStore.entries()].some((e) => e.key.startsWith(MARKER_PREFIX))) pair.run(1);
    // The primary could die now: the secondary holds the marker and not the update.
    expect(onSecondary.markerCount).toBe(1);
    expect(onSecondary.waitingCount).toBe(1);
    const secondaryRuns = { count: 0 };
    const early = await onSecondary.run('k-behind', 'f', writing(secondary, [], secondaryRuns), keep);
    expect(early.kind).toBe('first'); // planned again (here: refused, the node is the secondary)
    expect(secondaryRuns.count).toBe(1);
    // It lives on: the update follows, at the same epoch, and the retry on the secondary is now a duplicate.
    expect(await settle(pair, first)).toEqual({ kind: 'first', outcome: OK });
    expect(onSecondary.waitingCount).toBe(0);
    expect(await onSecondary.run('k-behind', 'f', writing(secondary, [], secondaryRuns), keep)).toEqual({ kind: 'duplicate', outcome: OK });
    expect(secondaryRuns.count).toBe(1);
    expect(runs.count).toBe(1);
  });

  it('replicated dedupe: a command whose update was refused stale withdraws its marker, so its retry runs again on either node', async () => {
    const world = new World();
    const clock = { nowMs: () => 1_000_000 };
    const [a, b] = world.nodes;
    const onA = dedupeOn(a, clock, 1);
    const onB = dedupeOn(b, clock);
    const updates = [{ key: 'e0', value: 1 }, { key: 'e1', value: 1 }];
    const runs = { count: 0 };
    world.fates = { updates: ['applied', 'stale'], marker: 'replicated' };
    const first = await onA.run('k-stale', 'f', writing(a, updates, runs), keep);
    expect(first.kind === 'first' && first.outcome.ok).toBe(false);
    // e1 is past the recorded ts (a caller's newer write) without the command's effect: only the withdrawal tells.
    expect(onA.markerCount).toBe(0);
    expect(onB.markerCount).toBe(0);
    expect((await onA.run('k-stale', 'f', writing(a, updates, runs), keep)).kind).toBe('first');
    expect(runs.count).toBe(2);
    // The second run applied: now both nodes answer duplicate.
    expect(await onB.run('k-stale', 'f', writing(b, updates, runs), keep)).toEqual({ kind: 'duplicate', outcome: OK });
    expect(runs.count).toBe(2);
  });

  it('replicated dedupe: the marker answers after the in-memory window forgot; refusals leave none; markers expire after ttlMs', async () => {
    const pair = new Pair({ seed: 12 });
    pair.run();
    const { primary } = pairLocalNodes(pair);
    let nowMs = 1_000_000;
    const clock = { nowMs: () => nowMs };
    const dedupe = new ReplicatedCommandDedupe(new MemoryCommandDedupe({ entriesMax: 1, ttlMs: 10 }, clock), primary, { slots: 4096, ttlMs: 60_000 }, clock);
    const failed: CommandResult = { ok: false, duplicate: false, error: { code: 'forbidden', status: 403, message: 'no' } as never };
    await settle(pair, dedupe.run('k-fail', 'f', async () => failed, () => false));
    expect(dedupe.markerCount).toBe(0);
    // An update refused at once (an invalid value) has no timestamp: no marker is submitted.
    const refused = await settle(pair, dedupe.run('k-refused', 'f', writing(primary, [{ key: HAND, value: { big: 'x'.repeat(20_000) } }], { count: 0 }), keep));
    expect(refused.kind === 'first' && refused.outcome.ok).toBe(false);
    expect(dedupe.markerCount).toBe(0);
    const runs = { count: 0 };
    const execute = writing(primary, [{ key: HAND, value: { raisedAtMs: 2 } }], runs);
    await settle(pair, dedupe.run('k-1', 'f', execute, keep));
    // The in-memory window holds one entry only: k-2 pushes k-1 out, so what answers next is the marker.
    await settle(pair, dedupe.run('k-2', 'f', execute, keep));
    nowMs += 100;
    expect(await settle(pair, dedupe.run('k-1', 'f', execute, keep))).toEqual({ kind: 'duplicate', outcome: OK });
    expect((await settle(pair, dedupe.run('k-3', 'f', execute, keep))).kind).toBe('first');
    expect(runs.count).toBe(3);
    // A later write to the same element does not undo it: the command's update applied first (W1).
    await settle(pair, dedupe.run('k-4', 'f', writing(primary, [{ key: HAND, value: null }], runs), keep));
    expect(await settle(pair, dedupe.run('k-1', 'f', execute, keep))).toEqual({ kind: 'duplicate', outcome: OK });
    expect(await settle(pair, dedupe.run('k-1', 'other', execute, keep))).toEqual({ kind: 'conflict' });
    nowMs += 61_000;
    const afterTtl = await settle(pair, dedupe.run('k-1', 'f', execute, keep));
    expect(afterTtl.kind).toBe('first');
    expect(runs.count).toBe(5);
  });

  it('replicated dedupe: a command done without writing gets its marker alone, after it, and its retry is a duplicate', async () => {
    const node = new MemoryStateNode();
    const clock = { nowMs: () => 1_000_000 };
    const dedupe = dedupeOn(node, clock, 1);
    let writes = 0;
    node.onChange(() => writes++);
    let runs = 0;
    // As CommandService does with a plan of no updates: ok at once, the write options unused.
    const noop = async (): Promise<CommandResult> => (runs++, OK);
    expect(await dedupe.run('k-noop', 'f', noop, keep)).toEqual({ kind: 'first', outcome: OK });
    expect(dedupe.markerCount).toBe(1);
    expect(writes).toBe(1);
    await dedupe.run('k-other', 'f', writing(node, [{ key: HAND, value: { raisedAtMs: 1 } }], { count: 0 }), keep);
    expect(await dedupe.run('k-noop', 'f', noop, keep)).toEqual({ kind: 'duplicate', outcome: OK });
    expect(runs).toBe(1);
    // An empty write with the marker option submits the marker alone too.
    expect(await dedupe.run('k-empty', 'f', writing(node, [], { count: 0 }), keep)).toEqual({ kind: 'first', outcome: OK });
    expect(dedupe.markerCount).toBe(3);
  });

  it('replicated dedupe (property): the ring holds at most `slots` records, every node counts the same, and the newest records are the ones kept', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 100, max: 600 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 25 }), async (slots, elementBytesMax, turns) => {
        const node = new MemoryStateNode();
        const clock = { nowMs: () => 1_000_000 };
        const make = (): ReplicatedCommandDedupe => new ReplicatedCommandDedupe(new MemoryCommandDedupe({ entriesMax: 1, ttlMs: 60_000 }, clock), node, { slots, ttlMs: 60_000, elementBytesMax }, clock);
        const dedupe = make();
        let n = 0;
        const sent: string[] = [];
        for (const size of turns) {
          // `size` commands in one turn: their records share the turn's element(s).
          const runs = Array.from({ length: size }, () => {
            const key = `k-${n++}`;
            sent.push(key);
            return dedupe.run(key, 'f', writing(node, [{ key: `s/s1/hand/${key}`, value: { raisedAtMs: n } }], { count: 0 }), keep);
          });
          for (const answer of await Promise.all(runs)) expect(answer.kind).toBe('first');
          const held = [...node.store.entries()].filter((e) => e.key.startsWith(MARKER_PREFIX) && !e.deleted);
          const records = held.flatMap((e) => parseElement(e.value) ?? []);
          expect(records.length).toBeLessThanOrEqual(slots);
          expect(dedupe.recordCount).toBe(records.length);
          expect(dedupe.markerCount).toBe(records.length);
        }
        // A node that learns the ring afresh, in any order (a catch-up's snapshot), counts the same.
        const peer = new World().nodes[1];
        const fresh = dedupeOn(peer, clock, 1, slots);
        for (const element of [...node.store.entries()].reverse()) if (!element.deleted) peer.apply(element.key, element.ts, element.value);
        expect(fresh.recordCount).toBe(dedupe.recordCount);
        expect(fresh.markerCount).toBe(dedupe.markerCount);
        fresh.close();
        // The newest command is always kept; the oldest beyond the budget is not.
        expect((await dedupe.run(sent.at(-1)!, 'f', writing(node, [], { count: 0 }), keep)).kind).toBe('duplicate');
        if (sent.length > slots) expect((await dedupe.run(sent[0]!, 'f', async () => OK, keep)).kind).toBe('first');
        dedupe.close();
      }),
      propertyOptions({ numRuns: Math.min(300, numRuns) }),
    );
  });

  it('replicated dedupe: marker elements outside the ring (d/-1, d/01, d/1e1, beyond its slots) or not readable are ignored, never a throw', async () => {
    const node = new MemoryStateNode();
    const dedupe = dedupeOn(node, { nowMs: () => 1_000_000 }, 1, 16);
    const text = elementText([recordText({ k: 'a'.repeat(22), f: 'b'.repeat(22), a: 1_000_000, p: 1, keys: [], tss: [] })]);
    const outcomes = await node.write(['d/-1', 'd/01', 'd/1e1', 'd/16', 'd/x', 'd/3/4'].map((key) => ({ key, value: text })));
    expect(outcomes.every((o) => o.code === 'applied')).toBe(true);
    await node.write([{ key: 'd/2', value: { not: 'a marker' } }, { key: 'd/5', value: 'm3;garbage' }]);
    expect(dedupe.markerCount).toBe(0);
    expect(dedupe.recordCount).toBe(0);
    // The same element in a slot of the ring counts.
    await node.write([{ key: 'd/15', value: text }]);
    expect(dedupe.markerCount).toBe(1);
    dedupe.close();
  });

  it('replicated dedupe: while a run is in flight its marker is not read; a retry joins the run', async () => {
    const node = new MemoryStateNode();
    node.holdReplication = true;
    const dedupe = dedupeOn(node, { nowMs: () => 1_000_000 });
    const runs = { count: 0 };
    const execute = writing(node, [{ key: HAND, value: { raisedAtMs: 1 } }], runs);
    const first = dedupe.run('k-join', 'f', execute, keep);
    const retry = dedupe.run('k-join', 'f', execute, keep);
    node.releaseReplication();
    expect(await first).toEqual({ kind: 'first', outcome: OK });
    expect(await retry).toEqual({ kind: 'duplicate', outcome: OK });
    expect(runs.count).toBe(1);
  });

  it('replicated dedupe: after a failover that lost the update, a later write to its element does not make the retry a duplicate, on either node', async () => {
    const world = new World();
    const clock = { nowMs: () => 1_000_000 };
    const [a, b] = world.nodes;
    const onB = dedupeOn(b, clock);
    world.fates = { updates: ['applied', 'lost'], marker: 'replicated' };
    void dedupeOn(a, clock).run('k-lost', 'f', writing(a, [{ key: 'e0', value: 1 }, { key: 'e1', value: 1 }], { count: 0 }), keep);
    await new Promise((resolve) => setImmediate(resolve));
    expect(world.crashed).toBe(true);
    expect(onB.waitingCount).toBe(1);
    world.writeElsewhere('e1');
    // The old primary restarts and catches up: it learns the marker (epoch 1) at epoch 2, with e1 already past its ts.
    let onA: ReplicatedCommandDedupe | undefined;
    world.restart(false, (node) => (onA = dedupeOn(node, clock)));
    expect(onA!.markerCount).toBe(1);
    const runs = { count: 0 };
    expect((await onA!.run('k-lost', 'f', writing(a, [], runs), keep)).kind).toBe('first');
    expect((await onB.run('k-lost', 'f', writing(b, [{ key: 'e0', value: 1 }, { key: 'e1', value: 1 }], runs), keep)).kind).toBe('first');
    expect(runs.count).toBe(2);
  });
});

// ---------------------------------------------------------------------------
// A two-node simulation for the property: one store per node, writes that
// apply, are refused stale (a caller's newer write got there first), or are
// lost when the primary dies mid-write (the secondary keeps what reached it,
// is promoted at epoch + 1 and serves alone until the dead node restarts
// empty and catches up from a snapshot). Timestamps are a shared counter, as
// HLCs that observe every replicated ts are. A command's write is held until
// the turn's marker element is written (beforeSend, a microtask later): the
// two form one frame, and the fates decide what of it reaches the secondary.

type Fate = 'applied' | 'stale' | 'lost';

interface Fates {
  readonly updates: readonly Fate[];
  /** Whether the marker reached the secondary when the primary died. */
  readonly marker: 'replicated' | 'lost';
}

class SimNode implements StateNode {
  readonly store = new Map<string, { ts: number; value: unknown }>();
  readonly #listeners = new Set<(change: Change) => void>();
  role: 'primary' | 'secondary';
  epoch = 1;
  alive = true;

  constructor(
    readonly world: World,
    readonly nodeId: number,
    role: 'primary' | 'secondary',
  ) {
    this.role = role;
  }

  status(): NodeStatus {
    return { info: this.nodeInfo() } as NodeStatus;
  }

  nodeInfo(): NodeInfo {
    return { nodeId: this.nodeId, role: this.role, epoch: this.epoch, primaryUrl: null };
  }

  write(updates: readonly ElementUpdate[], options: WriteOptions = {}): Promise<WriteOutcome[]> {
    return this.world.write(this, updates, options);
  }

  apply(key: string, ts: number, value: unknown): void {
    if ((this.store.get(key)?.ts ?? 0) >= ts) return;
    this.store.set(key, { ts, value });
    for (const listener of this.#listeners) listener({ key, ts, value: value as never, session: undefined });
  }

  sessionElements(): [] {
    return [];
  }

  currentTs(key: string): number {
    return this.store.get(key)?.ts ?? 0;
  }

  elementTs(key: string): number | undefined {
    return this.store.get(key)?.ts;
  }

  sessionIds(): string[] {
    return [];
  }

  onChange(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  beforeSend(flush: () => void): void {
    queueMicrotask(flush);
  }
}

/** An update with the timestamp the simulated write path gave it. */
interface Stamped {
  readonly key: string;
  readonly value: unknown;
  readonly ts: number;
}

/** A command's write waiting for its turn's marker element: the two travel in one frame. */
interface HeldWrite {
  readonly stamped: readonly Stamped[];
  readonly fates: Fates | undefined;
  readonly resolve: (outcomes: WriteOutcome[]) => void;
}

class World {
  readonly nodes: [SimNode, SimNode];
  /** Fates of the next command write (one with a marker); consumed by it. */
  fates: Fates | undefined;
  crashed = false;
  #ts = 0;
  /** Every command update submitted, and whether it applied: `${key}@${ts}`. */
  readonly applied = new Set<string>();
  /** Updates refused stale whose element a later write changed on the peer before the primary died with the withdrawal unsent: `${key}@${ts}`. */
  readonly residual = new Set<string>();

  constructor() {
    this.nodes = [new SimNode(this, 1, 'primary'), new SimNode(this, 2, 'secondary')];
  }

  get primary(): SimNode {
    return this.nodes.find((n) => n.alive && n.role === 'primary')!;
  }

  #live(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  #applyEverywhere(key: string, ts: number, value: unknown): void {
    // Replicate, then apply: the secondary first (W3).
    const live = this.#live();
    for (const node of [...live.filter((n) => n.role === 'secondary'), ...live.filter((n) => n.role === 'primary')]) node.apply(key, ts, value);
  }

  /**
   * The dead node comes back empty as the secondary (`attach` gives it its new
   * dedupe) and catches up from a snapshot of the primary, in either order.
   */
  restart(reverse: boolean, attach: (node: SimNode) => void): void {
    const dead = this.nodes.find((n) => !n.alive);
    if (dead === undefined) return;
    const primary = this.primary;
    dead.store.clear();
    dead.alive = true;
    dead.role = 'secondary';
    dead.epoch = primary.epoch;
    attach(dead);
    const snapshot = [...primary.store];
    if (reverse) snapshot.reverse();
    for (const [key, { ts, value }] of snapshot) dead.apply(key, ts, value);
  }

  /** A write of `key` by someone else (a command without an id) on the primary. */
  writeElsewhere(key: string): void {
    const stamped = [{ key, value: 'elsewhere', ts: (this.#ts += 10) }];
    // A command's update to this element may be in this turn's frame: per element, writes apply
    // in timestamp order (W1), so this one goes in the frame behind it.
    if (this.#frame.length > 0) this.#frame.push({ stamped, fates: undefined, resolve: () => undefined });
    else this.#apply(stamped, undefined);
  }

  /** Command writes of this turn, sent with its marker element. */
  #frame: HeldWrite[] = [];

  write(node: SimNode, updates: readonly ElementUpdate[], options: WriteOptions): Promise<WriteOutcome[]> {
    if (!node.alive || node.role !== 'primary') return Promise.resolve(updates.map((u) => ({ code: 'not_primary' as const, key: u.key, message: 'secondary' })));
    const stamped = updates.map((u) => ({ ...u, ts: (this.#ts += 10) }));
    if (options.onAssigned !== undefined) {
      // A command's write: its record joins this turn's marker element, which is written before the frame leaves.
      const fates = this.fates;
      this.fates = undefined;
      options.onAssigned(stamped.map((u) => ({ key: u.key, ts: u.ts })));
      return new Promise((resolve) => this.#frame.push({ stamped, fates, resolve }));
    }
    if (updates.every((u) => u.key.startsWith(MARKER_PREFIX))) return Promise.resolve(this.#send(node, stamped));
    return Promise.resolve(this.#apply(stamped, undefined));
  }

  /** One frame: the turn's command writes, then its marker element(s). The first command whose fates lose an update kills the primary. */
  #send(node: SimNode, markers: readonly Stamped[]): WriteOutcome[] {
    const frame = this.#frame;
    this.#frame = [];
    const secondary = this.#live().find((n) => n !== node);
    const dying = frame.find((write) => write.fates?.updates.includes('lost'));
    if (dying !== undefined && secondary !== undefined) {
      // The primary dies mid-frame: the secondary keeps what reached it and takes over; nobody is answered.
      const failed = new Map<string, string>();
      for (const write of frame) {
        write.stamped.forEach((u, i) => {
          if ((write.fates?.updates[i] ?? 'applied') !== 'applied') {
            if (write.fates?.updates[i] === 'stale') failed.set(u.key, `${u.key}@${u.ts}`);
            return;
          }
          // A later write of an element whose update failed stale, reaching the peer while the
          // withdrawal never will: the residual case of docs/decisions/0022.
          const before = failed.get(u.key);
          if (before !== undefined) this.residual.add(before);
          secondary.apply(u.key, u.ts, u.value);
          this.applied.add(`${u.key}@${u.ts}`);
        });
        if (write === dying) break;
      }
      if (dying.fates!.marker === 'replicated') for (const m of markers) secondary.apply(m.key, m.ts, m.value);
      node.alive = false;
      secondary.role = 'primary';
      secondary.epoch++;
      this.crashed = true;
      return [];
    }
    for (const write of frame) write.resolve(this.#apply(write.stamped, write.fates));
    return this.#apply(markers, undefined);
  }

  #apply(stamped: readonly Stamped[], fates: Fates | undefined): WriteOutcome[] {
    return stamped.map((u, i) => {
      const fate = fates?.updates[i] ?? 'applied';
      if (fate === 'applied') {
        this.#applyEverywhere(u.key, u.ts, u.value);
        if (!u.key.startsWith(MARKER_PREFIX)) this.applied.add(`${u.key}@${u.ts}`);
        return { code: 'applied', key: u.key, ts: u.ts };
      }
      if (fate === 'stale') {
        // A caller's write with its own, newer timestamp got there first.
        this.#applyEverywhere(u.key, u.ts + 5, 'caller');
        return { code: 'stale', key: u.key, message: 'stale' };
      }
      return { code: 'unavailable', key: u.key, message: 'no secondary' };
    });
  }
}

const ELEMENTS = ['e0', 'e1', 'e2'];

const opArbitrary = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('command' as const),
      id: fc.nat(3),
      body: fc.nat(1),
      at: fc.nat(1),
      fates: fc.array(fc.constantFrom<Fate>('applied', 'applied', 'stale', 'lost'), { maxLength: 3 }),
      marker: fc.constantFrom('replicated' as const, 'lost' as const),
      /** Sent in the same turn as the next op: their records share one marker element. */
      sameTurn: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('write' as const), element: fc.constantFrom(...ELEMENTS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), reverse: fc.boolean() }) },
);

describe('replicated dedupe: property', () => {
  it('replicated dedupe: across failures, failovers, restarts that catch up, shared turns and a ring that evicts, duplicate ok is answered only when every update of an earlier run of that command applied', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.subarray(ELEMENTS), { minLength: 8, maxLength: 8 }), fc.array(opArbitrary, { minLength: 1, maxLength: 40 }), fc.constantFrom(2, 3, 1024), async (plans, ops, slots) => {
        const world = new World();
        const clock = { nowMs: () => 1_000_000 };
        // A small in-memory window, so the markers answer most retries; a ring of a few slots, so records are evicted too.
        const dedupes = world.nodes.map((node) => dedupeOn(node, clock, 2, slots));
        /** Every command sent, by id and body: a conflict needs the other body sent before. */
        const attempted = new Set<string>();
        /** Answers not yet checked: the commands of one turn are answered together. */
        const answers: { name: string; answer?: Awaited<ReturnType<ReplicatedCommandDedupe['run']>> }[] = [];
        const check = (): void => {
          for (const { name, answer } of answers.splice(0)) {
            // A conflict claims that the id was used with the other body before.
            if (answer?.kind === 'conflict') {
              const [id, body] = name.split('/');
              expect(attempted.has(`${id}/${1 - Number(body)}`), `conflict for ${name}`).toBe(true);
            }
            // A duplicate that says ok claims that an earlier run applied every update it wrote.
            if (answer?.kind !== 'duplicate' || !answer.outcome.ok) continue;
            const runs = runsOf.get(name) ?? [];
            // The documented residual case (docs/decisions/0022) is the one exception.
            if (runs.some((run) => run.some((update) => world.residual.has(update)))) continue;
            const done = runs.some((run) => run.every((update) => world.applied.has(update)));
            expect(done, `duplicate for ${name} with runs ${JSON.stringify(runsOf.get(name))}, applied ${JSON.stringify([...world.applied])}`).toBe(true);
          }
        };
        /** Per command id and body: the updates of each run, as `${key}@${ts}`. */
        const runsOf = new Map<string, string[][]>();
        for (const op of ops) {
          if (op.kind === 'write') {
            world.writeElsewhere(op.element);
            continue;
          }
          if (op.kind === 'restart') {
            world.restart(op.reverse, (node) => {
              const index = world.nodes.indexOf(node);
              dedupes[index]!.close();
              dedupes[index] = dedupeOn(node, clock, 2, slots);
            });
            await new Promise((resolve) => setImmediate(resolve));
            check();
            continue;
          }
          const node = world.nodes[op.at]!.alive ? world.nodes[op.at]! : world.primary;
          const dedupe = dedupes[world.nodes.indexOf(node)]!;
          const name = `${op.id}/${op.body}`;
          const updates = plans[op.id * 2 + op.body]!.map((key) => ({ key, value: name }));
          const execute = async (writeOptions: WriteOptions): Promise<CommandResult> => {
            world.fates = { updates: op.fates, marker: op.marker };
            const record: string[] = [];
            const options: WriteOptions = {
              onAssigned: (assigned) => {
                record.push(...assigned.map((u) => `${u.key}@${u.ts}`));
                runsOf.set(name, [...(runsOf.get(name) ?? []), record]);
                writeOptions.onAssigned!(assigned);
              },
            };
            return writing(node, updates, { count: 0 })(writeOptions.onAssigned === undefined ? writeOptions : options);
          };
          attempted.add(name);
          const pending: (typeof answers)[number] = { name };
          answers.push(pending);
          void dedupe.run(`id-${op.id}`, `body-${op.body}`, execute, keep).then((a) => (pending.answer = a));
          if (op.sameTurn) continue;
          await new Promise((resolve) => setImmediate(resolve));
          world.fates = undefined;
          check();
        }
        await new Promise((resolve) => setImmediate(resolve));
        check();
        for (const dedupe of dedupes) dedupe.close();
      }),
      propertyOptions(),
    );
  });
});
