/** Ended sessions are purged after endedSessionRetentionMs: the index knows
 *  when each ended, CommandService.purge deletes every element (meta before
 *  phase, in the session's turn), the sweeper purges only what is due, only
 *  on a primary, and reports failures; through the server, an ended session
 *  disappears (404, subscribers see its elements deleted, the id is free),
 *  and an open one is never touched. */

import { describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { packTimestamp, TIMESTAMP_EPOCH_UNIX_MS } from '../../src/core/clock.ts';
import { planCommand } from '../../src/conference/commands.ts';
import type { Actor, Command } from '../../src/conference/model.ts';
import { CommandService, type PurgeResult } from '../../src/server/command-service.ts';
import { MemoryCommandDedupe } from '../../src/server/dedupe.ts';
import { refusal } from '../../src/server/errors.ts';
import { SessionIndex } from '../../src/server/session-index.ts';
import { SessionPurger } from '../../src/server/session-purge.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { purgeIntervalMs } from '../../src/server/app.ts';
import { ADMIN_HEADERS, bearer, createSession, eventually, listeningFixture, TestClient, token } from './support.ts';

const HOST: Actor = { kind: 'participant', id: 'h', tokenRole: 'host' };
const GUEST: Actor = { kind: 'participant', id: 'g', tokenRole: 'participant' };

function service(node = new MemoryStateNode()) {
  const index = new SessionIndex(node);
  const clock = { nowMs: () => Date.now() };
  const limits = { sessionsMax: 100, mirrorsMax: 100, sessionQueueLengthMax: 100 };
  const commands = new CommandService(node, planCommand, new MemoryCommandDedupe({ entriesMax: 100, ttlMs: 60_000 }, clock), index, limits, clock);
  const run = async (session: string, actor: Actor, command: Command) => {
    const result = await commands.execute({ session, actor, requestId: undefined, command });
    if (!result.ok) throw new Error(`${command.type}: ${result.error.message}`);
  };
  return { node, index, commands, run };
}

async function meeting(run: ReturnType<typeof service>['run'], session: string, end: boolean): Promise<void> {
  await run(session, HOST, { type: 'create', settings: { lobby: false } });
  await run(session, HOST, { type: 'join', name: 'Host' });
  await run(session, GUEST, { type: 'join', name: 'Guest' });
  await run(session, GUEST, { type: 'publish_track', kind: 'audio' });
  await run(session, GUEST, { type: 'raise_hand' });
  await run(session, HOST, { type: 'start_recording' });
  if (end) await run(session, HOST, { type: 'end' });
}

describe('session purge: index and CommandService.purge', () => {
  it('purge: the index knows when a session ended; purging deletes every element, meta before phase, and the index forgets it', async () => {
    const { node, index, commands, run } = service();
    await meeting(run, 'a', true);
    await meeting(run, 'b', false);
    const endedAtMs = Date.now();
    expect(index.endedBefore(endedAtMs + 1, 10)).toEqual(['a']);
    expect(index.endedBefore(endedAtMs - 60_000, 10)).toEqual([]);
    const held = node.sessionElements('a').length;
    expect(held).toBeGreaterThan(5);

    const order: string[] = [];
    node.onChange((change) => {
      if (change.session === 'a') order.push(`${change.key}${change.value === null ? ' deleted' : ''}`);
    });
    expect(await commands.purge('a')).toEqual({ ok: true, deleted: held });
    expect(node.sessionElements('a')).toEqual([]);
    expect(order.slice(-2)).toEqual(['s/a/meta deleted', 's/a/phase deleted']);
    expect(order.every((o) => o.endsWith(' deleted'))).toBe(true);
    expect(commands.view('a')).toBeUndefined();
    expect([index.exists('a'), index.endedBefore(Number.MAX_SAFE_INTEGER, 10), index.size, index.liveCount]).toEqual([false, [], 1, 1]);
    // The open session is untouched; purging it (or an unknown one) does nothing.
    const openHeld = node.sessionElements('b').length;
    expect(await commands.purge('b')).toEqual({ ok: true, deleted: 0 });
    expect(await commands.purge('nope')).toEqual({ ok: true, deleted: 0 });
    expect(node.sessionElements('b').length).toBe(openHeld);
    // The id is free: a new session of that name starts empty.
    await run('a', HOST, { type: 'create', settings: { lobby: false } });
    expect(commands.view('a')).toMatchObject({ phase: 'open', participants: [] });
    expect(index.liveCount).toBe(2);
  });

  it('purge: a create of the same id sent while the purge runs waits for it, and makes a whole new session', async () => {
    const { commands, run } = service();
    await meeting(run, 'a', true);
    const purged = commands.purge('a');
    const created = commands.execute({ session: 'a', actor: HOST, requestId: undefined, command: { type: 'create', settings: { lobby: true } } });
    expect(await purged).toMatchObject({ ok: true });
    expect(await created).toEqual({ ok: true, duplicate: false });
    expect(commands.view('a')).toMatchObject({ phase: 'open', participants: [], settings: { lobby: true } });
  });

  it('purge: on a secondary it refuses not_primary and deletes nothing', async () => {
    const { node, commands, run } = service();
    await meeting(run, 'a', true);
    (node as { info: unknown }).info = { nodeId: 2, role: 'secondary', epoch: 1, primaryUrl: 'http://127.0.0.1:1' };
    const held = node.sessionElements('a').length;
    expect(await commands.purge('a')).toMatchObject({ ok: false, error: { code: 'not_primary' } });
    expect(node.sessionElements('a').length).toBe(held);
  });

  it('purge: an element the index is told of only as deleted never makes an entry', () => {
    const { index } = service();
    index.apply({ key: 's/ghost/p/x', ts: packTimestamp(Date.now() - TIMESTAMP_EPOCH_UNIX_MS, 0, 1), value: null, session: 'ghost' });
    index.apply({ key: 's/ghost/phase', ts: packTimestamp(Date.now() - TIMESTAMP_EPOCH_UNIX_MS, 1, 1), value: null, session: 'ghost' });
    expect(index.size).toBe(0);
  });
});

describe('session purge: the sweeper', () => {
  function sweeper(due: string[], purge: (session: string) => Promise<PurgeResult>, primary = true) {
    const asked: number[] = [];
    const purger = new SessionPurger({
      index: { endedBefore: (cutoffMs, limit) => (asked.push(cutoffMs), due.slice(0, limit)) },
      purge,
      isPrimary: () => primary,
      clock: { nowMs: () => 10_000 },
      retentionMs: 4_000,
      sessionsPerSweep: 2,
    });
    return { purger, asked };
  }

  it('sweeper: purges at most sessionsPerSweep sessions ended retentionMs ago, one at a time, and reports failures', async () => {
    let running = 0;
    const { purger, asked } = sweeper(['a', 'b', 'c'], async (session) => {
      expect(++running).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return session === 'b' ? { ok: false, error: refusal('unavailable', 'no secondary') } : { ok: true, deleted: 7 };
    });
    const result = await purger.sweep();
    expect(asked).toEqual([6_000]);
    expect(result).toEqual({ sessions: 1, elements: 7, failed: [{ session: 'b', error: refusal('unavailable', 'no secondary') }] });
  });

  it('sweeper: sweeps never overlap, and a secondary sweeps nothing', async () => {
    let calls = 0;
    const { purger } = sweeper(['a'], async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { ok: true, deleted: 1 };
    });
    const [one, two] = [purger.sweep(), purger.sweep()];
    expect(one).toBe(two);
    await one;
    expect(calls).toBe(1);
    const secondary = sweeper(['a'], async () => Promise.reject(new Error('must not purge')), false);
    expect(await secondary.purger.sweep()).toEqual({ sessions: 0, elements: 0, failed: [] });
  });

  it('sweeper: the interval is half the retention, between 100 ms and a minute', () => {
    expect([purgeIntervalMs(50), purgeIntervalMs(10_000), purgeIntervalMs(60 * 60_000)]).toEqual([100, 5_000, 60_000]);
  });
});

