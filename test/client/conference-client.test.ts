/** The SDK over real WebSockets against the fake cluster: reconnect and
 *  resume, gaps and duplicates, failover with in-flight commands, not_primary
 *  redirects, bounded pending commands, timeouts, keepalive and connect
 *  deadlines, token refresh. */

import { afterEach, describe, expect, it } from 'vitest';
import type { ElementState } from '../../src/conference/model.ts';
import { ConferenceError } from '../../src/client/conference-client.ts';
import { FakeCluster } from '../support/fake-conference-server.ts';
import { afterTest, blackHole, closeAll, deadPort, hostClient, mirrorsServer, serverView, testClient, until } from '../support/sdk-harness.ts';

afterEach(closeAll);

async function startCluster(historyMax?: number): Promise<FakeCluster> {
  const cluster = await FakeCluster.start(historyMax === undefined ? {} : { historyMax });
  afterTest(() => cluster.stop());
  return cluster;
}

/** A session `standup` created and joined by the host client; resolves once the client's mirror is live. */
async function liveSession(cluster: FakeCluster, options: Parameters<typeof hostClient>[1] = {}) {
  const client = hostClient(cluster, options);
  const session = client.session('standup');
  await session.create({ title: 'Stand-up', settings: { lobby: false } });
  await session.join('Ada');
  await session.waitFor((v) => v.participants.length === 1);
  return { client, session };
}

/** A change written by someone else (another participant's command, as the cluster would apply it). */
function writeHand(cluster: FakeCluster, participant: string, raisedAtMs: number): ElementState[] {
  return cluster.conference.write('standup', [{ key: `s/standup/hand/${participant}`, value: { raisedAtMs } }]);
}

describe('sdk reconnect', () => {
  it('reconnect: after a dropped connection the client resumes from its seq and holds exactly the server state, each missed delta applied once', async () => {
    const cluster = await startCluster();
    const { client, session } = await liveSession(cluster);
    const before = session.position!;
    const states: string[] = [];
    client.onStatus((status) => states.push(status.state));
    let changes = 0;
    session.onChange(() => changes++);

    cluster.primary.dropConnections();
    await until(() => client.status.state === 'reconnecting', 'the client to notice the drop');
    for (let i = 0; i < 5; i++) writeHand(cluster, `p${i}`, i); // five deltas while the client is away
    await until(() => session.state === 'live' && session.position!.seq === cluster.primary.node.seqOf('standup'), 'the resume to catch up');

    expect(cluster.primary.node.subscribeLog.at(-1)).toEqual({ session: 'standup', resume: before, answer: 'resumed' });
    expect(changes).toBe(5); // every missed delta once; nothing applied twice
    expect(session.position).toEqual({ stream: before.stream, seq: before.seq + 5 });
    expect(mirrorsServer(session.mirror, cluster.conference, 'standup')).toBe(true);
    expect(session.view).toEqual(serverView(cluster.conference, 'standup'));
    expect(states[0]).toBe('reconnecting');
    expect(states.at(-1)).toBe('connected');
    expect(new Set(states)).toEqual(new Set(['reconnecting', 'connected']));
    expect(client.status).toMatchObject({ state: 'connected', url: cluster.primary.url, failedOver: false });
    expect(client.status.lastError?.code).toBe('connection_closed');
  });

  it('reconnect: a resume from a seq the server no longer holds is bridged from what the mirror holds: the missed changes arrive once, as ordinary changes', async () => {
    const cluster = await startCluster(2);
    const { client, session } = await liveSession(cluster);
    writeHand(cluster, 'gone', 1); // held by the mirror, deleted while the client is away
    await until(() => session.mirror.valueOf('s/standup/hand/gone') !== null, 'the hand to arrive');
    const before = session.position!;
    const seen: string[] = [];
    session.onElements((changes, how) => seen.push(...changes.map((c) => `${how} ${c.key.slice(10)} ${c.value === null ? 'deleted' : 'set'}`)));
    cluster.primary.dropConnections();
    await until(() => client.status.state === 'reconnecting', 'the client to notice the drop');
    for (let i = 0; i < 4; i++) writeHand(cluster, `p${i}`, i);
    cluster.conference.write('standup', [{ key: 's/standup/hand/p0', value: null }]); // created and deleted while away: nothing to tell
    cluster.conference.write('standup', [{ key: 's/standup/hand/gone', value: null }]); // a delete the client must not miss
    await until(() => session.state === 'live' && session.position!.seq === cluster.primary.node.seqOf('standup'), 'the bridge');

    expect(cluster.primary.node.subscribeLog.at(-1)).toMatchObject({ resume: before, answer: 'bridged' });
    expect(mirrorsServer(session.mirror, cluster.conference, 'standup')).toBe(true);
    expect(session.view).toEqual(serverView(cluster.conference, 'standup'));
    expect(seen.sort()).toEqual(['resume hand/gone deleted', 'resume hand/p1 set', 'resume hand/p2 set', 'resume hand/p3 set']);
  });

  it('reconnect: a resume answered by a snapshot (no bridge) is reconciled into the mirror: only the real differences become changes', async () => {
    const cluster = await startCluster(2);
    const { client, session } = await liveSession(cluster);
    writeHand(cluster, 'gone', 1);
    await until(() => session.mirror.valueOf('s/standup/hand/gone') !== null, 'the hand to arrive');
    const before = session.position!;
    const seen: string[] = [];
    session.onElements((changes, how) => seen.push(...changes.map((c) => `${how} ${c.key.slice(10)} ${c.value === null ? 'deleted' : 'set'}`)));
    cluster.primary.node.faults.noBridge = true;
    cluster.primary.dropConnections();
    await until(() => client.status.state === 'reconnecting', 'the client to notice the drop');
    for (let i = 0; i < 4; i++) writeHand(cluster, `p${i}`, i);
    cluster.conference.write('standup', [{ key: 's/standup/hand/p0', value: null }]);
    cluster.conference.write('standup', [{ key: 's/standup/hand/gone', value: null }]);
    await until(() => session.state === 'live' && session.position!.seq === cluster.primary.node.seqOf('standup'), 'the snapshot');

    expect(cluster.primary.node.subscribeLog.at(-1)).toMatchObject({ resume: before, answer: 'snapshot' });
    expect(mirrorsServer(session.mirror, cluster.conference, 'standup')).toBe(true);
    expect(['p0', 'p1', 'p2', 'p3'].map((p) => session.mirror.valueOf(`s/standup/hand/${p}`) !== null)).toEqual([false, true, true, true]);
    expect(seen.sort()).toEqual(['snapshot hand/gone deleted', 'snapshot hand/p1 set', 'snapshot hand/p2 set', 'snapshot hand/p3 set']);
  });
});

