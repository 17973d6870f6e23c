/** ClientCore without I/O: time and socket events fed by hand, outputs read
 *  back. Covers the connection policies that are timing-sensitive or awkward
 *  to reach over sockets: backoff and URL order, redirects, refusals,
 *  protocol errors, keepalive. */

import { describe, expect, it } from 'vitest';
import type { ClientMessage, NodeInfo, ServerMessage, WelcomeLimits } from '../../src/conference/api.ts';
import { SeededRandom } from '../../src/core/random.ts';
import { ClientCore, type ClientCoreOptions, type CoreEvent } from '../../src/client/client-core.ts';

const A = 'ws://127.0.0.1:1001/v1/ws';
const B = 'ws://127.0.0.1:1002/v1/ws';
const PRIMARY: NodeInfo = { nodeId: 1, role: 'primary', epoch: 1, primaryUrl: null };
const SECONDARY: NodeInfo = { nodeId: 2, role: 'secondary', epoch: 1, primaryUrl: A };

/** A core plus the bookkeeping of a test adapter: the open connection, what was sent on it, the events. */
class Driver {
  readonly core: ClientCore;
  readonly sent: ClientMessage[] = [];
  readonly events: CoreEvent[] = [];
  /** Connections the core asked to open, with their URLs, in order. */
  readonly opened: { connection: number; url: string; atMs: number }[] = [];
  nowMs = 0;

  constructor(options: Partial<ClientCoreOptions> = {}) {
    this.core = new ClientCore({ urls: [A, B], random: new SeededRandom(7), backoffJitter: 0, pingIntervalMs: 0, ...options });
    this.core.start(0);
    this.drain();
  }

  get connection(): number {
    return this.opened.at(-1)!.connection;
  }

  drain(): void {
    for (let t = this.core.pollTransmit(); t !== undefined; t = this.core.pollTransmit()) this.sent.push(JSON.parse(t.text) as ClientMessage);
    for (let e = this.core.pollEvent(); e !== undefined; e = this.core.pollEvent()) {
      this.events.push(e);
      if (e.type === 'open') this.opened.push({ connection: e.connection, url: e.url, atMs: this.nowMs });
    }
  }

  /** Advances time to the core's next deadline and runs it. */
  tick(): void {
    const deadline = this.core.pollTimeoutMs();
    expect(deadline).toBeDefined();
    this.nowMs = Math.max(this.nowMs, deadline!);
    this.core.handleTimeout(this.nowMs);
    this.drain();
  }

  open(token = 't'): void {
    this.core.handleOpen(this.connection, token, this.nowMs);
    this.drain();
  }

  receive(message: ServerMessage | string): void {
    this.core.handleText(this.connection, typeof message === 'string' ? message : JSON.stringify(message), this.nowMs);
    this.drain();
  }

  welcome(node: NodeInfo = PRIMARY, limits?: WelcomeLimits): void {
    this.open();
    this.receive({ type: 'welcome', participant: 'ada', session: 'standup', role: 'host', service: false, node, ...(limits === undefined ? {} : { limits }) });
  }

  closeSocket(code = 'connection_closed'): void {
    this.core.handleClosed(this.connection, { code, message: 'test' }, this.nowMs);
    this.drain();
  }

  settled(): CoreEvent[] {
    return this.events.filter((e) => e.type === 'settled');
  }
}

