/** Subscriptions through kill -9 of the primary, on a real pair of processes:
 *  SDK subscribers follow a session while writers keep changing it; some are
 *  on the primary, some lag behind it (a fault proxy holds their deltas) when
 *  it dies, one is on the secondary. Each records every element change its
 *  SDK tells it. After the failover each subscriber's record must have no gap
 *  (replayed from nothing it rebuilds a mirror equal to the new primary's
 *  snapshot), no duplicate (each key and ts once, per key always newer), no
 *  reload (only the first snapshot brings changes), and every write a writer
 *  saw acknowledged must be in it (seen, or overwritten by a later change it
 *  saw, or created and deleted while the subscriber was away). */

import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type ChangeSource, ConferenceClient, type ConferenceSession } from '../../src/client/conference-client.ts';
import { SessionMirror } from '../../src/conference/mirror.ts';
import type { Command, ElementState } from '../../src/conference/model.ts';
import { type ApiPair, startApiPair } from '../support/api-pair.ts';
import { FaultProxy } from '../support/fault-proxy.ts';

const SESSION = 'resume';
const WRITERS = 3;

/** Resolves once `condition` holds, polling; rejects after `timeoutMs` naming `what`. */
async function until(condition: () => boolean, what: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const byKey = (elements: readonly ElementState[]): string => JSON.stringify([...elements].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));

/** What one subscriber's SDK told it: every change with how it came, and the calls that brought them. */
class Subscriber {
  readonly changes: (ElementState & { readonly how: ChangeSource })[] = [];
  readonly calls: ChangeSource[] = [];
  readonly session: ConferenceSession;

  constructor(
    readonly name: string,
    readonly client: ConferenceClient,
  ) {
    this.session = client.session(SESSION);
    this.session.onElements((changes, how) => {
      this.calls.push(how);
      for (const change of changes) this.changes.push({ ...change, how });
    });
  }
}

/** A writer's own commands, cycling over its hand and its audio track; each acknowledged write is recorded with its ts. */
const CYCLE: readonly { readonly command: (self: string) => Command; readonly key: (self: string) => string; readonly shows: (value: unknown) => boolean }[] = [
  { command: () => ({ type: 'raise_hand' }), key: (self) => `s/${SESSION}/hand/${self}`, shows: (value) => value !== null },
  { command: (self) => ({ type: 'mute', participant: self }), key: (self) => `s/${SESSION}/track/${self}/audio`, shows: (value) => (value as { muted?: boolean } | null)?.muted === true },
  { command: () => ({ type: 'lower_hand' }), key: (self) => `s/${SESSION}/hand/${self}`, shows: (value) => value === null },
  { command: (self) => ({ type: 'unmute', participant: self }), key: (self) => `s/${SESSION}/track/${self}/audio`, shows: (value) => (value as { muted?: boolean } | null)?.muted === false },
];

interface Acked {
  readonly key: string;
  readonly ts: number;
  readonly afterKill: boolean;
}

let pair: ApiPair | undefined;
let proxy: FaultProxy | undefined;
const clients: ConferenceClient[] = [];
afterAll(async () => {
  for (const client of clients) client.close();
  await proxy?.close();
  await pair?.stop();
});