describe('sdk stream order', () => {
  it('gap: a delta that skips a seq is not applied; the client resumes from its last seq and gets the missing one first', async () => {
    const cluster = await startCluster();
    const { session } = await liveSession(cluster);
    const seen: [boolean, boolean][] = [];
    session.onChange(() => seen.push([session.mirror.valueOf('s/standup/hand/a') !== null, session.mirror.valueOf('s/standup/hand/b') !== null]));
    const before = session.position!;

    cluster.primary.node.faults.dropDeltas = 1;
    writeHand(cluster, 'a', 1); // numbered, sent to nobody
    writeHand(cluster, 'b', 2); // arrives with seq + 2: a gap
    await until(() => session.mirror.valueOf('s/standup/hand/b') !== null, 'the second hand');

    expect(cluster.primary.node.subscribeLog.at(-1)).toEqual({ session: 'standup', resume: before, answer: 'resumed' });
    expect(seen).toEqual([
      [true, false],
      [true, true],
    ]); // a, then b: b was never shown without a
    expect(session.position!.seq).toBe(before.seq + 2);
    expect(mirrorsServer(session.mirror, cluster.conference, 'standup')).toBe(true);
  });

  it('duplicates: deltas delivered twice are applied once (seq at or below the held one is ignored)', async () => {
    const cluster = await startCluster();
    const { session } = await liveSession(cluster);
    let changes = 0;
    session.onChange(() => changes++);
    const before = session.position!.seq;
    cluster.primary.node.faults.duplicateDeltas = 3;
    await session.raiseHand();
    await session.lowerHand();
    await session.raiseHand();
    await until(() => session.position!.seq === before + 3, 'three deltas');
    await session.lock(); // one more round trip: any second copy has arrived by now
    await until(() => session.position!.seq === before + 4, 'the lock');

    expect(changes).toBe(4);
    expect(cluster.primary.node.subscribeLog).toHaveLength(1); // a duplicate is not a gap
    expect(session.view).toEqual(serverView(cluster.conference, 'standup'));
  });
});