describe('sdk core: connecting', () => {
  it('sdk core: failed attempts go round the URLs with doubling delays up to backoffMsMax', () => {
    const driver = new Driver({ backoffMsInitial: 100, backoffMsMax: 400 });
    for (let i = 0; i < 5; i++) {
      driver.closeSocket('connect_failed');
      driver.tick();
    }
    expect(driver.opened.map((o) => [o.url, o.atMs])).toEqual([
      [A, 0],
      [B, 100],
      [A, 300],
      [B, 700],
      [A, 1_100],
      [B, 1_500],
    ]);
    expect(driver.core.status).toMatchObject({ state: 'connecting', attempt: 5, lastError: { code: 'connect_failed' } });
  });

  it('sdk core: jitter takes a seeded random share off each delay, the same for the same seed', () => {
    const delays = (seed: number): number[] => {
      const driver = new Driver({ backoffMsInitial: 100, backoffMsMax: 10_000, backoffJitter: 0.5, random: new SeededRandom(seed) });
      for (let i = 0; i < 4; i++) {
        driver.closeSocket();
        driver.tick();
      }
      return driver.opened.slice(1).map((o, i) => o.atMs - driver.opened[i]!.atMs);
    };
    const first = delays(42);
    expect(delays(42)).toEqual(first);
    first.forEach((delay, attempt) => {
      expect(delay).toBeGreaterThanOrEqual(50 * 2 ** attempt);
      expect(delay).toBeLessThanOrEqual(100 * 2 ** attempt);
    });
  });

  it('sdk core: a connection that was up retries its own URL first, and the backoff starts over after a welcome', () => {
    const driver = new Driver({ backoffMsInitial: 100 });
    driver.closeSocket('connect_failed');
    driver.tick(); // B, after 100 ms
    driver.welcome();
    expect(driver.core.status).toMatchObject({ state: 'connected', url: B, attempt: 0, failedOver: false });
    driver.closeSocket();
    expect(driver.core.status.state).toBe('reconnecting');
    driver.tick();
    expect(driver.opened.at(-1)).toEqual({ connection: 3, url: B, atMs: 200 });
  });

  it('sdk core: failedOver says the latest connection is to another URL than the one before', () => {
    const driver = new Driver();
    driver.welcome();
    driver.closeSocket();
    driver.tick();
    driver.closeSocket('connect_failed'); // A is gone
    driver.tick();
    driver.welcome();
    expect(driver.core.status).toMatchObject({ url: B, failedOver: true });
  });

  it('sdk core: no welcome within connectTimeoutMs fails the attempt as connect_timeout', () => {
    const driver = new Driver({ connectTimeoutMs: 300 });
    driver.open();
    driver.tick();
    expect(driver.core.status.lastError?.code).toBe('connect_timeout');
    expect(driver.events).toContainEqual({ type: 'close', connection: 1 });
  });
});

describe('sdk core: redirects', () => {
  it('sdk core: the first not_primary redirect is immediate; the command goes to the named primary with its id', () => {
    const driver = new Driver({ urls: [B, A] });
    driver.welcome(SECONDARY);
    expect(driver.core.submit('c1', 'standup', { type: 'lock' }, driver.nowMs)).toBeUndefined();
    driver.drain();
    driver.receive({ type: 'result', id: 'c1', ok: false, code: 'not_primary', message: 'secondary', primaryUrl: A });
    expect(driver.core.pollTimeoutMs()).toBe(driver.nowMs);
    driver.tick();
    expect(driver.opened.at(-1)?.url).toBe(A);
    driver.welcome();
    expect(driver.sent.filter((m) => m.type === 'command').map((m) => (m as { id: string }).id)).toEqual(['c1', 'c1']);
  });

  it('sdk core: a welcome from a secondary while commands wait does not reset the backoff (no hot loop between secondaries)', () => {
    const driver = new Driver({ backoffMsInitial: 100, urls: [A, B] });
    driver.core.submit('c1', 'standup', { type: 'lock' }, 0);
    const gaps: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = driver.nowMs;
      driver.welcome({ ...SECONDARY, primaryUrl: driver.opened.at(-1)!.url === A ? B : A });
      driver.receive({ type: 'result', id: 'c1', ok: false, code: 'not_primary', message: 'secondary', primaryUrl: driver.opened.at(-1)!.url === A ? B : A });
      driver.tick();
      gaps.push(driver.nowMs - before);
    }
    expect(gaps).toEqual([0, 200, 400, 800]);
  });

  it('sdk core: a redirect from wss to ws is not followed (the token would travel in clear text): the next URL is tried', () => {
    const secure = ['wss://a.example/v1/ws', 'wss://b.example/v1/ws'];
    const driver = new Driver({ urls: secure });
    driver.welcome(SECONDARY);
    driver.core.submit('c1', 'standup', { type: 'lock' }, 0);
    driver.drain();
    driver.receive({ type: 'result', id: 'c1', ok: false, code: 'not_primary', message: 'secondary', primaryUrl: 'ws://evil.example' });
    driver.tick();
    expect(driver.opened.at(-1)?.url).toBe(secure[1]);
  });

  it('sdk core: a redirect to the URL already in use moves on to the next one', () => {
    const driver = new Driver();
    driver.welcome(SECONDARY);
    driver.core.submit('c1', 'standup', { type: 'lock' }, 0);
    driver.drain();
    driver.receive({ type: 'result', id: 'c1', ok: false, code: 'not_primary', message: 'secondary', primaryUrl: A });
    driver.tick();
    expect(driver.opened.at(-1)?.url).toBe(B);
  });
});