describe('resume across a failover, real pair', () => {
  it('process: SDK subscribers through kill -9 of the primary under writers see every change exactly once — no gap, no duplicate, no reload — and end equal to the new primary', async () => {
    pair = await startApiPair({ minReplicas: 0 });
    const { primaryUrl, secondaryUrl } = pair;
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: Number(new URL(primaryUrl).port) } });
    const proxiedUrl = `http://127.0.0.1:${proxy.port}`;
    const service = pair.token('backend', '*', 'host');
    const created = await fetch(`${primaryUrl}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: SESSION, settings: { lobby: false } }) });
    expect(created.status).toBe(201);
    const client = (participant: string, urls: string[]): ConferenceClient => {
      const made = new ConferenceClient({ urls, token: pair!.token(participant, SESSION, 'participant'), WebSocket: WebSocket as never, backoffMsMax: 500 });
      clients.push(made);
      return made;
    };

    const subscribers = [
      new Subscriber('on-primary-1', client('watch-1', [primaryUrl, secondaryUrl])),
      new Subscriber('on-primary-2', client('watch-2', [primaryUrl, secondaryUrl])),
      new Subscriber('lagging-1', client('watch-3', [proxiedUrl, secondaryUrl])),
      new Subscriber('lagging-2', client('watch-4', [proxiedUrl, secondaryUrl])),
      new Subscriber('on-secondary', client('watch-5', [secondaryUrl, primaryUrl])),
    ];
    const lagging = subscribers.filter((s) => s.name.startsWith('lagging'));
    await until(() => subscribers.every((s) => s.session.state === 'live'), () => 'every subscriber live');

    let killed = false;
    let stop = false;
    const acked: Acked[] = [];
    const writer = async (index: number): Promise<void> => {
      const self = `w${index}`;
      const session = client(self, [primaryUrl, secondaryUrl]).session(SESSION);
      await session.join(`Writer ${index}`);
      await session.publishTrack('audio', { muted: false });
      for (let n = 0; !stop; n++) {
        const step = CYCLE[n % CYCLE.length]!;
        const key = step.key(self);
        // A refusal (say, a timeout across the failover) leaves the outcome open: the same step goes again.
        for (;;) {
          try {
            await session.send(step.command(self));
            break;
          } catch {
            if (stop) return;
          }
        }
        const afterKill = killed;
        // The delta reaches the writer before its result; across a reconnect it may follow it.
        await until(() => step.shows(session.mirror.valueOf(key)), () => `${self}'s mirror to show its ${step.command(self).type}`);
        acked.push({ key, ts: session.mirror.tsOf(key), afterKill });
      }
    };
    const writing = Array.from({ length: WRITERS }, (_, i) => writer(i));
    await until(() => acked.length >= 20, () => `20 acknowledged writes before the kill (${acked.length})`);

    // The lagging subscribers stop hearing from the primary; the deltas held for them die with it.
    proxy.blackhole('toClient');
    const heldFrom = acked.length;
    await until(() => acked.length >= heldFrom + 10, () => 'writes the lagging subscribers miss');
    pair.primary.child.kill('SIGKILL');
    killed = true;
    proxy.cut();
    await pair.secondary.waitFor('promoted to primary', 10_000);
    await until(() => acked.filter((a) => a.afterKill).length >= 20, () => `20 acknowledged writes on the new primary (${acked.filter((a) => a.afterKill).length})`);
    stop = true;
    await Promise.all(writing);

    // Settled: every subscriber holds the new primary's state (it may still be taking the last deltas).
    const snapshotOf = async (): Promise<{ stream: string; seq: number; elements: ElementState[] }> =>
      (await (await fetch(`${secondaryUrl}/v1/sessions/${SESSION}/snapshot`, { headers: { authorization: `Bearer ${service}` } })).json()) as never;
    let truth = await snapshotOf();
    await until(
      () => subscribers.every((s) => s.session.state === 'live' && s.session.position?.stream === truth.stream && s.session.position.seq === truth.seq),
      () => `every subscriber at ${truth.stream}/${truth.seq}: ${subscribers.map((s) => `${s.name} ${s.session.state} ${JSON.stringify(s.session.position)}`).join(', ')}`,
    );
    truth = await snapshotOf();
    expect(truth.elements.length).toBeGreaterThan(WRITERS * 3);

    for (const subscriber of subscribers) {
      const { name, changes, calls, session } = subscriber;
      expect(byKey(session.mirror.elements()), `${name}: the mirror is the new primary's state`).toBe(byKey(truth.elements));
      // No duplicate: each (key, ts) told once, and per key always newer.
      const lastTs = new Map<string, number>();
      for (const change of changes) {
        expect(change.ts, `${name}: ${change.key} at ${change.ts} after ${lastTs.get(change.key)}`).toBeGreaterThan(lastTs.get(change.key) ?? 0);
        lastTs.set(change.key, change.ts);
      }
      // No gap: the changes alone rebuild the state.
      const replay = new SessionMirror(SESSION);
      for (const change of changes) replay.apply(change);
      expect(byKey(replay.elements()), `${name}: replaying what it was told`).toBe(byKey(truth.elements));
      // No reload: only the first snapshot brought changes; the failover came as a bridge and deltas.
      expect(calls.slice(1), `${name}: how changes came`).not.toContain('snapshot');
      // Every acknowledged write was seen, or overwritten by a later change that was — or it
      // came and went while the subscriber was away (a hand raised and lowered): a bridge
      // carries states, not history, so a key absent before and after is not told at all.
      const live = new Set(truth.elements.map((e) => e.key));
      const missed = acked.filter((a) => (lastTs.get(a.key) ?? 0) < a.ts && live.has(a.key));
      expect(missed, `${name}: acknowledged writes never seen`).toEqual([]);
    }
    // The lagging subscribers' missed writes reached them through the bridge of their resume on the new primary.
    for (const subscriber of lagging) expect(subscriber.changes.filter((c) => c.how === 'resume').length, `${subscriber.name}: changes bridged`).toBeGreaterThan(0);
  }, 90_000);
});
