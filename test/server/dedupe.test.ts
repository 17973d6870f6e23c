/** The in-memory idempotency window: first outcome returned to retries,
 *  in-flight retries joined, transient outcomes forgotten, bounded by entries
 *  and by time. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryCommandDedupe } from '../../src/server/dedupe.ts';
import { propertyOptions } from '../support/property.ts';

function window(entriesMax = 3, ttlMs = 1000) {
  const clock = { ms: 0, nowMs() { return this.ms; } };
  return { clock, dedupe: new MemoryCommandDedupe<string>({ entriesMax, ttlMs }, clock) };
}
const keepAll = (): boolean => true;

describe('dedupe window', () => {
  it('dedupe: a retry gets the first outcome without running again', async () => {
    const { dedupe } = window();
    let runs = 0;
    const run = () => dedupe.run('k', 'body', async () => `outcome ${++runs}`, keepAll);
    expect(await run()).toEqual({ kind: 'first', outcome: 'outcome 1' });
    expect(await run()).toEqual({ kind: 'duplicate', outcome: 'outcome 1' });
    expect(runs).toBe(1);
  });

  it('dedupe: a retry that arrives while the first is in flight waits for it and runs nothing', async () => {
    const { dedupe } = window();
    let release!: (value: string) => void;
    let runs = 0;
    const first = dedupe.run('k', 'body', () => (runs++, new Promise<string>((resolve) => (release = resolve))), keepAll);
    const retry = dedupe.run('k', 'body', async () => (runs++, 'second'), keepAll);
    release('done');
    expect(await first).toEqual({ kind: 'first', outcome: 'done' });
    expect(await retry).toEqual({ kind: 'duplicate', outcome: 'done' });
    expect(runs).toBe(1);
  });

  it('dedupe: the same id with a different body is a conflict and runs nothing', async () => {
    const { dedupe } = window();
    await dedupe.run('k', 'body', async () => 'a', keepAll);
    let ran = false;
    expect(await dedupe.run('k', 'other', async () => ((ran = true), 'b'), keepAll)).toEqual({ kind: 'conflict' });
    expect(ran).toBe(false);
  });

  it('dedupe: an outcome keep() refuses is forgotten, so its retry runs again', async () => {
    const { dedupe } = window();
    let runs = 0;
    const run = () => dedupe.run('k', 'body', async () => `try ${++runs}`, (o) => o !== 'try 1');
    expect(await run()).toEqual({ kind: 'first', outcome: 'try 1' });
    expect(await run()).toEqual({ kind: 'first', outcome: 'try 2' });
    expect(await run()).toEqual({ kind: 'duplicate', outcome: 'try 2' });
  });

  it('dedupe: an entry is forgotten after ttlMs', async () => {
    const { dedupe, clock } = window(10, 1000);
    let runs = 0;
    const run = () => dedupe.run('k', 'body', async () => `run ${++runs}`, keepAll);
    await run();
    clock.ms = 999;
    expect((await run()).kind).toBe('duplicate');
    clock.ms = 1001;
    expect(await run()).toEqual({ kind: 'first', outcome: 'run 2' });
  });

  it('dedupe: at entriesMax the oldest entry is dropped first', async () => {
    const { dedupe } = window(3);
    for (const key of ['a', 'b', 'c', 'd']) await dedupe.run(key, 'body', async () => key, keepAll);
    expect(dedupe.size).toBe(3);
    expect((await dedupe.run('a', 'body', async () => 'again', keepAll)).kind).toBe('first');
    expect((await dedupe.run('d', 'body', async () => 'again', keepAll)).kind).toBe('duplicate');
  });

  type Op =
    | { readonly kind: 'start'; readonly key: number; readonly body: number; readonly keep: boolean }
    | { readonly kind: 'finish'; readonly nth: number }
    | { readonly kind: 'advance'; readonly ms: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('start' as const), key: fc.nat(12), body: fc.nat(1), keep: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('finish' as const), nth: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 600 }) }) },
  );

  it('dedupe (property): duplicate only for a kept earlier run within ttl; a kept run is remembered until entriesMax others could push it out; never over entriesMax when nothing runs', async () => {
    const entriesMax = 4;
    const ttlMs = 1000;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 120 }), async (ops) => {
        const clock = { ms: 0, nowMs() { return this.ms; } };
        const dedupe = new MemoryCommandDedupe<string>({ entriesMax, ttlMs }, clock);
        // The model: for each key, its last run's body, whether it finished and was kept, when, and the other keys that
        // could have pushed it out since: those in flight when it finished, and those started after.
        const runs = new Map<number, { body: number; finished: boolean; kept: boolean; atMs: number; othersSince: Set<number> }>();
        const inFlight: { key: number; release: () => void; answer: Promise<unknown> }[] = [];
        for (const o of ops) {
          if (o.kind === 'advance') clock.ms += o.ms;
          else if (o.kind === 'finish') {
            if (inFlight.length === 0) continue;
            const [run] = inFlight.splice(o.nth % inFlight.length, 1);
            run!.release();
            await run!.answer;
          } else {
            const before = runs.get(o.key);
            let release!: () => void;
            let ran = false;
            const answer = dedupe.run(`k${o.key}`, `b${o.body}`, () => ((ran = true), new Promise<string>((resolve) => (release = () => resolve(`out${o.key}`)))), () => o.keep);
            await Promise.resolve();
            if (ran) {
              // Remembered: a kept run within the ttl is run again only if entriesMax other keys could have pushed it out.
              if (before !== undefined && before.finished && before.kept && clock.ms - before.atMs <= ttlMs) expect(before.othersSince.size).toBeGreaterThanOrEqual(entriesMax);
              for (const [key, other] of runs) if (other.finished && key !== o.key) other.othersSince.add(o.key);
              const model = { body: o.body, finished: false, kept: o.keep, atMs: 0, othersSince: new Set<number>() };
              runs.set(o.key, model);
              inFlight.push({
                key: o.key,
                release,
                answer: answer.then(() => {
                  model.finished = true;
                  model.atMs = clock.ms;
                  for (const run of inFlight) if (run.key !== o.key) model.othersSince.add(run.key);
                  if (!model.kept) runs.delete(o.key);
                }),
              });
            } else {
              const result = await Promise.race([answer, new Promise((resolve) => setImmediate(() => resolve('waiting')))]);
              // Not run: a conflict (other body) or a duplicate of the run the model holds (finished within ttl, or in flight).
              expect(before).toBeDefined();
              if (before!.body !== o.body) expect(result).toEqual({ kind: 'conflict' });
              else if (before!.finished) {
                expect(before!.kept).toBe(true);
                expect(clock.ms - before!.atMs).toBeLessThanOrEqual(ttlMs);
                expect(result).toEqual({ kind: 'duplicate', outcome: `out${o.key}` });
              }
            }
          }
          if (inFlight.length === 0) expect(dedupe.size).toBeLessThanOrEqual(entriesMax);
        }
      }),
      propertyOptions(),
    );
  });
});
