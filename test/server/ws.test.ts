/** The WebSocket API on a real port (127.0.0.1, ephemeral): hello and its
 *  deadline, subscribe with snapshot then deltas, resume, commands and
 *  results, the invalid-message policy, rate limits, the connection limit,
 *  slow consumers, and members removed from a session. */

import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ServerMessage } from '../../src/conference/api.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { TestClient, createSession, eventually, listeningFixture, token } from './support.ts';

const { server, clients } = listeningFixture();

async function welcomed(url: string, sub: string, session: string, role: 'host' | 'participant' | 'moderator' | 'viewer' = 'participant'): Promise<TestClient> {
  const client = await TestClient.welcomed(url, await token({ sub, session, role }));
  clients.push(client);
  return client;
}

async function connected(url: string): Promise<TestClient> {
  const client = await TestClient.connect(url);
  clients.push(client);
  return client;
}

describe('ws: hello', () => {
  it('ws: hello with a valid token is answered welcome with the participant, role and node', async () => {
    const { url } = await server();
    const client = await connected(url);
    client.send({ type: 'hello', token: await token({ sub: 'alice', session: 's1', role: 'moderator' }), protocol: 1 });
    expect(await client.next((m) => m.type === 'welcome')).toEqual({
      type: 'welcome', participant: 'alice', session: 's1', role: 'moderator', service: false, node: { nodeId: 1, role: 'primary', epoch: 1, primaryUrl: null },
      limits: { messageBytesMax: 80 * 1024, resumeKnownMax: 2_000 },
    });
  });

  it('ws: a connection that says nothing is closed after helloTimeoutMs with hello_timeout', async () => {
    const { url } = await server({ limits: { helloTimeoutMs: 100 } });
    const client = await connected(url);
    expect(await client.next((m) => m.type === 'error')).toMatchObject({ code: 'hello_timeout', fatal: true });
    expect(await client.closed).toBe(4408);
  });

  it('ws: anything but hello first, a bad token, an expired one, or another protocol closes the connection', async () => {
    const { url } = await server();
    const cases: [unknown, string, number][] = [
      [{ type: 'subscribe', session: 's1' }, 'hello_required', 4400],
      [{ type: 'hello', token: 'nonsense', protocol: 1 }, 'unauthenticated', 4401],
      [{ type: 'hello', token: await token({ sub: 'a', session: 's1', expiresInS: -600 }), protocol: 1 }, 'token_expired', 4401],
      [{ type: 'hello', token: await token({ sub: 'a', session: 's1' }), protocol: 99 }, 'unsupported_protocol', 4400],
      ['not json at all', 'hello_required', 4400],
    ];
    for (const [message, code, closeCode] of cases) {
      const client = await connected(url);
      client.send(message);
      expect(await client.next((m) => m.type === 'error')).toMatchObject({ code, fatal: true });
      expect(await client.closed).toBe(closeCode);
    }
  });

  it('ws: messages pipelined behind hello are handled after welcome, in order', async () => {
    const { url } = await server();
    const client = await connected(url);
    client.send({ type: 'hello', token: await token({ sub: 'a', session: 's1' }), protocol: 1 });
    client.send({ type: 'ping', id: '1' });
    client.send({ type: 'ping', id: '2' });
    await client.next((m) => m.type === 'pong' && m.id === '2');
    expect(client.received.map((m) => m.type)).toEqual(['welcome', 'pong', 'pong']);
  });
});

