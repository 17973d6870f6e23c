/** Tests of the fault proxy itself, against a small echo server on loopback:
 *  each fault does what the process-level tests rely on, and heal() undoes it. */

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './fault-proxy.ts';

/** Echoes every byte back; says `hello\n` first, so the toClient direction carries bytes without any input. */
let echo: net.Server;
let echoPort: number;
let proxy: FaultProxy | undefined;

beforeEach(async () => {
  echo = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write('hello\n');
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as net.AddressInfo).port;
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  echo.close();
});

/** A client of the proxy that collects what it receives and how the connection ended. */
async function dial(port: number): Promise<{ socket: net.Socket; received: () => string; ended: Promise<'end' | 'reset'>; waitFor: (text: string, timeoutMs?: number) => Promise<number> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let text = '';
  const waiters: { text: string; resolve: (atMs: number) => void }[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
    for (const waiter of [...waiters]) {
      if (!text.includes(waiter.text)) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(performance.now());
    }
  });
  const ended = new Promise<'end' | 'reset'>((resolve) => {
    socket.on('end', () => resolve('end'));
    socket.on('error', () => resolve('reset'));
  });
  // A connection reset during its handshake never reports `connect`: `ended` tells.
  await Promise.race([new Promise((resolve) => socket.once('connect', resolve)), ended]);
  const waitFor = (wanted: string, timeoutMs = 2000): Promise<number> =>
    text.includes(wanted)
      ? Promise.resolve(performance.now())
      : new Promise((resolve, reject) => {
          waiters.push({ text: wanted, resolve });
          setTimeout(() => reject(new Error(`no ${JSON.stringify(wanted)} within ${timeoutMs} ms; got ${JSON.stringify(text)}`)), timeoutMs);
        });
  return { socket, received: () => text, ended, waitFor };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('fault proxy', () => {
  it('fault proxy: forwards both ways unchanged and counts the bytes of each direction', async () => {
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echoPort } });
    const client = await dial(proxy.port);
    const payload = 'x'.repeat(100_000);
    client.socket.write(payload);
    await client.waitFor(payload);
    expect(client.received()).toBe(`hello\n${payload}`);
    expect(proxy.counts).toMatchObject({ connectionsAccepted: 1, bytesToTarget: 100_000, bytesToClient: 100_006 });
    client.socket.end();
    expect(await client.ended).toBe('end'); // the echo server's end is forwarded too
  });

  it('fault proxy: delay holds each direction for its own added time', async () => {
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echoPort } });
    proxy.delay('toTarget', 120);
    proxy.delay('toClient', 60);
    const startedMs = performance.now();
    const client = await dial(proxy.port);
    // The greeting crosses toClient only: about 60 ms.
    const greetedMs = (await client.waitFor('hello')) - startedMs;
    expect(greetedMs).toBeGreaterThanOrEqual(55);
    const sentMs = performance.now();
    client.socket.write('ping');
    // An echo crosses both: about 180 ms.
    const roundTripMs = (await client.waitFor('ping')) - sentMs;
    expect(roundTripMs).toBeGreaterThanOrEqual(170);
    expect(roundTripMs).toBeLessThan(1000);
    proxy.heal();
    const healedAtMs = performance.now();
    client.socket.write('pong');
    expect((await client.waitFor('pong')) - healedAtMs).toBeLessThan(100);
  });

  it('fault proxy: a blackhole both ways accepts connections and forwards nothing; heal delivers the held bytes in order', async () => {
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echoPort } });
    proxy.blackhole('both');
    const client = await dial(proxy.port);
    client.socket.write('one,');
    client.socket.write('two');
    await sleep(200);
    expect(client.received()).toBe('');
    expect(proxy.counts.bytesToTarget).toBe(0);
    expect(proxy.heldBytes).toBeGreaterThanOrEqual(7);
    proxy.heal();
    await client.waitFor('one,two');
    expect(client.received()).toBe('hello\none,two');
    expect(proxy.heldBytes).toBe(0);
  });

  it('fault proxy: a one-way blackhole holds only its direction', async () => {
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echoPort } });
    proxy.blackhole('toTarget');
    const client = await dial(proxy.port);
    await client.waitFor('hello'); // toClient still flows
    client.socket.write('held');
    await sleep(150);
    expect(client.received()).toBe('hello\n');
    expect(proxy.counts.bytesToTarget).toBe(0);
    proxy.heal();
    proxy.blackhole('toClient');
    await sleep(150);
    expect(proxy.counts.bytesToTarget).toBe(4); // delivered to the target; its echo is held
    expect(client.received()).toBe('hello\n');
    proxy.heal();
    await client.waitFor('held');
  });

  it('fault proxy: cut resets every open connection and every new one until heal', async () => {
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echoPort } });
    const [first, second] = await Promise.all([dial(proxy.port), dial(proxy.port)]);
    await Promise.all([first.waitFor('hello'), second.waitFor('hello')]);
    proxy.cut();
    expect(await first.ended).toBe('reset');
    expect(await second.ended).toBe('reset');
    const during = await dial(proxy.port);
    expect(await during.ended).toBe('reset');
    expect(during.received()).toBe('');
    proxy.heal();
    const after = await dial(proxy.port);
    await after.waitFor('hello');
    expect(proxy.counts.connectionsReset).toBeGreaterThanOrEqual(3);
  });

  it('fault proxy: at heldBytesMax it stops reading the sender (backpressure), and forwards everything after heal', async () => {
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echoPort }, heldBytesMax: 64 * 1024 });
    proxy.blackhole('toTarget');
    const client = await dial(proxy.port);
    const chunk = 'y'.repeat(64 * 1024);
    let written = 0;
    // Write until the kernel buffers are full too: the proxy holds about heldBytesMax, not all of it.
    for (let i = 0; i < 200 && client.socket.write(chunk); i++) written += chunk.length;
    written += chunk.length;
    await sleep(200);
    expect(proxy.heldBytes).toBeLessThanOrEqual(64 * 1024 + 256 * 1024);
    expect(proxy.heldBytes).toBeLessThan(written);
    proxy.heal();
    await client.waitFor(`hello\n${'y'.repeat(written)}`, 10_000);
    expect(proxy.counts.bytesToTarget).toBe(written);
  });

  it('fault proxy: a target that refuses the connection is seen by the client as a reset', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port } });
    const client = await dial(proxy.port);
    expect(await client.ended).toBe('reset');
  });
});