describe('sdk failover', () => {
  it('failover: the primary dies with commands unanswered; the client moves to the promoted secondary, resends them with the same ids, and each is applied once', async () => {
    const cluster = await startCluster();
    const { client, session } = await liveSession(cluster);
    const oldPrimary = cluster.primary.node;
    oldPrimary.faults.holdResults = true; // applied and replicated, but the answers never leave
    const inFlight = [session.raiseHand(), session.publishTrack('audio'), session.startRecording()];
    await until(() => oldPrimary.commandLog.length === 5, 'the three commands to reach the primary');
    const inFlightIds = oldPrimary.commandLog.slice(2).map((entry) => entry.id);

    await cluster.failover();
    const queued = session.lock(); // sent while no primary is reachable
    const results = await Promise.all(inFlight);
    await queued;

    expect(results.map((r) => r.duplicate)).toEqual([true, true, true]); // answered from the dedupe table
    expect(results.map((r) => r.id)).toEqual(inFlightIds);
    const resent = cluster.primary.node.commandLog.map((entry) => entry.id);
    expect(resent.slice(0, 3)).toEqual(inFlightIds);
    for (const id of [...inFlightIds, resent[3]!]) expect(cluster.conference.executions.get(id)).toBe(1);
    expect(client.status).toMatchObject({ state: 'connected', url: cluster.primary.url, failedOver: true, node: { nodeId: 2, role: 'primary', epoch: 2 } });
    // The new primary numbers its own stream: the old position cannot be replayed there, so it is bridged from the mirror.
    expect(cluster.primary.node.subscribeLog.at(-1)).toMatchObject({ answer: 'bridged' });
    await until(() => session.view?.phase === 'locked', 'the lock to show');
    expect(mirrorsServer(session.mirror, cluster.conference, 'standup')).toBe(true);
  });

  it('not_primary: a client that reaches the secondary first follows its primaryUrl and the command is applied once', async () => {
    const cluster = await startCluster();
    const token = cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' });
    const client = testClient([cluster.secondary.url, cluster.primary.url], token);
    await client.whenConnected();
    expect(client.status.node?.role).toBe('secondary');
    const result = await client.send('standup', { type: 'create' });

    expect(result.duplicate).toBe(false);
    expect(cluster.secondary.node.commandLog.map((e) => e.id)).toEqual([result.id]);
    expect(cluster.primary.node.commandLog.map((e) => e.id)).toEqual([result.id]);
    expect(cluster.conference.executions.get(result.id)).toBe(1);
    expect(client.status).toMatchObject({ url: cluster.primary.url, failedOver: true, lastError: { code: 'not_primary' } });
  });

  it('not_primary: a primaryUrl outside the configured list is followed too', async () => {
    const cluster = await startCluster();
    const token = cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' });
    const client = testClient([cluster.secondary.url.replace('/v1/ws', '')], token); // an http-style base URL works as well
    await client.send('standup', { type: 'create' });
    expect(client.status.url).toBe(cluster.primary.url);
  });

  it('not_primary: without a primaryUrl the client tries the next URL in its list', async () => {
    const cluster = await startCluster();
    cluster.secondary.node.primaryUrl = null;
    const token = cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' });
    const client = testClient([cluster.secondary.url, cluster.primary.url], token);
    await client.send('standup', { type: 'create' });
    expect(client.status.url).toBe(cluster.primary.url);
    expect(cluster.secondary.node.commandLog).toHaveLength(1);
  });

  it('failover: a dead first URL is skipped; the client connects to the next and reports where it is', async () => {
    const cluster = await startCluster();
    const token = cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' });
    const client = testClient([`ws://127.0.0.1:${await deadPort()}/v1/ws`, cluster.primary.url], token);
    const status = await client.whenConnected();
    expect(status).toMatchObject({ url: cluster.primary.url, failedOver: false, lastError: { code: 'connect_failed' } });
  });
});

