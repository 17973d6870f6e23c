/** The deterministic simulator in CI: SIM_SEEDS seeds (500 by default) of
 *  chaos then healing, each checked for lost acknowledged updates, W1,
 *  split brain, liveness and convergence. A failure names the seed and the
 *  command that replays it. */

import { describe, expect, it } from 'vitest';
import { runScenario } from './scenario.ts';

const SEEDS = Number(process.env.SIM_SEEDS ?? 500);

describe('simulator', () => {
  it(`simulator: ${SEEDS} seeded runs of crashes, partitions, clock jumps, client retries, deletes and tombstone collection lose no acknowledged update and converge`, () => {
    let acknowledged = 0;
    let failovers = 0;
    let collected = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = runScenario({ seed });
      const report = result.violations.map((v) => `${v.kind}: ${v.message}`).join('\n');
      expect(report, `seed 0x${seed.toString(16)} failed; reproduce: npm run sim -- --seed 0x${seed.toString(16)} --verbose`).toBe('');
      acknowledged += result.acknowledged;
      failovers += result.failovers;
      collected += result.collected;
    }
    // The runs did real work: updates acknowledged, failovers happened, tombstones were collected.
    expect(acknowledged).toBeGreaterThan(SEEDS * 100);
    expect(failovers).toBeGreaterThan(SEEDS / 10);
    expect(collected).toBeGreaterThan(SEEDS);
  }, 600_000);

  it('simulator: the same seed gives the same run', () => {
    const first = runScenario({ seed: 42 });
    const second = runScenario({ seed: 42 });
    expect(second.faults).toEqual(first.faults);
    expect(second.log).toEqual(first.log);
    expect(second.events).toBe(first.events);
  });
});

describe('simulator: failover timing', () => {
  it('failover: with minReplicas 0, after kill -9 of the primary the secondary promotes and acknowledges writes within 1 s', async () => {
    const { World } = await import('./world.ts');
    const world = new World({ seed: 7, minReplicas: 0, clients: 3, keys: 8 });
    world.runUntil(2_000);
    expect(world.nodes.a.replica!.role).toBe('primary');
    const killedAtMs = world.nowMs;
    world.crashNode('a');
    world.runUntil(killedAtMs + 3_000);
    expect(world.nodes.b.replica!.role).toBe('primary');
    expect(world.nodes.b.replica!.epoch).toBe(2);
    const firstAck = world.history.find((op) => op.outcome === 'ok' && op.node === 'b' && op.completedMs! > killedAtMs);
    expect(firstAck).toBeDefined();
    expect(firstAck!.completedMs! - killedAtMs).toBeLessThan(1_000);
    // Nothing acknowledged by the old primary is missing on the new one.
    for (const op of world.history) {
      if (op.outcome !== 'ok' || op.node !== 'a') continue;
      expect(world.nodes.b.store.currentTs(op.key)).toBeGreaterThanOrEqual(op.ts);
    }
  });

  it('failover: the old primary restarted with its first settings learns the newer epoch and rejoins as secondary', async () => {
    const { World } = await import('./world.ts');
    const world = new World({ seed: 8, minReplicas: 1, clients: 2, keys: 8 });
    world.runUntil(2_000);
    world.crashNode('a');
    world.runUntil(world.nowMs + 1_500);
    world.startNode('a');
    world.runUntil(world.nowMs + 3_000);
    world.clientsActive = false;
    world.runUntil(world.nowMs + 500);
    expect(world.nodes.a.replica!.role).toBe('secondary');
    expect(world.nodes.a.replica!.epoch).toBe(2);
    expect(world.nodes.b.replica!.role).toBe('primary');
    expect(world.nodes.a.store.digest.root()).toEqual(world.nodes.b.store.digest.root());
    expect(world.violations).toEqual([]);
  });
});
