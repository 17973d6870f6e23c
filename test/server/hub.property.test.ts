/** The hub under random interleavings (fast-check scheduler): concurrent
 *  commands of many participants, subscribers joining mid-stream, dropping
 *  and resuming. Every subscriber sees seq = previous + 1 with no gap, two
 *  subscribers see the same delta for the same seq, a resume within the ring
 *  gets exactly the missed deltas and outside it a flagged snapshot, and what
 *  each subscriber rebuilds equals the node's state. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../src/conference/api.ts';
import { planCommand } from '../../src/conference/commands.ts';
import { SessionMirror } from '../../src/conference/mirror.ts';
import type { Actor, Command, ElementState } from '../../src/conference/model.ts';
import { type CommandResult, CommandService } from '../../src/server/command-service.ts';
import { MemoryCommandDedupe } from '../../src/server/dedupe.ts';
import { Hub } from '../../src/server/hub.ts';
import { SessionIndex } from '../../src/server/session-index.ts';
import { MemoryStateNode, type StateNode } from '../../src/server/state-node.ts';
import { numRuns, propertyOptions } from '../support/property.ts';

const SESSION = 's1';
const clock = { nowMs: () => 1_800_000_000_000 };
const admin: Actor = { kind: 'service', id: 'admin', tokenRole: 'host' };
const member = (id: string): Actor => ({ kind: 'participant', id, tokenRole: 'participant' });

/** Records what a subscriber receives, and checks the stream rules as it goes. */
class Recorder {
  readonly seen = new Map<number, string>();
  mirror = new SessionMirror(SESSION);
  stream = '';
  seq = -1;
  resumes = 0;
  snapshotsAfterResume = 0;

  send = (text: string): void => {
    const message = JSON.parse(text) as ServerMessage;
    if (message.type === 'snapshot') {
      this.mirror = new SessionMirror(SESSION);
      this.mirror.load(message.elements);
      this.stream = message.stream;
      this.seq = message.seq;
    } else if (message.type === 'resumed') {
      expect(message.seq).toBe(this.seq);
      expect(message.stream).toBe(this.stream);
    } else if (message.type === 'delta') {
      expect(message.seq, 'gapless: seq = previous + 1').toBe(this.seq + 1);
      this.seq = message.seq;
      this.seen.set(message.seq, text);
      for (const change of message.changes) this.mirror.apply(change);
    }
  };
}

function byKey(elements: readonly ElementState[]): Record<string, number> {
  return Object.fromEntries(elements.filter((e) => e.value !== null).map((e) => [e.key, e.ts]));
}

const OPS: readonly ((id: string) => Command)[] = [
  (id) => ({ type: 'mute', participant: id, kind: 'audio' }),
  (id) => ({ type: 'unmute', participant: id, kind: 'audio' }),
  () => ({ type: 'raise_hand' }),
  () => ({ type: 'lower_hand' }),
  () => ({ type: 'publish_track', kind: 'video' }),
  () => ({ type: 'unpublish_track', kind: 'video' }),
];

type Step = { kind: 'command'; who: number; op: number } | { kind: 'subscribe'; who: number } | { kind: 'drop'; who: number } | { kind: 'resume'; who: number };

const stepArbitrary = (participants: number, subscribers: number): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('command' as const), who: fc.nat(participants - 1), op: fc.nat(OPS.length - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), who: fc.nat(subscribers - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), who: fc.nat(subscribers - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('resume' as const), who: fc.nat(subscribers - 1) }) },
  );

