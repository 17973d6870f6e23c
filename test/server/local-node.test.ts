/** LocalNode: the conference server's way into the replication state machine
 *  of its own process. Driven over the in-memory pair harness: local writes
 *  take the same write path as a client's (W2), and the change feed reports
 *  what each store applies. */

import { describe, expect, it } from 'vitest';
import { LocalNode } from '../../src/server/local-node.ts';
import { pairHandles, pairLocalNodes } from '../support/local-nodes.ts';
import type { Change } from '../../src/server/state-node.ts';
import { Pair } from '../support/pair-harness.ts';

function nodesOf(pair: Pair): { primary: LocalNode; secondary: LocalNode } {
  return pairLocalNodes(pair, 'http://127.0.0.1:1', 'http://127.0.0.1:2');
}

describe('local node', () => {
  it('local node: a local write is applied on the primary only after the secondary holds it (W2), and both change feeds report it', async () => {
    const pair = new Pair({ seed: 3 });
    pair.run();
    const { primary, secondary } = nodesOf(pair);
    const primaryChanges: Change[] = [];
    const secondaryChanges: Change[] = [];
    primary.onChange((change) => {
      expect(pair.secondaryStore.currentTs(change.key)).toBeGreaterThanOrEqual(change.ts);
      primaryChanges.push(change);
    });
    secondary.onChange((change) => secondaryChanges.push(change));
    const pending = primary.write([
      { key: 's/s1/p/a', value: { name: 'Ada', presence: 'joined', joinedAtMs: 1 } },
      { key: 's/s1/p/b', value: { name: 'Bo', presence: 'lobby', joinedAtMs: 2 } },
    ]);
    pair.run();
    const outcomes = await pending;
    expect(outcomes.map((o) => o.code)).toEqual(['applied', 'applied']);
    expect(primaryChanges.map((c) => [c.key, c.session])).toEqual([['s/s1/p/a', 's1'], ['s/s1/p/b', 's1']]);
    expect(secondaryChanges.map((c) => c.key).sort()).toEqual(['s/s1/p/a', 's/s1/p/b']);
    for (const outcome of outcomes) {
      if (outcome.code === 'applied') expect(pair.primaryStore.currentTs(outcome.key)).toBe(outcome.ts);
    }
    expect(primary.sessionElements('s1').map((e) => e.value)).toHaveLength(2);
    expect(secondary.sessionElements('s1')).toHaveLength(2);
    expect([...primary.sessionIds()]).toEqual(['s1']);
  });

  it('local node: what beforeSend is given runs, in order, when the adapter drains; its writes leave in that drain, without waking it again', async () => {
    const pair = new Pair({ seed: 5 });
    pair.run();
    let wakes = 0;
    const { primary: handle } = pairHandles(pair);
    const primary = new LocalNode(handle, { selfUrl: null, peerUrl: null, nowMs: () => pair.nowMs, wake: () => wakes++ });
    const order: string[] = [];
    let written: Promise<unknown> | undefined;
    primary.beforeSend(() => {
      order.push('first');
      written = primary.write([{ key: 's/s1/hand/a', value: { raisedAtMs: 1 } }]);
    });
    primary.beforeSend(() => order.push('second'));
    expect(order).toEqual([]);
    expect(wakes).toBe(2);
    primary.runBeforeSend();
    expect(order).toEqual(['first', 'second']);
    expect(wakes).toBe(2);
    primary.runBeforeSend();
    expect(order).toEqual(['first', 'second']);
    pair.run();
    expect(await written).toMatchObject([{ code: 'applied', key: 's/s1/hand/a' }]);
    // Outside runBeforeSend a write wakes the adapter as before.
    void primary.write([{ key: 's/s1/hand/b', value: { raisedAtMs: 2 } }]);
    expect(wakes).toBe(3);
  });

  it('local node: a delete is reported with value null and leaves the session empty to readers', async () => {
    const pair = new Pair({ seed: 4 });
    pair.run();
    const { primary } = nodesOf(pair);
    const seen: Change[] = [];
    primary.onChange((change) => seen.push(change));
    let pending = primary.write([{ key: 's/s1/hand/a', value: { raisedAtMs: 5 } }]);
    pair.run();
    await pending;
    pending = primary.write([{ key: 's/s1/hand/a', value: null }]);
    pair.run();
    expect((await pending)[0]!.code).toBe('applied');
    expect(seen.map((c) => c.value)).toEqual([{ raisedAtMs: 5 }, null]);
    expect(primary.sessionElements('s1')).toEqual([]);
  });

  it('local node: bad keys and values are refused with a reason and change nothing', async () => {
    const pair = new Pair({ seed: 5 });
    pair.run();
    const { primary } = nodesOf(pair);
    const pending = primary.write([
      { key: 's/bad key', value: 1 },
      { key: 's/s1/x', value: 'x'.repeat(20_000) },
    ]);
    pair.run();
    const outcomes = await pending;
    expect(outcomes.map((o) => o.code)).toEqual(['rejected', 'rejected']);
    expect(outcomes[0]!.code !== 'applied' && outcomes[0]!.message).toMatch(/invalid_key/);
    expect(outcomes[1]!.code !== 'applied' && outcomes[1]!.message).toMatch(/invalid_value/);
    expect(pair.primaryStore.size).toBe(0);
  });

  it('local node: with no secondary and minReplicas 1, writes are unavailable; the status says not ready and why', async () => {
    const pair = new Pair({ seed: 6, startSecondary: false });
    pair.run();
    const { primary } = nodesOf(pair);
    const outcomes = await primary.write([{ key: 's/s1/meta', value: {} }]);
    expect(outcomes[0]!.code).toBe('unavailable');
    const status = primary.status();
    expect(status.ready).toBe(false);
    expect(status.reason).toMatch(/minReplicas is 1/);
    expect(pair.primaryStore.size).toBe(0);
  });

  it('local node: the secondary refuses writes with not_primary naming the primary, and is never ready', async () => {
    const pair = new Pair({ seed: 7 });
    pair.run();
    const { secondary, primary } = nodesOf(pair);
    const outcomes = await secondary.write([{ key: 's/s1/meta', value: {} }]);
    expect(outcomes[0]).toMatchObject({ code: 'not_primary' });
    expect(outcomes[0]!.code !== 'applied' && outcomes[0]!.message).toContain('http://127.0.0.1:1');
    expect(secondary.status().ready).toBe(false);
    expect(secondary.info).toMatchObject({ role: 'secondary', primaryUrl: 'http://127.0.0.1:1' });
    expect(primary.status()).toMatchObject({ ready: true, degraded: false, secondaryState: 'streaming' });
    expect([primary.status().readsComplete, secondary.status().readsComplete]).toEqual([true, true]);
  });

  it('local node: a secondary that has never been in sync says its reads are not complete, until it is', () => {
    const pair = new Pair({ seed: 8, minReplicas: 0, startSecondary: false });
    expect(nodesOf(pair).secondary.status().readsComplete).toBe(false);
    pair.restartSecondary();
    expect(nodesOf(pair).secondary.status().readsComplete).toBe(false);
    pair.run();
    const { primary, secondary } = nodesOf(pair);
    expect(secondary.status().readsComplete).toBe(true);
    expect(primary.status().readsComplete).toBe(true);
  });
});
