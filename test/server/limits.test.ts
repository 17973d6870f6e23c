/** Every bounded queue and buffer of the server at its maximum (STYLE.md: a
 *  limit on everything, and a test at each): messages behind hello,
 *  subscriptions per connection, membership commands waiting for a session,
 *  changes per delta, resume rings held, mirrors held; and a connection's
 *  token expiring. */

import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../src/conference/api.ts';
import { planCommand } from '../../src/conference/commands.ts';
import type { Actor } from '../../src/conference/model.ts';
import { startServer } from '../../src/server/app.ts';
import { type CommandResult, CommandService } from '../../src/server/command-service.ts';
import { serverConfig } from '../../src/server/config.ts';
import { MemoryCommandDedupe } from '../../src/server/dedupe.ts';
import { Hub } from '../../src/server/hub.ts';
import { SessionIndex } from '../../src/server/session-index.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { SECRET, TestClient, listeningServer, token } from './support.ts';

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

const clock = { nowMs: () => Date.now() };
const admin: Actor = { kind: 'service', id: 'admin', tokenRole: 'host' };
const member = (id: string): Actor => ({ kind: 'participant', id, tokenRole: 'participant' });

function service(node: MemoryStateNode, limits: { sessionQueueLengthMax?: number; mirrorsMax?: number } = {}): CommandService {
  const dedupe = new MemoryCommandDedupe<CommandResult>({ entriesMax: 100, ttlMs: 60_000 }, clock);
  return new CommandService(node, planCommand, dedupe, new SessionIndex(node), { sessionsMax: 100, mirrorsMax: limits.mirrorsMax ?? 100, sessionQueueLengthMax: limits.sessionQueueLengthMax ?? 100 }, clock);
}

const run = (commands: CommandService, session: string, actor: Actor, command: Parameters<CommandService['execute']>[0]['command']) =>
  commands.execute({ session, actor, requestId: undefined, command });

describe('limits: at their maximum', () => {
  it('limits: sessionQueueLengthMax membership commands wait for a session; one more is refused queue_full at once', async () => {
    const node = new MemoryStateNode();
    const commands = service(node, { sessionQueueLengthMax: 3 });
    await run(commands, 's1', admin, { type: 'create', settings: { lobby: false } });
    node.holdReplication = true;
    const waiting = [1, 2, 3].map((i) => run(commands, 's1', member(`p${i}`), { type: 'join', name: `P${i}` }));
    expect(await run(commands, 's1', member('p4'), { type: 'join', name: 'P4' })).toMatchObject({ ok: false, error: { code: 'queue_full', message: expect.stringContaining('limit is 3') } });
    let settled = false;
    const all = Promise.all(waiting).finally(() => (settled = true));
    while (!settled) {
      node.releaseReplication();
      node.holdReplication = true;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await all).every((r) => r.ok)).toBe(true);
  });

  it('limits: a turn with more than deltaChangesMax changes is sent as several gapless deltas of at most that many', async () => {
    const node = new MemoryStateNode();
    const hub = new Hub(node, { resumeDeltasMax: 10, resumeSessionsMax: 10, deltaChangesMax: 2 }, 'test');
    const seen: ServerMessage[] = [];
    hub.subscribe('s1', { send: (text) => seen.push(JSON.parse(text) as ServerMessage) }, undefined);
    await run(service(node), 's1', admin, { type: 'create' }); // five elements
    await new Promise((resolve) => setImmediate(resolve));
    const deltas = seen.filter((m): m is Extract<ServerMessage, { type: 'delta' }> => m.type === 'delta');
    expect(deltas.map((d) => [d.seq, d.changes.length])).toEqual([[1, 2], [2, 2], [3, 1]]);
  });

  it('limits: past resumeSessionsMax the least recently used unfollowed stream is dropped, and resuming it gets a snapshot', () => {
    const node = new MemoryStateNode();
    const hub = new Hub(node, { resumeDeltasMax: 10, resumeSessionsMax: 2, deltaChangesMax: 100 }, 'test');
    const subscriber = { send: () => undefined };
    const first = JSON.parse(hub.subscribe('a', subscriber, undefined)[0]!) as Extract<ServerMessage, { type: 'snapshot' }>;
    hub.unsubscribe('a', subscriber);
    hub.subscribe('b', subscriber, undefined);
    hub.subscribe('c', subscriber, undefined);
    expect(hub.counts().streams).toBe(2);
    const again = JSON.parse(hub.subscribe('a', subscriber, { stream: first.stream, seq: 0 })[0]!) as ServerMessage;
    expect(again).toMatchObject({ type: 'snapshot', reason: expect.stringContaining(first.stream) });
  });

  it('limits: past mirrorsMax a dropped session mirror is reloaded from the node, and commands still see the right state', async () => {
    const node = new MemoryStateNode();
    const commands = service(node, { mirrorsMax: 1 });
    for (const session of ['a', 'b']) await run(commands, session, admin, { type: 'create', settings: { lobby: false, maxParticipants: 1 } });
    expect(await run(commands, 'a', member('x'), { type: 'join', name: 'X' })).toMatchObject({ ok: true });
    expect(await run(commands, 'b', member('y'), { type: 'join', name: 'Y' })).toMatchObject({ ok: true });
    expect(await run(commands, 'a', member('z'), { type: 'join', name: 'Z' })).toMatchObject({ ok: false, error: { code: 'session_full' } });
    expect(commands.view('b')!.participants.map((p) => p.id)).toEqual(['y']);
  });

  it('limits: more than helloPipelineMax messages before welcome close the connection', async () => {
    const started = await listeningServer({ limits: { helloPipelineMax: 2 } });
    closers.push(started.close);
    const client = await TestClient.connect(started.url);
    closers.push(() => client.close());
    client.send({ type: 'hello', token: await token({ sub: 'a', session: 's1' }), protocol: 1 });
    for (let i = 0; i < 3; i++) client.send({ type: 'ping', id: `${i}` });
    expect(await client.next((m) => m.type === 'error')).toMatchObject({ code: 'hello_required', message: expect.stringContaining('more than 2') });
  });

  it('limits: a connection follows at most subscriptionsPerConnectionMax sessions', async () => {
    const started = await listeningServer({ limits: { subscriptionsPerConnectionMax: 2 } });
    closers.push(started.close);
    const client = await TestClient.welcomed(started.url, await token({ sub: 'sfu', session: '*', role: 'host' }));
    closers.push(() => client.close());
    for (const session of ['a', 'b']) {
      client.send({ type: 'subscribe', session });
      await client.next((m) => m.type === 'snapshot');
    }
    client.send({ type: 'subscribe', session: 'c' });
    expect(await client.next((m) => m.type === 'unsubscribed')).toEqual({ type: 'unsubscribed', session: 'c', reason: 'too_many_subscriptions' });
  });

  it('limits: a WebSocket connection is closed token_expired when its token expires', async () => {
    const config = serverConfig({ auth: { hs256Secret: SECRET, clockToleranceS: 0 } });
    const started = await startServer({ node: new MemoryStateNode(), config, listen: { host: '127.0.0.1', port: 0 } });
    closers.push(started.close);
    const client = await TestClient.welcomed(started.url, await token({ sub: 'a', session: 's1', expiresInS: 1 }));
    closers.push(() => client.close());
    // Expires 1–2 s from now (exp is in whole seconds); the bound only has to outlast a loaded machine.
    expect(await client.next((m) => m.type === 'error', 10_000)).toMatchObject({ code: 'token_expired', fatal: true });
    expect(await client.closed).toBe(4401);
  });
});