async function setup(participants: number, ringMax: number, scheduler: fc.Scheduler) {
  const memory = new MemoryStateNode();
  // Writes start in an order the scheduler picks, so commands interleave on the write path.
  const node: StateNode = {
    status: () => memory.status(),
    nodeInfo: () => memory.nodeInfo(),
    write: (updates, options) => scheduler.schedule(Promise.resolve(), 'write').then(() => memory.write(updates, options)),
    sessionElements: (s) => memory.sessionElements(s),
    currentTs: (key) => memory.currentTs(key),
    elementTs: (key) => memory.elementTs(key),
    sessionIds: () => memory.sessionIds(),
    onChange: (listener) => memory.onChange(listener),
    beforeSend: (flush) => memory.beforeSend(flush),
  };
  const index = new SessionIndex(memory);
  const service = new CommandService(node, planCommand, new MemoryCommandDedupe<CommandResult>({ entriesMax: 1000, ttlMs: 60_000 }, clock), index, { sessionsMax: 10, mirrorsMax: 10, sessionQueueLengthMax: 1000 }, clock);
  const hub = new Hub(memory, { resumeDeltasMax: ringMax, resumeSessionsMax: 10, deltaChangesMax: 1000 }, 'test');
  const setupRuns = [
    service.execute({ session: SESSION, actor: admin, requestId: undefined, command: { type: 'create', settings: { lobby: false } } }),
    ...Array.from({ length: participants }, (_, i) => service.execute({ session: SESSION, actor: member(`p${i}`), requestId: undefined, command: { type: 'join', name: `P${i}` } })),
  ];
  for (const result of await drain(scheduler, setupRuns)) expect(result.ok, JSON.stringify(result)).toBe(true);
  return { memory, service, hub };
}

/** Releases scheduled tasks one at a time until every promise settled (a task may schedule the next after a few turns). */
async function drain<T>(scheduler: fc.Scheduler, promises: readonly Promise<T>[]): Promise<T[]> {
  let done = false;
  const all = Promise.all(promises).finally(() => (done = true));
  while (!done) {
    if (scheduler.count() > 0) await scheduler.waitOne();
    else await new Promise((resolve) => setImmediate(resolve));
  }
  return all;
}

describe('hub: per-session delta stream', () => {
  it('hub: under any interleaving every subscriber sees gapless seqs, the same delta per seq, exact resumes, and ends equal to the node', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(stepArbitrary(6, 3), { minLength: 1, maxLength: 40 }),
        async (scheduler, participants, ringMax, steps) => {
          const { memory, service, hub } = await setup(participants, ringMax, scheduler);
          const recorders = [new Recorder(), new Recorder(), new Recorder()];
          const subscribed = [false, false, false];
          const pending: Promise<unknown>[] = [];
          for (const step of steps) {
            const recorder = recorders[step.who % 3]!;
            const index = step.who % 3;
            if (step.kind === 'command') {
              const who = `p${step.who % participants}`;
              pending.push(scheduler.schedule(Promise.resolve(), 'command').then(() => service.execute({ session: SESSION, actor: member(who), requestId: undefined, command: OPS[step.op]!(who) })));
            } else {
              pending.push(scheduler.schedule(Promise.resolve(), step.kind).then(() => {
                if (step.kind === 'drop' && subscribed[index]) {
                  hub.unsubscribe(SESSION, recorder);
                  subscribed[index] = false;
                } else if (step.kind !== 'drop' && !subscribed[index]) {
                  const resume = step.kind === 'resume' && recorder.seq >= 0 ? { stream: recorder.stream, seq: recorder.seq } : undefined;
                  const first = hub.subscribe(SESSION, recorder, resume);
                  if (resume !== undefined) {
                    const head = JSON.parse(first[0]!) as ServerMessage;
                    const missed = hub.snapshot(SESSION).seq - resume.seq;
                    // Within the ring: resumed plus exactly the missed deltas; beyond it: a snapshot saying why.
                    if (missed <= ringMax) expect([head.type, first.length]).toEqual(['resumed', 1 + missed]);
                    else expect(head).toMatchObject({ type: 'snapshot', resumed: false, reason: expect.stringContaining('no longer held') });
                  }
                  for (const text of first) recorder.send(text);
                  subscribed[index] = true;
                }
              }));
            }
          }
          await drain(scheduler, pending);
          await new Promise((resolve) => setImmediate(resolve));
          const truth = byKey(memory.sessionElements(SESSION));
          const texts = new Map<number, string>();
          recorders.forEach((recorder, i) => {
            if (!subscribed[i]) return;
            expect(byKey(recorder.mirror.elements())).toEqual(truth);
            for (const [seq, text] of recorder.seen) {
              if (texts.has(seq)) expect(text).toBe(texts.get(seq));
              texts.set(seq, text);
            }
          });
          hub.close();
          service.close();
        },
      ),
      // Each case builds a node, a service and a hub and runs up to 40 steps: 300 cases keep the suite under a few seconds.
      propertyOptions({ numRuns: Math.min(numRuns, 300) }),
    );
  });
});