describe('ws: subscribe, deltas, resume', () => {
  it('ws: two members of a session see every change in the same order with gapless seqs, and each result after its delta', async () => {
    const started = await server();
    await createSession(started, 's1');
    const alice = await welcomed(started.url, 'alice', 's1');
    const bob = await welcomed(started.url, 'bob', 's1');
    for (const client of [alice, bob]) {
      client.send({ type: 'subscribe', session: 's1' });
      expect(await client.next((m) => m.type === 'snapshot')).toMatchObject({ session: 's1', seq: 0, resumed: false, reason: null });
    }
    await alice.command('s1', 'a1', { type: 'join', name: 'Alice' });
    await bob.command('s1', 'b1', { type: 'join', name: 'Bob' });
    await Promise.all([alice.command('s1', 'a2', { type: 'raise_hand' }), bob.command('s1', 'b2', { type: 'publish_track', kind: 'audio' })]);
    const aliceResult = alice.received.findIndex((m) => m.type === 'result' && m.id === 'a1');
    const aliceDelta = alice.received.findIndex((m) => m.type === 'delta' && m.changes.some((c) => c.key === 's/s1/p/alice'));
    expect(aliceDelta).toBeGreaterThanOrEqual(0);
    expect(aliceDelta).toBeLessThan(aliceResult);
    await eventually(() => bob.received.filter((m) => m.type === 'delta').length === alice.received.filter((m) => m.type === 'delta').length);
    const deltas = (client: TestClient) => client.received.filter((m): m is Extract<ServerMessage, { type: 'delta' }> => m.type === 'delta');
    expect(deltas(alice).map((d) => d.seq)).toEqual(deltas(alice).map((_, i) => i + 1));
    expect(deltas(bob)).toEqual(deltas(alice));
  });

  it('ws: resume within the ring gets exactly the missed deltas; outside it, or from another stream, a snapshot with a reason', async () => {
    const started = await server({ limits: { resumeDeltasMax: 3 } });
    await createSession(started, 's1');
    const host = await welcomed(started.url, 'host', 's1', 'host');
    await host.command('s1', 'j', { type: 'join', name: 'Host' });
    const watcher = await welcomed(started.url, 'watcher', 's1');
    watcher.send({ type: 'subscribe', session: 's1' });
    const snapshot = await watcher.next<'snapshot'>((m) => m.type === 'snapshot');
    await watcher.close();
    await host.command('s1', 'h1', { type: 'raise_hand' });
    await host.command('s1', 'h2', { type: 'lower_hand' });

    const back = await welcomed(started.url, 'watcher', 's1');
    back.send({ type: 'subscribe', session: 's1', resume: { stream: snapshot.stream, seq: snapshot.seq } });
    expect(await back.next((m) => m.type === 'resumed')).toEqual({ type: 'resumed', session: 's1', stream: snapshot.stream, seq: snapshot.seq });
    const missed = [await back.next<'delta'>((m) => m.type === 'delta'), await back.next<'delta'>((m) => m.type === 'delta')];
    expect(missed.map((d) => d.seq)).toEqual([snapshot.seq + 1, snapshot.seq + 2]);
    expect(missed.map((d) => d.changes.map((c) => [c.key, c.value === null]))).toEqual([[['s/s1/hand/host', false]], [['s/s1/hand/host', true]]]);

    for (let i = 0; i < 4; i++) await host.command('s1', `m${i}`, { type: i % 2 === 0 ? 'raise_hand' : 'lower_hand' });
    const late = await welcomed(started.url, 'watcher', 's1');
    late.send({ type: 'subscribe', session: 's1', resume: { stream: snapshot.stream, seq: snapshot.seq } });
    expect(await late.next((m) => m.type === 'snapshot')).toMatchObject({ resumed: false, reason: expect.stringContaining('no longer held'), seq: snapshot.seq + 6 });
    const foreign = await welcomed(started.url, 'watcher', 's1');
    foreign.send({ type: 'subscribe', session: 's1', resume: { stream: 'other-server-e1-1', seq: 2 } });
    expect(await foreign.next((m) => m.type === 'snapshot')).toMatchObject({ resumed: false, reason: expect.stringContaining('other-server-e1-1') });
  });

  it('ws: a resume from another server with known is answered resumed with the bridging changes on this stream, then its deltas', async () => {
    const started = await server();
    await createSession(started, 's1');
    const host = await welcomed(started.url, 'host', 's1', 'host');
    await host.command('s1', 'j', { type: 'join', name: 'Host' });
    await host.command('s1', 'h', { type: 'raise_hand' });
    const [meta, hand] = ['s/s1/meta', 's/s1/hand/host'].map((key) => started.node.sessionElements('s1').find((e) => e.key === key)!);
    await host.command('s1', 'l', { type: 'lower_hand' });
    const watcher = await welcomed(started.url, 'watcher', 's1');
    // The mirror another server left: the meta as it is, the hand before it was lowered, no participant.
    watcher.send({ type: 'subscribe', session: 's1', resume: { stream: 'other-server-e1-1', seq: 7 }, known: [[meta!.key, meta!.ts], [hand!.key, hand!.ts]] });
    const resumed = await watcher.next<'resumed'>((m) => m.type === 'resumed');
    expect(resumed).toMatchObject({ session: 's1', stream: started.hub.snapshot('s1').stream, reason: expect.stringContaining('other-server-e1-1') });
    // Everything but the meta it holds as it is, and the hand's deletion at the server's tombstone ts.
    const expected = [...started.node.sessionElements('s1').filter((e) => e.key !== meta!.key), { key: hand!.key, ts: started.node.currentTs(hand!.key), value: null }];
    expect(resumed.changes).toEqual(expected.sort((a, b) => a.ts - b.ts));
    await host.command('s1', 'h2', { type: 'raise_hand' });
    const delta = await watcher.next<'delta'>((m) => m.type === 'delta');
    expect(delta.seq).toBe(resumed.seq + 1);
    expect(delta.changes).toMatchObject([{ key: hand!.key, value: { raisedAtMs: expect.any(Number) } }]);
  });

  it('ws: a bad known (wrong types, a duplicate, a foreign key, without resume, beyond resumeKnownMax) gets an error naming it and changes nothing', async () => {
    const started = await server({ limits: { resumeKnownMax: 2 } });
    await createSession(started, 's1');
    const host = await welcomed(started.url, 'host', 's1', 'host');
    await host.command('s1', 'j', { type: 'join', name: 'Host' });
    const watcher = await welcomed(started.url, 'watcher', 's1');
    const resume = { stream: 'other-server-e1-1', seq: 1 };
    const cases: [unknown, string, string][] = [
      [{ resume, known: [['s/s1/meta', 'soon']] }, 'invalid_request', 'message/known/0/1'],
      [{ resume, known: [['s/s1/meta']] }, 'invalid_request', 'message/known/0'],
      [{ resume, known: { 's/s1/meta': 1 } }, 'invalid_request', 'message/known'],
      [{ resume, known: [['s/s1/meta', 1, 2]] }, 'invalid_request', 'message/known/0'],
      [{ resume, known: [['s/s1/meta', 1], ['s/s1/meta', 2]] }, 'invalid_request', 'listed twice'],
      [{ resume, known: [['s/s2/meta', 1]] }, 'invalid_request', 'not an element of session "s1"'],
      [{ known: [] }, 'invalid_request', 'only with message/resume'],
      [{ resume, known: [['s/s1/a', 1], ['s/s1/b', 1], ['s/s1/c', 1]] }, 'too_large', 'limits.resumeKnownMax is 2'],
    ];
    for (const [fields, code, named] of cases) {
      watcher.send({ type: 'subscribe', session: 's1', ...(fields as object) });
      expect(await watcher.next((m) => m.type === 'error'), JSON.stringify(fields)).toMatchObject({ code, fatal: false, message: expect.stringContaining(named) });
    }
    // Nothing changed: not subscribed (no snapshot, no deltas), still connected, and a good subscribe works.
    await host.command('s1', 'h', { type: 'raise_hand' });
    expect(watcher.received.filter((m) => m.type !== 'error').map((m) => m.type)).toEqual(['welcome']);
    expect(started.hub.counts().subscriptions).toBe(0);
    watcher.send({ type: 'subscribe', session: 's1', resume, known: [] });
    expect(await watcher.next((m) => m.type === 'resumed')).toMatchObject({ changes: expect.arrayContaining([expect.objectContaining({ key: 's/s1/hand/host' })]) });
  });

  it('ws: a token for one session cannot subscribe to or command another', async () => {
    const started = await server();
    await createSession(started, 's1');
    await createSession(started, 's2');
    const alice = await welcomed(started.url, 'alice', 's1');
    alice.send({ type: 'subscribe', session: 's2' });
    expect(await alice.next((m) => m.type === 'error')).toMatchObject({ code: 'wrong_session', fatal: false });
    expect(await alice.next((m) => m.type === 'unsubscribed')).toEqual({ type: 'unsubscribed', session: 's2', reason: 'wrong_session' });
    expect(await alice.command('s2', 'x', { type: 'join', name: 'A' })).toMatchObject({ ok: false, code: 'wrong_session' });
    expect(started.commands.view('s2')!.participants).toEqual([]);
  });

  it('ws: a kicked participant gets the delta that says so, then unsubscribed, and may not subscribe again', async () => {
    const started = await server();
    await createSession(started, 's1');
    const host = await welcomed(started.url, 'host', 's1', 'host');
    const guest = await welcomed(started.url, 'guest', 's1');
    await host.command('s1', 'j', { type: 'join', name: 'Host' });
    guest.send({ type: 'subscribe', session: 's1' });
    await guest.next((m) => m.type === 'snapshot');
    await guest.command('s1', 'j', { type: 'join', name: 'Guest' });
    expect(await host.command('s1', 'k', { type: 'kick', participant: 'guest' })).toMatchObject({ ok: true });
    expect(await guest.next((m) => m.type === 'unsubscribed')).toEqual({ type: 'unsubscribed', session: 's1', reason: 'kicked' });
    const kickedDelta = guest.received.findIndex((m) => m.type === 'delta' && m.changes.some((c) => c.key === 's/s1/p/guest' && (c.value as { presence: string }).presence === 'kicked'));
    expect(kickedDelta).toBeGreaterThanOrEqual(0);
    guest.send({ type: 'subscribe', session: 's1' });
    expect(await guest.next((m) => m.type === 'error')).toMatchObject({ code: 'forbidden' });
    expect(await guest.next((m) => m.type === 'unsubscribed')).toEqual({ type: 'unsubscribed', session: 's1', reason: 'forbidden' });
  });
});

