/** WebRTC signalling relay (only between present members of the same
 *  session, payload within its limit) and presence driven by connections
 *  (last connection gone → reconnecting → left after the grace period; back
 *  in time → joined). Real ws clients on 127.0.0.1. */

import { describe, expect, it } from 'vitest';
import type { Presence } from '../../src/conference/model.ts';
import { TestClient, createSession, eventually, listeningFixture, token } from './support.ts';

const { server, clients } = listeningFixture();

/** A member: welcomed, subscribed, joined. */
async function member(url: string, sub: string, session: string, join = true): Promise<TestClient> {
  const client = await TestClient.welcomed(url, await token({ sub, session }));
  clients.push(client);
  client.send({ type: 'subscribe', session });
  await client.next((m) => m.type === 'snapshot');
  if (join) expect(await client.command(session, `join-${sub}`, { type: 'join', name: sub })).toMatchObject({ ok: true });
  return client;
}

describe('signal: relay between members', () => {
  it('signal: an offer from one present member reaches the other with its sender, and nobody else', async () => {
    const started = await server();
    await createSession(started, 's1');
    const alice = await member(started.url, 'alice', 's1');
    const bob = await member(started.url, 'bob', 's1');
    const carol = await member(started.url, 'carol', 's1');
    alice.send({ type: 'signal', session: 's1', to: 'bob', payload: { kind: 'offer', sdp: 'v=0...' } });
    expect(await bob.next((m) => m.type === 'signal')).toEqual({ type: 'signal', session: 's1', from: 'alice', payload: { kind: 'offer', sdp: 'v=0...' } });
    bob.send({ type: 'ping', id: 'p' });
    await bob.next((m) => m.type === 'pong');
    alice.send({ type: 'ping', id: 'p' });
    await alice.next((m) => m.type === 'pong');
    expect(carol.received.some((m) => m.type === 'signal')).toBe(false);
    expect(alice.received.some((m) => m.type === 'error')).toBe(false);
  });

  it('signal: to a participant of another session, to a non-member, or from a non-member, it is refused and not delivered', async () => {
    const started = await server();
    await createSession(started, 's1');
    await createSession(started, 's2');
    const alice = await member(started.url, 'alice', 's1');
    const other = await member(started.url, 'bob', 's2');
    alice.send({ type: 'signal', session: 's1', to: 'bob', payload: {} });
    expect(await alice.next((m) => m.type === 'error')).toMatchObject({ code: 'not_member', message: expect.stringContaining('"bob"') });
    alice.send({ type: 'signal', session: 's2', to: 'bob', payload: {} });
    expect(await alice.next((m) => m.type === 'error')).toMatchObject({ code: 'wrong_session' });
    const lurker = await member(started.url, 'lurker', 's1', false);
    lurker.send({ type: 'signal', session: 's1', to: 'alice', payload: {} });
    expect(await lurker.next((m) => m.type === 'error')).toMatchObject({ code: 'not_member', message: expect.stringContaining('lurker') });
    const service = await TestClient.welcomed(started.url, await token({ sub: 'sfu', session: '*', role: 'host' }));
    clients.push(service);
    service.send({ type: 'signal', session: 's1', to: 'alice', payload: {} });
    expect(await service.next((m) => m.type === 'error')).toMatchObject({ code: 'not_member' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(other.received.some((m) => m.type === 'signal')).toBe(false);
    expect(alice.received.some((m) => m.type === 'signal')).toBe(false);
  });

  it('signal: a payload over signalPayloadBytesMax is refused too_large; one at the limit passes', async () => {
    const started = await server({ limits: { signalPayloadBytesMax: 1000, wsMessageBytesMax: 4096 } });
    await createSession(started, 's1');
    const alice = await member(started.url, 'alice', 's1');
    const bob = await member(started.url, 'bob', 's1');
    alice.send({ type: 'signal', session: 's1', to: 'bob', payload: 'x'.repeat(999) }); // 1001 bytes as JSON text
    expect(await alice.next((m) => m.type === 'error')).toMatchObject({ code: 'too_large', message: expect.stringContaining('1001 bytes') });
    alice.send({ type: 'signal', session: 's1', to: 'bob', payload: 'x'.repeat(998) }); // exactly 1000
    expect(await bob.next((m) => m.type === 'signal')).toMatchObject({ from: 'alice' });
  });
});

describe('presence: from connections', () => {
  const presenceOf = (started: Awaited<ReturnType<typeof server>>, id: string): Presence | undefined =>
    started.commands.view('s1')?.participants.find((p) => p.id === id)?.presence;

  it('presence: the last connection closing marks reconnecting, then left after presenceGraceMs', async () => {
    const started = await server({ limits: { presenceGraceMs: 150 } });
    await createSession(started, 's1');
    const alice = await member(started.url, 'alice', 's1');
    const second = await member(started.url, 'alice', 's1', false); // a second tab
    await second.close();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(presenceOf(started, 'alice')).toBe('joined');
    await alice.close();
    await eventually(() => presenceOf(started, 'alice') === 'reconnecting', 1000);
    await eventually(() => presenceOf(started, 'alice') === 'left', 2000);
  });

  it('presence: leaving an ended session sends no presence command at all (its last presence stays)', async () => {
    const started = await server({ limits: { presenceGraceMs: 50 } });
    await createSession(started, 's1');
    const alice = await member(started.url, 'alice', 's1');
    await started.app.inject({ method: 'POST', url: '/v1/sessions/s1/end', headers: { authorization: `Bearer ${await token({ sub: 'svc', session: '*', role: 'host' })}` } });
    const writes: string[] = [];
    started.node.onChange((c) => writes.push(c.key));
    await alice.close();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await started.presence.settled();
    expect(writes).toEqual([]);
    expect(presenceOf(started, 'alice')).toBe('joined');
    const metrics = (await started.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toContain('type="set_presence"');
  });

  it('presence: coming back within the grace period marks joined again and never left', async () => {
    const started = await server({ limits: { presenceGraceMs: 300 } });
    await createSession(started, 's1');
    const alice = await member(started.url, 'alice', 's1');
    const seen: Presence[] = [];
    started.node.onChange((c) => {
      if (c.key === 's/s1/p/alice' && c.value !== null) seen.push((c.value as { presence: Presence }).presence);
    });
    await alice.close();
    await eventually(() => presenceOf(started, 'alice') === 'reconnecting', 1000);
    await member(started.url, 'alice', 's1', false);
    await eventually(() => presenceOf(started, 'alice') === 'joined', 1000);
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(seen).toEqual(['reconnecting', 'joined']);
  });
});