describe('sdk core: refusals and protocol errors', () => {
  it('sdk core: a fixed token refused unauthenticated closes the client and rejects waiting commands with that code', () => {
    const driver = new Driver();
    driver.core.submit('c1', 'standup', { type: 'lock' }, 0);
    driver.open();
    driver.receive({ type: 'error', code: 'unauthenticated', message: 'bad token', fatal: true });
    expect(driver.core.status).toMatchObject({ state: 'closed', lastError: { code: 'unauthenticated' } });
    expect(driver.settled()).toMatchObject([{ id: 'c1', outcome: { ok: false, code: 'unauthenticated' } }]);
    expect(driver.core.pollTimeoutMs()).toBeUndefined();
  });

  it('sdk core: a renewable token refused unauthenticated is retried; an unsupported protocol closes even then', () => {
    const renewable = new Driver({ tokenRenewable: true });
    renewable.open();
    renewable.receive({ type: 'error', code: 'unauthenticated', message: 'expired', fatal: true });
    expect(renewable.core.status.state).toBe('connecting');
    const old = new Driver({ tokenRenewable: true });
    old.open();
    old.receive({ type: 'error', code: 'unsupported_protocol', message: 'protocol 1 is not 2', fatal: true });
    expect(old.core.status.state).toBe('closed');
  });

  it('sdk core: malformed frames and messages before welcome are protocol errors; an unknown type is skipped', () => {
    for (const frame of ['{not json', '{"type":"delta","session":"s","seq":"7","changes":[]}', '{"type":"pong","id":"x"}']) {
      const driver = new Driver();
      driver.open();
      driver.receive(frame);
      expect(driver.core.status.lastError?.code, frame).toBe('protocol_error');
    }
    const driver = new Driver();
    driver.welcome();
    driver.receive('{"type":"news","text":"a newer server"}');
    expect(driver.core.status.state).toBe('connected');
  });

  it('sdk core: a node message updates the status and emits it; a malformed one is a protocol error', () => {
    const driver = new Driver();
    driver.welcome(SECONDARY);
    const promoted: NodeInfo = { nodeId: 2, role: 'primary', epoch: 2, primaryUrl: null };
    driver.receive({ type: 'node', node: promoted });
    expect(driver.core.status).toMatchObject({ state: 'connected', url: A, node: promoted });
    expect(driver.events.at(-1)).toMatchObject({ type: 'status', status: { node: promoted } });
    driver.receive('{"type":"node","node":{"nodeId":2,"role":"leader","epoch":3,"primaryUrl":null}}');
    expect(driver.core.status.lastError?.code).toBe('protocol_error');
  });

  it('sdk core: a resumed that does not match the position asked for forgets it and subscribes afresh; an unasked resumed is a protocol error', () => {
    const driver = new Driver();
    driver.core.subscribe('standup');
    driver.welcome();
    driver.receive({ type: 'snapshot', session: 'standup', stream: 'n1', seq: 3, elements: [], resumed: false, reason: null });
    driver.closeSocket();
    driver.tick();
    driver.welcome();
    expect(driver.sent.at(-1)).toEqual({ type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 3 }, known: [] });
    driver.receive({ type: 'resumed', session: 'standup', stream: 'n1', seq: 9 });
    expect(driver.sent.at(-1)).toEqual({ type: 'subscribe', session: 'standup' });
    driver.receive({ type: 'resumed', session: 'standup', stream: 'n1', seq: 0 });
    expect(driver.core.status.lastError?.code).toBe('protocol_error');
  });

  it('sdk core: a passing refusal (unavailable, stale, queue_full, rate_limited) is retried with the same id after a backoff, until commandTimeoutMs', () => {
    const driver = new Driver({ backoffMsInitial: 100, commandTimeoutMs: 1_000 });
    driver.welcome();
    driver.core.submit('c1', 'standup', { type: 'lock' }, driver.nowMs);
    driver.drain();
    const sentAt: number[] = [driver.nowMs];
    for (const code of ['unavailable', 'stale', 'rate_limited', 'queue_full']) {
      driver.receive({ type: 'result', id: 'c1', ok: false, code, message: 'passing' });
      driver.tick();
      sentAt.push(driver.nowMs);
    }
    expect(sentAt).toEqual([0, 100, 300, 700, 1_000]); // 100, 200, 400 ms apart; then the deadline comes first
    expect(driver.sent.filter((m) => m.type === 'command').map((m) => (m as { id: string }).id)).toEqual(['c1', 'c1', 'c1', 'c1']);
    expect(driver.settled()).toMatchObject([{ id: 'c1', outcome: { ok: false, code: 'timeout' } }]);
    expect(driver.core.status.state).toBe('connected');
  });

  it('sdk core: a definite refusal and an internal error are answered at once, not retried', () => {
    const driver = new Driver();
    driver.welcome();
    driver.core.submit('c1', 'standup', { type: 'lock' }, 0);
    driver.core.submit('c2', 'standup', { type: 'lock' }, 0);
    driver.drain();
    driver.receive({ type: 'result', id: 'c1', ok: false, code: 'forbidden', message: 'a viewer may not lock' });
    driver.receive({ type: 'result', id: 'c2', ok: false, code: 'internal', message: 'a bug' });
    expect(driver.settled().map((e) => e.type === 'settled' && e.outcome)).toEqual([
      { ok: false, code: 'forbidden', message: 'a viewer may not lock' },
      { ok: false, code: 'internal', message: 'a bug' },
    ]);
  });

  it('sdk core: a participant token subscribes only in its own session; another ends at once as wrong_session', () => {
    const driver = new Driver();
    driver.core.subscribe('standup');
    driver.core.subscribe('elsewhere');
    driver.welcome();
    expect(driver.sent.filter((m) => m.type === 'subscribe')).toEqual([{ type: 'subscribe', session: 'standup' }]);
    expect(driver.core.stream('elsewhere')?.state).toBe('unsubscribed');
    expect(driver.events).toContainEqual({ type: 'unsubscribed', session: 'elsewhere', reason: 'wrong_session: the token is for session standup, not elsewhere' });
  });

  it('sdk core: unsubscribed after a refused subscribe ends the subscription, except rate_limited and unavailable (a node catching up), which subscribe again after a backoff', () => {
    const driver = new Driver({ backoffMsInitial: 100 });
    driver.core.subscribe('standup');
    driver.welcome();
    driver.receive({ type: 'unsubscribed', session: 'standup', reason: 'rate_limited' });
    expect(driver.core.stream('standup')?.state).toBe('subscribing');
    driver.tick();
    expect([driver.nowMs, driver.sent.filter((m) => m.type === 'subscribe').length]).toEqual([100, 2]);
    driver.receive({ type: 'unsubscribed', session: 'standup', reason: 'unavailable' });
    expect(driver.core.stream('standup')?.state).toBe('subscribing');
    driver.tick();
    expect(driver.sent.filter((m) => m.type === 'subscribe').length).toBe(3);
    expect(driver.events.filter((e) => e.type === 'unsubscribed')).toEqual([]);
    driver.receive({ type: 'unsubscribed', session: 'standup', reason: 'too_many_subscriptions' });
    expect(driver.core.stream('standup')?.state).toBe('unsubscribed');
    expect(driver.events.filter((e) => e.type === 'unsubscribed')).toEqual([{ type: 'unsubscribed', session: 'standup', reason: 'too_many_subscriptions' }]);
  });

  it('sdk core: a result for an unknown id (answered before, or timed out) changes nothing', () => {
    const driver = new Driver();
    driver.welcome();
    driver.receive({ type: 'result', id: 'nobody', ok: true, duplicate: false });
    expect(driver.settled()).toEqual([]);
    expect(driver.core.status.state).toBe('connected');
  });
});

