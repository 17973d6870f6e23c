/** The SDK against the real conference server (src/server over memory nodes):
 *  two clients in one session see the same gap-free sequence, a dropped
 *  client resumes with exactly the missed deltas, a secondary's not_primary
 *  sends the client to the primary, and after a failover (replication
 *  emulated in this process, promotion by epoch) the client ends on the new
 *  primary holding its state, with every command answered. */

import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import type { ElementState } from '../../src/conference/model.ts';
import type { ConferenceSession } from '../../src/client/conference-client.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { afterTest, closeAll, sorted, testClient, until } from '../support/sdk-harness.ts';
import { type RealNode, mintToken, promote, startReal, startRealPair } from '../support/real-server.ts';

afterEach(closeAll);

/** ws's WebSocket, remembering its instances so a test can cut one. */
class TrackedWebSocket extends WebSocket {
  static readonly all: TrackedWebSocket[] = [];
  constructor(url: string) {
    super(url);
    TrackedWebSocket.all.push(this);
  }
}

async function startPrimary(limits: Parameters<typeof startReal>[1] = {}): Promise<RealNode> {
  const real = await startReal(new MemoryStateNode({ nodeId: 1, role: 'primary', epoch: 1, primaryUrl: null }), limits);
  afterTest(() => real.server.close());
  return real;
}

/** A host and a guest (whose sockets are tracked, so a test can cut one) joined in session standup. */
async function hostAndGuest(real: RealNode) {
  const host = testClient([real.url], mintToken('ada', 'standup', 'host')).session('standup');
  const guestClient = testClient([real.url], mintToken('bo', 'standup'), { WebSocket: TrackedWebSocket });
  const guest = guestClient.session('standup');
  await host.create({ settings: { lobby: false } });
  await host.join('Ada');
  await guest.join('Bo');
  return { host, guestClient, guest };
}

function serverSeq(real: RealNode, session: string): number {
  return real.server.hub.snapshot(session).seq;
}

function sameElements(mine: readonly ElementState[], theirs: readonly ElementState[]): boolean {
  return JSON.stringify(sorted(mine)) === JSON.stringify(sorted(theirs));
}

/** Records, after every snapshot and delta, the seq and the elements the mirror holds. */
function recordSeqs(session: ConferenceSession): Map<number, string> {
  const seen = new Map<number, string>();
  session.onChange(() => {
    const seq = session.position!.seq;
    expect(seen.has(seq), `seq ${seq} shown twice`).toBe(false);
    seen.set(seq, JSON.stringify(sorted(session.mirror.elements())));
  });
  return seen;
}

