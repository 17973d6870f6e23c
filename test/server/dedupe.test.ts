/** The in-memory idempotency window: first outcome returned to retries,
 *  in-flight retries joined, transient outcomes forgotten, bounded by entries
 *  and by time. */

import { describe, expect, it } from 'vitest';
import { MemoryCommandDedupe } from '../../src/server/dedupe.ts';

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
});