describe('sdk limits', () => {
  it('bounded: pendingCommandsMax commands wait; the next is refused queue_full at once and never sent; the waiting ones complete', async () => {
    const cluster = await startCluster();
    const { client, session } = await liveSession(cluster, { pendingCommandsMax: 3 });
    cluster.primary.node.faults.holdResults = true;
    const waiting = [session.raiseHand(), session.lock(), session.startRecording()];
    expect(client.pendingCount).toBe(3);
    await expect(session.unlock()).rejects.toMatchObject({ code: 'queue_full' });
    await until(() => cluster.primary.node.commandLog.length === 5, 'the three to reach the server');

    cluster.primary.node.faults.holdResults = false;
    cluster.primary.dropConnections(); // the answers were lost: resend, the dedupe table answers
    const results = await Promise.all(waiting);
    expect(results.every((r) => r.duplicate)).toBe(true);
    expect(cluster.primary.node.commandLog.map((e) => e.type)).not.toContain('unlock');
    expect(client.pendingCount).toBe(0);
  });

  it('transient: a command answered unavailable is sent again with the same id and applied once when the cluster recovers', async () => {
    const cluster = await startCluster();
    const { session } = await liveSession(cluster);
    cluster.primary.node.faults.unavailable = 3;
    const result = await session.lock();
    expect(result.duplicate).toBe(false);
    expect(cluster.primary.node.commandLog.slice(-4).map((e) => e.id)).toEqual([result.id, result.id, result.id, result.id]);
    expect(cluster.conference.executions.get(result.id)).toBe(1);
    await session.waitFor((v) => v.phase === 'locked');
  });

  it('transient: a subscribe refused rate_limited is asked again after a backoff; the session goes live without the application noticing', async () => {
    const cluster = await startCluster();
    const token = cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' });
    cluster.primary.node.faults.refuseSubscribes = 2;
    const client = testClient([cluster.primary.url], token);
    const session = client.session('standup');
    const ended: string[] = [];
    session.onUnsubscribed((reason) => ended.push(reason));
    await until(() => session.state === 'live', 'the third subscribe to succeed');
    expect(cluster.primary.node.subscribeLog.map((entry) => entry.answer)).toEqual(['refused', 'refused', 'snapshot']);
    expect(ended).toEqual([]);
  });

  it('timeout: a command with no definite answer within commandTimeoutMs rejects timeout and leaves the queue', async () => {
    const cluster = await startCluster();
    const { client, session } = await liveSession(cluster, { commandTimeoutMs: 150 });
    cluster.primary.node.faults.holdResults = true;
    const started = Date.now();
    const error = await session.raiseHand().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConferenceError);
    expect(error).toMatchObject({ code: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(client.pendingCount).toBe(0);
  });

  it('subscriptions: at most subscriptionsMax sessions are followed', async () => {
    const cluster = await startCluster();
    const client = hostClient(cluster, { subscriptionsMax: 2 });
    client.session('a');
    client.session('b');
    expect(() => client.session('c')).toThrow(expect.objectContaining({ code: 'subscriptions_full' }));
  });
});

describe('sdk liveness', () => {
  it('keepalive: a server that goes silent on an open connection is left after pingIntervalMs + pongTimeoutMs', async () => {
    const cluster = await startCluster();
    const { client } = await liveSession(cluster, { pingIntervalMs: 50, pongTimeoutMs: 50 });
    const firstNode = cluster.primary.node;
    firstNode.faults.silent = true;
    await until(() => client.status.lastError?.code === 'ping_timeout', 'the ping timeout', 2_000);
    firstNode.faults.silent = false;
    await client.whenConnected();
  });

  it('connect timeout: a server that accepts TCP but never answers the upgrade is left for the next URL', async () => {
    const cluster = await startCluster();
    const hole = await blackHole();
    afterTest(() => hole.close());
    const token = cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' });
    const client = testClient([hole.url, cluster.primary.url], token, { connectTimeoutMs: 100 });
    const status = await client.whenConnected();
    expect(status).toMatchObject({ url: cluster.primary.url, lastError: { code: 'connect_timeout' } });
  });

  it('token: a token function is called for every connection, and a refusal of its token is retried with a fresh one', async () => {
    const cluster = await startCluster();
    const tokens = ['expired-token', cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' })];
    let calls = 0;
    const client = testClient([cluster.primary.url], async () => tokens[Math.min(calls++, 1)]!);
    const status = await client.whenConnected();
    expect(status.identity?.participant).toBe('ada');
    expect(calls).toBe(2);
    cluster.primary.dropConnections();
    await until(() => calls === 3 && client.status.state === 'connected', 'a fresh token for the reconnect');
  });

  it('token: a token function that throws is reported as token_failed and retried', async () => {
    const cluster = await startCluster();
    const token = cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' });
    let calls = 0;
    const client = testClient([cluster.primary.url], async () => {
      if (calls++ === 0) throw new Error('identity provider is down');
      return token;
    });
    const status = await client.whenConnected();
    expect(status.lastError).toMatchObject({ code: 'token_failed' });
    expect(status.lastError?.message).toContain('identity provider is down');
  });

  it('close: no timer or socket is left, so a Node process can exit', async () => {
    const cluster = await startCluster();
    const { client } = await liveSession(cluster);
    client.close();
    await until(() => cluster.primary.node.connectionCount === 0, 'the server to see the close');
    expect(client.status.state).toBe('closed');
    expect(client.pendingCount).toBe(0);
  });
});