describe('sdk against the real server', () => {
  it('real server: two SDK clients in one session see every command, in the same order, with gap-free sequence numbers', async () => {
    const real = await startPrimary();
    const host = testClient([real.url], mintToken('ada', 'standup', 'host')).session('standup');
    const guest = testClient([real.url], mintToken('bo', 'standup')).session('standup');
    const hostSeen = recordSeqs(host);
    const guestSeen = recordSeqs(guest);
    await host.create({ settings: { lobby: false } });
    await host.join('Ada');
    await guest.join('Bo');
    await Promise.all([
      host.publishTrack('audio'),
      guest.publishTrack('audio'),
      guest.raiseHand(),
      host.raiseHand(),
      host.mute('bo'),
      guest.lowerHand(),
      host.startRecording(),
      guest.publishTrack('video', { muted: true }),
      host.lock(),
    ]);
    const last = serverSeq(real, 'standup');
    await until(() => host.position?.seq === last && guest.position?.seq === last, 'both clients at the server seq');

    for (const seen of [hostSeen, guestSeen]) {
      const seqs = [...seen.keys()];
      expect(seqs.slice(1)).toEqual(seqs.slice(1).map((_, i) => seqs[0]! + i + 1)); // after the snapshot: +1 each time
    }
    // The host followed from seq 0, so every state the guest saw (its snapshot included) the host saw at the same seq.
    expect(guestSeen.size).toBeGreaterThanOrEqual(3);
    for (const [seq, state] of guestSeen) expect(hostSeen.get(seq), `state at seq ${seq}`).toBe(state);
    expect(sameElements(host.mirror.elements(), real.node.sessionElements('standup'))).toBe(true);
    expect(guest.view).toEqual(host.view);
  });

  it('real server: a client whose connection drops resumes and gets exactly the deltas it missed', async () => {
    const real = await startPrimary();
    const { host, guestClient, guest } = await hostAndGuest(real);
    await until(() => guest.position?.seq === serverSeq(real, 'standup'), 'the guest to catch up');
    const before = guest.position!;
    let applied = 0;
    guest.onChange(() => applied++);

    TrackedWebSocket.all.at(-1)!.terminate();
    await until(() => guestClient.status.state === 'reconnecting', 'the guest to notice');
    await host.raiseHand();
    await host.startRecording();
    await host.publishTrack('video');
    await until(() => guestClient.status.state === 'connected' && guest.position?.seq === serverSeq(real, 'standup'), 'the resume');

    expect(guest.position!.stream).toBe(before.stream); // resumed, not a fresh snapshot
    expect(applied).toBe(guest.position!.seq - before.seq); // each missed delta once (presence changes included)
    expect(applied).toBeGreaterThanOrEqual(3);
    expect(sameElements(guest.mirror.elements(), real.node.sessionElements('standup'))).toBe(true);
  });

  it("real server: a server whose messages are smaller than the SDK's known list resumes the client (known sized by the welcome) instead of closing it again and again", async () => {
    // 2 KiB messages: the SDK's own bound for `known` is 64 KiB, and a message over the server's limit closes the connection (1009).
    const real = await startPrimary({ wsMessageBytesMax: 2048, signalPayloadBytesMax: 1024 });
    const { host, guestClient, guest } = await hostAndGuest(real);
    // Enough elements that the guest's known list (~50 bytes each) is well over 2 KiB.
    await real.node.write(Array.from({ length: 60 }, (_, i) => ({ key: `s/standup/note/n${i}`, value: { text: `note ${i}` } })));
    await until(() => guest.position?.seq === serverSeq(real, 'standup'), 'the guest to catch up');
    expect(JSON.stringify(guest.mirror.elements().map((e) => [e.key, e.ts])).length).toBeGreaterThan(2048);
    const sockets = TrackedWebSocket.all.length;

    TrackedWebSocket.all.at(-1)!.terminate();
    await until(() => guestClient.status.state === 'reconnecting', 'the guest to notice');
    await host.raiseHand();
    await until(() => guestClient.status.state === 'connected' && guest.position?.seq === serverSeq(real, 'standup'), 'the resume');
    // One reconnection: the resume went without known (a replay from the ring needs none) and was not closed for its size.
    expect(TrackedWebSocket.all.length).toBe(sockets + 1);
    expect(sameElements(guest.mirror.elements(), real.node.sessionElements('standup'))).toBe(true);
  });

  it('real server: a secondary answers not_primary with its primary URL; the client moves there and the command is applied', async () => {
    const pair = await startRealPair();
    afterTest(() => pair.close());
    const client = testClient([pair.secondary.url, pair.primary.url], mintToken('ada', 'standup', 'host'));
    const session = client.session('standup');
    await client.whenConnected();
    expect(client.status.node?.role).toBe('secondary');
    const result = await session.create({ title: 'Redirected' });
    expect(result.duplicate).toBe(false);
    expect(client.status).toMatchObject({ url: pair.primary.url, failedOver: true, node: { role: 'primary' }, lastError: { code: 'not_primary' } });
    const view = await session.waitFor((v) => v.title === 'Redirected');
    expect(view.organizer).toBe('ada');
  });

  it('real server: when the primary dies and the secondary is promoted, the client moves over, gets a snapshot of the new stream, and every waiting command is answered there', async () => {
    const pair = await startRealPair();
    afterTest(() => pair.close());
    const client = testClient([pair.primary.url, pair.secondary.url], mintToken('ada', 'standup', 'host'));
    const session = client.session('standup');
    await session.create({ settings: { lobby: false } });
    await session.join('Ada');
    await session.waitFor((v) => v.participants.length === 1);
    const oldStream = session.position!.stream;

    await pair.primary.server.close();
    const waiting = [session.raiseHand(), session.publishTrack('audio'), session.startRecording()];
    await until(() => client.status.lastError?.code === 'not_primary' || client.status.attempt >= 2, 'the client to find no primary');
    promote(pair.secondary);
    const results = await Promise.all(waiting);

    expect(results).toHaveLength(3);
    expect(client.status).toMatchObject({ state: 'connected', url: pair.secondary.url, failedOver: true, node: { nodeId: 2, role: 'primary', epoch: 2 } });
    await until(() => session.view?.recording.active === true && session.view.hands.length === 1, 'the commands to show');
    expect(session.position!.stream).not.toBe(oldStream);
    expect(session.position!.stream).toContain('-e2-');
    expect(sameElements(session.mirror.elements(), pair.secondary.node.sessionElements('standup'))).toBe(true);
  });

  it('real server: a service token follows any session; a participant token is refused elsewhere by the SDK itself', async () => {
    const real = await startPrimary();
    const host = testClient([real.url], mintToken('ada', 'standup', 'host')).session('standup');
    await host.create({ title: 'Watched' });
    const service = testClient([real.url], mintToken('recorder', '*', 'host'));
    const watched = service.session('standup');
    expect((await watched.waitFor((v) => v.title === 'Watched')).organizer).toBe('ada');
    const elsewhere = testClient([real.url], mintToken('bo', 'standup')).session('other');
    await until(() => elsewhere.state === 'unsubscribed', 'the refusal');
  });
});