describe('sdk core: keepalive and signals', () => {
  it('sdk core: after pingIntervalMs of silence a ping goes out; any message counts as an answer; none within pongTimeoutMs fails the connection', () => {
    const driver = new Driver({ pingIntervalMs: 1_000, pongTimeoutMs: 500 });
    driver.welcome();
    driver.tick();
    expect(driver.nowMs).toBe(1_000);
    expect(driver.sent.at(-1)).toMatchObject({ type: 'ping' });
    driver.receive({ type: 'delta', session: 'other', seq: 1, changes: [] }); // traffic proves the link is alive
    driver.tick();
    expect(driver.nowMs).toBe(2_000);
    driver.tick();
    expect(driver.nowMs).toBe(2_500);
    expect(driver.core.status).toMatchObject({ state: 'reconnecting', lastError: { code: 'ping_timeout' } });
    expect(driver.events.filter((e) => e.type === 'pong')).toEqual([]); // keepalive pongs are the core's own
  });

  it('sdk core: signals are sent only while connected and are not queued', () => {
    const driver = new Driver();
    expect(driver.core.signal('standup', 'bo', { type: 'offer' })).toBe(false);
    driver.welcome();
    expect(driver.core.signal('standup', 'bo', { type: 'offer' })).toBe(true);
    driver.drain();
    expect(driver.sent.filter((m) => m.type === 'signal')).toEqual([{ type: 'signal', session: 'standup', to: 'bo', payload: { type: 'offer' } }]);
  });

  it('sdk core: bad settings are refused at construction, naming the setting', () => {
    expect(() => new ClientCore({ urls: [], random: new SeededRandom(1) })).toThrow(/urls/);
    expect(() => new ClientCore({ urls: ['ftp://x'], random: new SeededRandom(1) })).toThrow(/ftp/);
    expect(() => new ClientCore({ urls: [A], random: new SeededRandom(1), pendingCommandsMax: 0 })).toThrow(/pendingCommandsMax/);
    expect(() => new ClientCore({ urls: [A], random: new SeededRandom(1), backoffJitter: 2 })).toThrow(/backoffJitter/);
  });
});

