/** The write batcher: a turn's sends to one socket leave together at the end
 *  of the turn, in order, and nothing is held past it. */

import { createServer, type Socket, connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WriteBatcher } from '../../src/server/write-batch.ts';

describe('write batcher', () => {
  it('write batcher: corks a stream once per turn and uncorks every held stream in the check phase', async () => {
    const calls: string[] = [];
    const stream = (name: string) => ({ cork: () => calls.push(`cork ${name}`), uncork: () => calls.push(`uncork ${name}`) });
    const a = stream('a');
    const b = stream('b');
    const batcher = new WriteBatcher();
    batcher.hold(a);
    batcher.hold(a);
    batcher.hold(b);
    expect(batcher.heldCount).toBe(2);
    expect(calls).toEqual(['cork a', 'cork b']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['cork a', 'cork b', 'uncork a', 'uncork b']);
    expect(batcher.heldCount).toBe(0);
    batcher.hold(a); // a new turn corks again
    batcher.flush();
    expect(calls.slice(4)).toEqual(['cork a', 'uncork a']);
  });

  it('write batcher: writes of one turn to a real socket arrive whole and in order', async () => {
    const received: Buffer[] = [];
    let serverSide!: Socket;
    const server = createServer((socket) => (serverSide = socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const client = connect(port, '127.0.0.1');
    client.on('data', (chunk) => received.push(chunk));
    await new Promise<void>((resolve) => client.once('connect', resolve));
    while (serverSide === undefined) await new Promise((resolve) => setImmediate(resolve));
    const batcher = new WriteBatcher();
    for (let i = 0; i < 50; i++) {
      batcher.hold(serverSide);
      // ws corks around every frame itself: the batcher's cork is the outer one.
      serverSide.cork();
      serverSide.write(`frame ${i};`);
      serverSide.uncork();
    }
    expect(serverSide.writableLength).toBeGreaterThan(0); // held, not yet written
    const expected = Array.from({ length: 50 }, (_, i) => `frame ${i};`).join('');
    while (Buffer.concat(received).length < expected.length) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(Buffer.concat(received).toString()).toBe(expected);
    client.destroy();
    serverSide.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