describe('ws: on a secondary', () => {
  it('ws: a secondary welcomes, serves subscriptions from its store, and answers commands not_primary with the primary URL', async () => {
    const node = new MemoryStateNode({ nodeId: 2, role: 'secondary', epoch: 3, primaryUrl: 'http://127.0.0.1:7000' });
    node.store.apply('s/s1/meta', { title: 'T', organizer: 'o', createdAtMs: 1, scheduledAtMs: null }, 4096 * 10);
    const started = await server({ node });
    const client = await connected(started.url);
    client.send({ type: 'hello', token: await token({ sub: 'a', session: 's1' }), protocol: 1 });
    expect(await client.next((m) => m.type === 'welcome')).toMatchObject({ node: { role: 'secondary', epoch: 3, primaryUrl: 'http://127.0.0.1:7000' } });
    client.send({ type: 'subscribe', session: 's1' });
    expect((await client.next<'snapshot'>((m) => m.type === 'snapshot')).elements.map((e) => e.key)).toEqual(['s/s1/meta']);
    expect(await client.command('s1', 'j', { type: 'join', name: 'A' })).toEqual({ type: 'result', id: 'j', ok: false, code: 'not_primary', message: expect.any(String), primaryUrl: 'http://127.0.0.1:7000' });
  });
  it('ws: a node still catching up refuses subscribe with unavailable (naming the primary) and subscribes nobody; once complete it serves', async () => {
    const node = new MemoryStateNode({ nodeId: 2, role: 'secondary', epoch: 3, primaryUrl: 'http://127.0.0.1:7000' });
    node.store.apply('s/s1/meta', { title: 'T', organizer: 'o', createdAtMs: 1, scheduledAtMs: null }, 4096 * 10);
    node.readsComplete = false;
    const started = await server({ node });
    const client = await welcomed(started.url, 'a', 's1');
    client.send({ type: 'subscribe', session: 's1' });
    expect(await client.next((m) => m.type === 'error')).toMatchObject({ code: 'unavailable', fatal: false, message: expect.stringContaining('catching up') });
    expect(await client.next((m) => m.type === 'unsubscribed')).toEqual({ type: 'unsubscribed', session: 's1', reason: 'unavailable' });
    expect(started.hub.counts().subscriptions).toBe(0);
    node.readsComplete = true;
    client.send({ type: 'subscribe', session: 's1' });
    expect((await client.next<'snapshot'>((m) => m.type === 'snapshot')).elements.map((e) => e.key)).toEqual(['s/s1/meta']);
  });
});