describe('sdk core: resume across streams', () => {
  const meta = { key: 's/standup/meta', ts: 10, value: { title: 'Stand-up', organizer: 'ada', createdAtMs: 0, scheduledAtMs: null } };
  const hand = (who: string, ts: number) => ({ key: `s/standup/hand/${who}`, ts, value: { raisedAtMs: ts } });
  const views = (driver: Driver) => driver.events.filter((e): e is Extract<CoreEvent, { type: 'view' }> => e.type === 'view');

  /** A driver whose stream is live on n1 at seq 3 holding meta and bo's hand, then reconnected (welcomed with `limits`): its resume is the last message sent. */
  function resuming(options: Partial<ClientCoreOptions> = {}, limits?: WelcomeLimits): Driver {
    const driver = new Driver(options);
    driver.core.subscribe('standup');
    driver.welcome();
    driver.receive({ type: 'snapshot', session: 'standup', stream: 'n1', seq: 3, elements: [meta, hand('bo', 11)], resumed: false, reason: null });
    driver.closeSocket();
    driver.tick();
    driver.welcome(PRIMARY, limits);
    return driver;
  }

  it('sdk core: a resume lists the mirror as known; a bridging resumed applies its changes once, moves to the new stream and tells them as one view event', () => {
    const driver = resuming();
    expect(driver.sent.at(-1)).toEqual({ type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 3 }, known: [['s/standup/meta', 10], ['s/standup/hand/bo', 11]] });
    const changes = [{ key: 's/standup/hand/bo', ts: 14, value: null }, hand('cy', 15)];
    driver.receive({ type: 'resumed', session: 'standup', stream: 'n2', seq: 0, changes, reason: 'another stream' });
    expect(views(driver).at(-1)).toEqual({ type: 'view', session: 'standup', how: 'resume', changes });
    const stream = driver.core.stream('standup')!;
    expect([stream.state, stream.position]).toEqual(['live', { stream: 'n2', seq: 0 }]);
    expect([stream.mirror.valueOf('s/standup/hand/bo'), stream.mirror.valueOf('s/standup/hand/cy')]).toEqual([null, { raisedAtMs: 15 }]);
    // The deltas of the new stream follow from its seq.
    driver.receive({ type: 'delta', session: 'standup', seq: 1, changes: [hand('bo', 16)] });
    expect(views(driver).at(-1)).toMatchObject({ how: 'delta', changes: [hand('bo', 16)] });
    expect(stream.position).toEqual({ stream: 'n2', seq: 1 });
  });

  it('sdk core: a snapshot while the mirror holds something is reconciled: newer wins, a missing key is deleted, only real differences are told', () => {
    const driver = resuming();
    driver.receive({ type: 'snapshot', session: 'standup', stream: 'n2', seq: 0, elements: [meta, hand('cy', 15)], resumed: false, reason: 'not held' });
    expect(views(driver).at(-1)).toEqual({ type: 'view', session: 'standup', how: 'snapshot', changes: [hand('cy', 15), { key: 's/standup/hand/bo', ts: 11, value: null }] });
    // The same state again (say, an epoch change on the node): nothing to tell.
    driver.receive({ type: 'snapshot', session: 'standup', stream: 'n3', seq: 0, elements: [meta, hand('cy', 15)], resumed: false, reason: 'epoch' });
    expect(views(driver).at(-1)).toEqual({ type: 'view', session: 'standup', how: 'snapshot', changes: [] });
  });

  it('sdk core: known is left out beyond resumeKnownMax entries or resumeKnownBytesMax bytes', () => {
    expect(resuming({ resumeKnownMax: 1 }).sent.at(-1)).toEqual({ type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 3 } });
    expect(resuming({ resumeKnownMax: 2 }).sent.at(-1)).toHaveProperty('known');
    const exact = JSON.stringify({ type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 3 }, known: [['s/standup/meta', 10], ['s/standup/hand/bo', 11]] }).length;
    expect(resuming({ resumeKnownBytesMax: exact }).sent.at(-1)).toHaveProperty('known');
    expect(resuming({ resumeKnownBytesMax: exact - 1 }).sent.at(-1)).not.toHaveProperty('known');
  });

  it("sdk core: the welcome's limits bound known too, so a server with smaller messages is never sent one it would close the connection over", () => {
    const exact = JSON.stringify({ type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 3 }, known: [['s/standup/meta', 10], ['s/standup/hand/bo', 11]] }).length;
    expect(resuming({}, { messageBytesMax: exact, resumeKnownMax: 2 }).sent.at(-1)).toHaveProperty('known');
    expect(resuming({}, { messageBytesMax: exact - 1, resumeKnownMax: 2_000 }).sent.at(-1)).toEqual({ type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 3 } });
    expect(resuming({}, { messageBytesMax: 80 * 1024, resumeKnownMax: 1 }).sent.at(-1)).not.toHaveProperty('known');
    // The smaller of the client's own and the server's limits applies.
    expect(resuming({ resumeKnownMax: 1 }, { messageBytesMax: 80 * 1024, resumeKnownMax: 2_000 }).sent.at(-1)).not.toHaveProperty('known');
    // A welcome without limits (an older server): the client's own limits alone.
    expect(resuming({}).sent.at(-1)).toHaveProperty('known');
  });

  it('sdk core: a welcome with malformed limits is a protocol error', () => {
    const driver = new Driver();
    driver.open();
    driver.receive(JSON.stringify({ type: 'welcome', participant: 'ada', session: 'standup', role: 'host', service: false, node: PRIMARY, limits: { messageBytesMax: 0, resumeKnownMax: 1 } }));
    expect(driver.core.status.lastError).toMatchObject({ code: 'protocol_error', message: expect.stringContaining('limits') });
    expect(driver.core.status.state).not.toBe('connected');
  });

  it('sdk core: a non-fatal invalid_request or too_large while a resume with known waits makes it go again without known', () => {
    const driver = resuming();
    driver.receive({ type: 'error', code: 'too_large', message: 'message/known has 2 entries; limits.resumeKnownMax is 1', fatal: false });
    expect(driver.sent.at(-1)).toEqual({ type: 'subscribe', session: 'standup', resume: { stream: 'n1', seq: 3 } });
    const sent = driver.sent.length;
    driver.receive({ type: 'error', code: 'invalid_request', message: 'something else', fatal: false });
    expect(driver.sent.length).toBe(sent); // the waiting subscribe has no known: nothing to drop
    expect(driver.core.status.state).toBe('connected');
  });

  it('sdk core: a bridging resumed that nobody asked for (the stream is live) is a protocol error', () => {
    const driver = resuming();
    driver.receive({ type: 'resumed', session: 'standup', stream: 'n1', seq: 3 });
    driver.receive({ type: 'resumed', session: 'standup', stream: 'n2', seq: 0, changes: [], reason: 'x' });
    expect(driver.core.status.lastError?.code).toBe('protocol_error');
  });
});