describe('session purge: through the server', () => {
  const { server, clients } = listeningFixture();

  async function command(app: FastifyInstance, session: string, tokenText: string, id: string, body: unknown) {
    return app.inject({ method: 'POST', url: `/v1/sessions/${session}/commands`, headers: bearer(tokenText), payload: { id, command: body } });
  }

  it('server: an ended session is gone after endedSessionRetentionMs (404, subscribers see its elements deleted, the id free); an open one stays', async () => {
    const started = await server({ limits: { endedSessionRetentionMs: 300 } });
    await createSession(started, 'done');
    await createSession(started, 'live');
    const host = await token({ sub: 'h', session: 'done', role: 'host' });
    await command(started.app, 'done', host, 'j', { type: 'join', name: 'H' });
    const watcher = await TestClient.welcomed(started.url, await token({ sub: 'w', session: '*', role: 'host' }));
    clients.push(watcher);
    watcher.send({ type: 'subscribe', session: 'done' });
    await watcher.next((m) => m.type === 'snapshot');
    expect((await started.app.inject({ method: 'POST', url: '/v1/sessions/done/end', headers: bearer(host) })).statusCode).toBe(200);

    await eventually(() => started.node.sessionElements('done').length === 0, 5_000);
    expect((await started.app.inject({ method: 'GET', url: '/v1/sessions/done', headers: ADMIN_HEADERS })).statusCode).toBe(404);
    const deleted = (): string[] => watcher.received.flatMap((m) => (m.type === 'delta' ? m.changes : [])).filter((c) => c.value === null).map((c) => c.key);
    await eventually(() => deleted().includes('s/done/phase')).catch(() => {
      throw new Error(`the subscriber saw no deletion of phase; it received ${JSON.stringify(watcher.received.slice(-5))}`);
    });
    expect(deleted()).toEqual(expect.arrayContaining(['s/done/meta', 's/done/phase', 's/done/p/h']));
    expect((await started.app.inject({ method: 'GET', url: '/v1/sessions/live', headers: ADMIN_HEADERS })).statusCode).toBe(200);
    // Counted for the operator; the id is free again.
    // The sweep counts once its purge has returned: read the metrics until it shows (or 3 s pass).
    const counted = /confstate_sessions_purged_total\{outcome="ok"\} 1\b/;
    let metrics = '';
    for (const deadline = Date.now() + 3_000; !counted.test(metrics) && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
      metrics = (await started.app.inject({ method: 'GET', url: '/metrics' })).body;
    }
    expect(metrics).toMatch(counted);
    await createSession(started, 'done');
  });
});