describe('ws: limits and bad input', () => {
  it('ws: an invalid message gets an error naming the field and changes nothing; invalidMessagesMax of them close the connection', async () => {
    const started = await server({ limits: { invalidMessagesMax: 3 } });
    await createSession(started, 's1');
    const client = await welcomed(started.url, 'alice', 's1');
    const sizeBefore = started.node.store.size;
    client.send({ type: 'command', id: 'c', session: 's1', command: { type: 'join', name: 'A', role: 'host' } });
    expect(await client.next((m) => m.type === 'error')).toMatchObject({ code: 'invalid_request', fatal: false, message: expect.stringContaining('message/command/role') });
    client.send('{"type":');
    expect(await client.next((m) => m.type === 'error')).toMatchObject({ code: 'invalid_json', fatal: false });
    client.send({ type: 'ping', id: 'still-here' });
    await client.next((m) => m.type === 'pong');
    client.send({ type: 'subscribe', session: 's1', extra: true });
    expect(await client.next((m) => m.type === 'error')).toMatchObject({ code: 'too_many_errors', fatal: true });
    expect(await client.closed).toBe(4400);
    expect(started.node.store.size).toBe(sizeBefore);
  });

  it('ws: past the token bucket, commands are answered rate_limited and not run; the bucket refills', async () => {
    const started = await server({ limits: { messagesPerSecond: 20, messageBurst: 5 } });
    await createSession(started, 's1');
    const client = await welcomed(started.url, 'alice', 's1');
    for (let i = 0; i < 10; i++) client.send({ type: 'command', id: `c${i}`, session: 's1', command: { type: 'join', name: 'A' } });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => client.next<'result'>((m) => m.type === 'result' && m.id === `c${i}`)));
    const codes = results.map((r) => (r.ok ? 'ok' : r.code));
    expect(codes.slice(0, 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(codes.slice(5).every((c) => c === 'rate_limited')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await client.command('s1', 'later', { type: 'raise_hand' })).toMatchObject({ ok: true });
  });

  it('ws: connections beyond wsConnectionsMax are refused with 503 at the upgrade', async () => {
    const started = await server({ limits: { wsConnectionsMax: 2 } });
    await connected(started.url);
    await connected(started.url);
    const refused = new WebSocket(`${started.url.replace('http', 'ws')}/v1/ws`);
    refused.on('error', () => undefined); // the refused handshake
    const status = await new Promise<number>((resolve) => refused.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0)));
    expect(status).toBe(503);
    refused.terminate();
  });

  it('ws: a frame larger than wsMessageBytesMax closes the connection (1009) without harm to others', async () => {
    const started = await server({ limits: { wsMessageBytesMax: 1024, signalPayloadBytesMax: 512 } });
    const big = await welcomed(started.url, 'a', 's1');
    const other = await welcomed(started.url, 'b', 's1');
    big.send({ type: 'ping', id: 'x'.repeat(2000) });
    expect(await big.closed).toBe(1009);
    other.send({ type: 'ping', id: 'ok' });
    await other.next((m) => m.type === 'pong');
  });

  it('ws: a client that does not read is closed as a slow consumer instead of buffering without bound', async () => {
    const started = await server({ limits: { wsBufferedBytesMax: 256 * 1024, messagesPerSecond: 100_000, messageBurst: 100_000 } });
    await createSession(started, 's1');
    const reader = await welcomed(started.url, 'reader', 's1');
    reader.send({ type: 'subscribe', session: 's1' });
    await reader.next((m) => m.type === 'snapshot');
    await reader.command('s1', 'j', { type: 'join', name: 'Reader' });
    const sender = await welcomed(started.url, 'sender', 's1');
    await sender.command('s1', 'j', { type: 'join', name: 'Sender' });
    reader.socket.pause(); // stops reading from the TCP socket: kernel buffers fill, then the server's
    const payload = { sdp: 'x'.repeat(32 * 1024) };
    // 32 MiB at most: far beyond loopback kernel buffers, so the server's own buffer must pass its limit.
    for (let i = 0; i < 1024 && started.gateway.connectionCount === 2; i++) {
      sender.send({ type: 'signal', session: 's1', to: 'reader', payload });
      if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(() => started.gateway.connectionCount === 1);
    reader.socket.resume();
    const errors = await reader.closed.then(() => reader.received.filter((m) => m.type === 'error'));
    expect(reader.closeCode === 4508 || reader.closeCode === 1006).toBe(true);
    expect(errors.every((e) => e.type === 'error' && e.code === 'slow_consumer')).toBe(true);
  });
});
