/** FailoverElementClient against real processes and the fault proxy: it finds
 *  the primary, re-sends an update whose outcome it lost with the same ts
 *  (applied once, answered once), and answers every update by its deadline. */

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElementClient } from '../../src/client/element-client.ts';
import { FailoverElementClient, failoverBackoff } from '../../src/client/failover-element-client.ts';
import { reconnectDelayMs } from '../../src/client/backoff.ts';
import { SeededRandom } from '../../src/core/random.ts';
import { HybridClock } from '../../src/core/clock.ts';
import { FaultProxy } from '../support/fault-proxy.ts';
import { NodePair } from '../support/node-pair.ts';

let pair: NodePair;
const proxies: FaultProxy[] = [];

beforeAll(async () => {
  pair = await NodePair.start();
}, 60_000);

afterAll(async () => {
  await pair?.stop();
  await Promise.all(proxies.map((proxy) => proxy.close()));
});

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port } });
  proxies.push(proxy);
  return proxy;
}

/** A port nothing listens on: a proxy to it accepts, and (blackholed) never answers nor resets. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('FailoverElementClient', () => {
  it('client: skips a secondary listed first and writes to the primary, stamping its own ts', async () => {
    const client = new FailoverElementClient({ addresses: [pair.address('b'), pair.address('a')], secret: pair.secret, nodeId: 3 });
    const before = Date.now();
    const result = await client.update('s/client/meta', { n: 1 });
    expect(result).toMatchObject({ code: 'applied', attempts: 1, answeredBy: `127.0.0.1:${pair.ports.a}`, epoch: 1, confirmedByRetry: false });
    expect(result.ts).toBe(result.updateTs);
    expect(result.ts % 16).toBe(3); // the client's node id is the tie-break of its timestamps
    expect(new HybridClock({ nowMs: () => before }, { nodeId: 3, maxClockSkewMs: 0 }).now()).toBeLessThanOrEqual(result.ts);
    expect(client.connectedTo).toBe(`127.0.0.1:${pair.ports.a}`);
    expect(await client.get('s/client/meta')).toMatchObject({ found: true, ts: result.ts, value: { n: 1 } });
    client.close();
  });

  it('client: an update whose answer never comes is re-sent elsewhere with the same ts; it is applied once and answered once, applied', async () => {
    // The proxy delivers the update to the primary and holds its answer.
    const proxy = await proxyTo(pair.ports.a);
    const client = new FailoverElementClient({ addresses: [{ host: '127.0.0.1', port: proxy.port }, pair.address('a')], secret: pair.secret, nodeId: 4, attemptTimeoutMs: 300 });
    await client.update('s/client/warm', 0); // connected through the proxy
    proxy.blackhole('toClient');
    const startedMs = performance.now();
    const result = await client.update('s/client/once', { first: true });
    expect(result).toMatchObject({ code: 'applied', attempts: 2, answeredBy: `127.0.0.1:${pair.ports.a}`, confirmedByRetry: true });
    expect(performance.now() - startedMs).toBeLessThan(2_000);
    expect(client.stats).toMatchObject({ resent: 1, confirmedByRetry: 1 });
    // A second apply of that ts is impossible, whatever the value: the element keeps the first.
    const direct = await ElementClient.connect({ ...pair.address('a'), secret: pair.secret });
    expect(await direct.update('s/client/once', { first: false }, { ts: result.updateTs })).toMatchObject({ code: 'stale', ts: result.updateTs });
    expect(await direct.get('s/client/once')).toMatchObject({ ts: result.updateTs, value: { first: true } });
    direct.close();
    client.close();
  });

  it('client: at pendingMax the next update is refused queue_full at once; the pending ones are answered timeout by their deadline', async () => {
    const proxy = await proxyTo(await deadPort());
    proxy.blackhole('both'); // accepts, answers nothing: the handshake never ends
    const client = new FailoverElementClient({ addresses: [{ host: '127.0.0.1', port: proxy.port }], secret: pair.secret, nodeId: 5, pendingMax: 3, updateDeadlineMs: 600, connectTimeoutMs: 200 });
    const startedMs = performance.now();
    const pending = [1, 2, 3].map((n) => client.update(`s/client/p${n}`, n));
    expect(client.pendingCount).toBe(3);
    expect(await client.update('s/client/p4', 4)).toMatchObject({ code: 'queue_full', attempts: 0 });
    const answers = await Promise.all(pending);
    const elapsedMs = performance.now() - startedMs;
    for (const answer of answers) expect(answer).toMatchObject({ code: 'timeout', answeredBy: '' });
    expect(answers[0]!.detail).toMatch(/handshake .* timed out/);
    expect(elapsedMs).toBeGreaterThanOrEqual(590);
    expect(elapsedMs).toBeLessThan(600 + 200);
    expect(client.pendingCount).toBe(0);
    client.close();
  });

  it('client: close answers every pending update closed', async () => {
    const proxy = await proxyTo(await deadPort());
    proxy.blackhole('both');
    const client = new FailoverElementClient({ addresses: [{ host: '127.0.0.1', port: proxy.port }], secret: pair.secret, nodeId: 6 });
    const pending = client.update('s/client/closed', 1);
    client.close();
    expect(await pending).toMatchObject({ code: 'closed' });
    expect(await client.update('s/client/closed', 2)).toMatchObject({ code: 'closed', attempts: 0 });
  });

  it('client: with no node able to take writes (min-replicas 1, secondary killed) every update is answered by its deadline, never hangs', async () => {
    await pair.kill('b');
    const client = new FailoverElementClient({ addresses: pair.addresses(), secret: pair.secret, nodeId: 7, updateDeadlineMs: 800 });
    const startedMs = performance.now();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => client.update(`s/client/u${i}`, i)));
    const elapsedMs = performance.now() - startedMs;
    for (const answer of answers) {
      expect(answer.code).toBe('timeout');
      expect(answer.attempts).toBeGreaterThanOrEqual(1);
      expect(answer.detail).toMatch(/unavailable|ECONNREFUSED/);
    }
    // The deadline plus slack for a loaded 2-core machine: a hang would never end.
    expect(elapsedMs).toBeLessThan(800 + 2_000);
    client.close();
  });
});

describe('FailoverElementClient: reconnect pauses', () => {
  it('client: pauses double from reconnectDelayMsMin to reconnectDelayMsMax, less a random share (half by default), so clients spread out', () => {
    const settings = failoverBackoff({});
    const random = new SeededRandom(7);
    const pauses = Array.from({ length: 2_000 }, (_, i) => [i % 6, reconnectDelayMs(i % 6, settings, random)] as const);
    for (const [round, pause] of pauses) {
      const full = Math.min(100, 10 * 2 ** round);
      expect(pause).toBeGreaterThanOrEqual(Math.floor(full / 2));
      expect(pause).toBeLessThanOrEqual(full);
    }
    // Spread: at the ceiling, the pauses of many clients cover the upper half, not one value.
    const atCeiling = new Set(pauses.filter(([round]) => round >= 4).map(([, pause]) => pause));
    expect(atCeiling.size).toBeGreaterThan(40);
    expect(Array.from({ length: 6 }, (_, round) => reconnectDelayMs(round, failoverBackoff({ reconnectJitter: 0 }), random))).toEqual([10, 20, 40, 80, 100, 100]);
  });

  it('client: nonsense reconnect settings are refused naming the option', () => {
    expect(() => failoverBackoff({ reconnectJitter: 2 })).toThrow(/reconnectJitter/);
    expect(() => failoverBackoff({ reconnectDelayMsMin: 50, reconnectDelayMsMax: 10 })).toThrow(/reconnectDelayMsMax 10 must be a finite number ≥ reconnectDelayMsMin 50/);
    expect(() => new FailoverElementClient({ addresses: [{ host: '127.0.0.1', port: 1 }], secret: new Uint8Array(32), nodeId: 3, reconnectDelayMsMin: -1 })).toThrow(/reconnectDelayMsMin/);
  });
});
