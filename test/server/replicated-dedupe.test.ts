/** The replicated idempotency window: a command applied on the primary is
 *  known as done on the secondary (the next primary after a failover), from
 *  the marker element replicated with the write path. Driven over the
 *  in-memory pair harness with LocalNodes on both sides. */

import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../../src/server/command-service.ts';
import { MemoryCommandDedupe } from '../../src/server/dedupe.ts';
import { MARKER_PREFIX, ReplicatedCommandDedupe } from '../../src/server/replicated-dedupe.ts';
import { pairLocalNodes } from '../support/local-nodes.ts';
import { Pair } from '../support/pair-harness.ts';

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

describe('replicated dedupe', () => {
  it('replicated dedupe: a command done on the primary is a duplicate on the secondary, without running again', async () => {
    const pair = new Pair({ seed: 11 });
    pair.run();
    const { primary, secondary } = pairLocalNodes(pair);
    const clock = { nowMs: () => 1_000_000 };
    const onPrimary = new ReplicatedCommandDedupe(new MemoryCommandDedupe({ entriesMax: 100, ttlMs: 60_000 }, clock), primary, { slots: 1024, ttlMs: 60_000 }, clock);
    const onSecondary = new ReplicatedCommandDedupe(new MemoryCommandDedupe({ entriesMax: 100, ttlMs: 60_000 }, clock), secondary, { slots: 1024, ttlMs: 60_000 }, clock);
    let runs = 0;
    const execute = async (): Promise<CommandResult> => {
      runs++;
      return OK;
    };
    const first = await settle(pair, onPrimary.run('s1\u0000participant:alice\u0000cmd-1', '{"type":"raise_hand"}', execute, keep));
    expect(first).toEqual({ kind: 'first', outcome: OK });
    expect(onSecondary.markerCount).toBe(1);
    expect([...pair.secondaryStore.entries()].some((e) => e.key.startsWith(MARKER_PREFIX))).toBe(true);
    const retry = await onSecondary.run('s1\u0000participant:alice\u0000cmd-1', '{"type":"raise_hand"}', execute, keep);
    expect(retry).toEqual({ kind: 'duplicate', outcome: OK });
    expect(runs).toBe(1);
    const conflict = await onSecondary.run('s1\u0000participant:alice\u0000cmd-1', '{"type":"lower_hand"}', execute, keep);
    expect(conflict).toEqual({ kind: 'conflict' });
  });

  it('replicated dedupe: the marker answers after the in-memory window forgot; failures leave none; markers expire after ttlMs', async () => {
    const pair = new Pair({ seed: 12 });
    pair.run();
    const { primary } = pairLocalNodes(pair);
    let nowMs = 1_000_000;
    const clock = { nowMs: () => nowMs };
    const dedupe = new ReplicatedCommandDedupe(new MemoryCommandDedupe({ entriesMax: 1, ttlMs: 10 }, clock), primary, { slots: 4096, ttlMs: 60_000 }, clock);
    const failed: CommandResult = { ok: false, duplicate: false, error: { code: 'forbidden', status: 403, message: 'no' } as never };
    await settle(pair, dedupe.run('k-fail', 'f', async () => failed, () => false));
    expect(dedupe.markerCount).toBe(0);
    let runs = 0;
    const execute = async (): Promise<CommandResult> => (runs++, OK);
    await settle(pair, dedupe.run('k-1', 'f', execute, keep));
    // The in-memory window holds one entry only: k-2 pushes k-1 out, so what answers next is the marker.
    await settle(pair, dedupe.run('k-2', 'f', execute, keep));
    nowMs += 100;
    expect(await settle(pair, dedupe.run('k-1', 'f', execute, keep))).toEqual({ kind: 'duplicate', outcome: OK });
    expect((await settle(pair, dedupe.run('k-3', 'f', execute, keep))).kind).toBe('first');
    expect(runs).toBe(3);
    nowMs += 61_000;
    const afterTtl = await settle(pair, dedupe.run('k-1', 'f', execute, keep));
    expect(afterTtl.kind).toBe('first');
    expect(runs).toBe(4);
  });
});
