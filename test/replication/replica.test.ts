/** Unit tests of the Replica (one node across failovers) driven by hand:
 *  one client connection, no peer process, a manual clock. */

import { describe, expect, it } from 'vitest';
import { HybridClock } from '../../src/core/clock.ts';
import { ElementStore } from '../../src/core/element-store.ts';
import { WRITE_GATE_LIMITS_DEFAULT } from '../../src/core/write-gate.ts';
import { REPLICATION_LIMITS_DEFAULT, REPLICATION_TIMINGS_DEFAULT } from '../../src/replication/config.ts';
import { DialerHandshake } from '../../src/replication/handshake.ts';
import { FrameDecoder, type Message, decodeBody, encodeFrame } from '../../src/replication/messages.ts';
import { Replica } from '../../src/replication/replica.ts';
import { testAuthenticator } from '../support/pair-harness.ts';

const WALL_MS = Date.UTC(2026, 10, 24);

function restartedPrimary(minReplicas: 0 | 1): Replica {
  const store = new ElementStore({ elementsMax: 1000, digest: { leafBits: 8, fanoutBits: 4 } });
  let byte = 0;
  return new Replica(
    store,
    { clock: new HybridClock({ nowMs: () => WALL_MS }, { nodeId: 1, maxClockSkewMs: 5000 }), authenticator: testAuthenticator(), randomBytes: (n) => new Uint8Array(n).fill(byte++) },
    { nodeId: 1, epoch: 1, startRole: 'primary', peerAddress: 'peer:7401', minReplicas, syncRepair: true, testHooks: false, limits: REPLICATION_LIMITS_DEFAULT, timings: REPLICATION_TIMINGS_DEFAULT, gate: WRITE_GATE_LIMITS_DEFAULT },
    0,
  );
}

/** Opens an authenticated client connection (id 100) and returns what the client received after it. */
function openClient(replica: Replica): { send: (message: Message) => Message[] } {
  const decoder = new FrameDecoder(REPLICATION_LIMITS_DEFAULT.frameBytesMax);
  const handshake = new DialerHandshake({ role: 'client', nodeId: 3, epoch: 0 }, testAuthenticator(), new Uint8Array(32).fill(7));
  let open = false;
  const received: Message[] = [];
  const exchange = (message: Message): void => {
    replica.handleBytes(100, encodeFrame(message), 1);
    for (let out = replica.pollTransmit(); out !== undefined; out = replica.pollTransmit()) {
      if (out.kind !== 'send' || out.connectionId !== 100) continue;
      const bodies = decoder.push(out.bytes);
      if (!Array.isArray(bodies)) throw bodies;
      for (const body of bodies) {
        const reply = decodeBody(body);
        if (open) {
          received.push(reply);
          continue;
        }
        const outcome = handshake.handle(reply);
        if (outcome.kind === 'open') open = true;
        for (const next of outcome.send) exchange(next);
      }
    }
  };
  replica.handleConnect(100, 1);
  exchange(handshake.start());
  expect(open).toBe(true);
  return {
    send: (message) => {
      received.length = 0;
      exchange(message);
      return [...received];
    },
  };
}

describe('replica', () => {
  it('failover: a restarted primary with a peer refuses element-API writes until its first probe has answered (minReplicas 0)', () => {
    const replica = restartedPrimary(0);
    expect(replica.serving).toBe(false);
    const client = openClient(replica);
    const replies = client.send({ type: 'update', requestId: 1, key: 's/x/meta', ts: 0, deleted: false, value: { v: 1 } });
    expect(replies).toEqual([expect.objectContaining({ type: 'result', requestId: 1, code: 'unavailable' })]);
    expect(replica.store.get('s/x/meta')).toBeUndefined();
    // The probe's dial fails (no peer process): from then on this node serves alone.
    replica.handleTimeout(2);
    expect(replica.pollTransmit()).toEqual({ kind: 'dial' });
    replica.handleDialFailed('connection refused', 3);
    expect(replica.serving).toBe(true);
    const after = client.send({ type: 'update', requestId: 2, key: 's/x/meta', ts: 0, deleted: false, value: { v: 2 } });
    expect(after).toEqual([expect.objectContaining({ type: 'result', requestId: 2, code: 'applied' })]);
  });
});
