/** /healthz, /readyz and /metrics: readiness follows the node's status, and
 *  the Prometheus exposition carries every metric the operations docs name,
 *  with values that follow what happened — per app, not a global registry. */

import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server/app.ts';
import { MemoryStateNode, type NodeStatus } from '../../src/server/state-node.ts';
import { ADMIN_HEADERS, bearer, createSession, testConfig, testServer, token } from './support.ts';

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers) await close();
  closers = [];
});

/** A MemoryStateNode whose status can be overridden field by field. */
class StatusNode extends MemoryStateNode {
  override: Partial<NodeStatus> = {};
  override status(): NodeStatus {
    return { ...super.status(), ...this.override };
  }
}

/** The value of one sample line, e.g. `confstate_sessions 2`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('health and readiness', () => {
  it('health: /healthz is 200 with the role while serving; /readyz follows status().ready with its reason', async () => {
    const node = new StatusNode();
    const built = buildServer({ node, config: testConfig() });
    closers.push(built.close);
    const health = await built.app.inject({ method: 'GET', url: '/healthz' });
    expect([health.statusCode, health.json()]).toEqual([200, expect.objectContaining({ status: 'ok', role: 'primary', epoch: 1, nodeId: 1 })]);
    expect((await built.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    node.override = { ready: false, reason: 'secondary catching_up and minReplicas is 1: writes wait or are refused' };
    const notReady = await built.app.inject({ method: 'GET', url: '/readyz' });
    expect([notReady.statusCode, notReady.json().reason]).toEqual([503, node.override.reason]);
  });
});

describe('metrics', () => {
  it('metrics: the exposition names every metric, and values follow commands, sessions, presence and connections', async () => {
    const node = new StatusNode();
    node.override = { lastSyncCheck: { inSync: true, differenceCount: 0, ageMs: 2500 } };
    const built = buildServer({ node, config: testConfig() });
    closers.push(built.close);
    await createSession(built, 's1');
    const alice = await token({ sub: 'alice', session: 's1' });
    await built.app.inject({ method: 'POST', url: '/v1/sessions/s1/commands', headers: bearer(alice), payload: { id: 'j', command: { type: 'join', name: 'A' } } });
    await built.app.inject({ method: 'POST', url: '/v1/sessions/s1/commands', headers: bearer(alice), payload: { id: 'k', command: { type: 'kick', participant: 'alice' } } });
    const response = await built.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const text = response.body;
    for (const name of [
      'confstate_updates_total', 'confstate_replication_latency_seconds', 'confstate_write_queue_depth', 'confstate_replication_in_flight',
      'confstate_sync_check_in_sync', 'confstate_sync_check_age_seconds', 'confstate_sync_check_differences', 'confstate_sessions',
      'confstate_participants_present', 'confstate_ws_connections', 'confstate_ws_subscriptions', 'confstate_commands_total',
      'confstate_node_role', 'confstate_node_epoch', 'confstate_node_degraded', 'confstate_node_ready', 'confstate_elements', 'confstate_ws_errors_total',
      'confstate_tombstones', 'confstate_tombstones_collected_total', 'confstate_sessions_purged_total', 'confstate_dedupe_records',
      'confstate_dedupe_waiting_updates',
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    expect(sample(text, 'confstate_sessions')).toBe(1);
    expect(sample(text, 'confstate_participants_present')).toBe(1);
    expect(sample(text, 'confstate_sync_check_in_sync')).toBe(1);
    expect(sample(text, 'confstate_sync_check_age_seconds')).toBe(2.5);
    // 5 for create, 2 for join (participant and role), 1 marker element holding the records of the join's turn
    // (the kick, refused by the planner, wrote nothing and left no record)
    expect(sample(text, 'confstate_dedupe_records')).toBe(1);
    expect(sample(text, 'confstate_dedupe_waiting_updates')).toBe(0);
    expect(sample(text, 'confstate_updates_total{outcome="applied"}')).toBe(8);
    expect(sample(text, 'confstate_replication_latency_seconds_count')).toBe(7);
    expect(sample(text, 'confstate_commands_total{type="join",outcome="ok"}')).toBe(1);
    expect(sample(text, 'confstate_commands_total{type="kick",outcome="forbidden"}')).toBe(1);
    expect(sample(text, 'confstate_node_role{role="primary"}')).toBe(1);
    expect(sample(text, 'confstate_node_role{role="secondary"}')).toBe(0);
    expect(sample(text, 'confstate_node_degraded')).toBe(1);
    expect(sample(text, 'confstate_tombstones')).toBe(node.store.tombstoneCount);
    expect(sample(text, 'confstate_tombstones_collected_total')).toBe(0);
  });

  it('metrics: two apps in one process keep separate registries', async () => {
    const one = testServer();
    const two = testServer();
    closers.push(one.close, two.close);
    await createSession(one, 'only-in-one');
    const count = async (built: typeof one) => sample((await built.app.inject({ method: 'GET', url: '/metrics' })).body, 'confstate_commands_total{type="create",outcome="ok"}');
    expect(await count(one)).toBe(1);
    expect(await count(two)).toBeUndefined();
  });

  it('metrics: with metricsAccess admin, /metrics needs the admin credential', async () => {
    const built = buildServer({ node: new MemoryStateNode(), config: testConfig({}, { metricsAccess: 'admin' }) });
    closers.push(built.close);
    expect((await built.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await built.app.inject({ method: 'GET', url: '/metrics', headers: ADMIN_HEADERS })).statusCode).toBe(200);
  });
});
