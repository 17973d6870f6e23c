/** The conference command path in one process, without sockets or the
 *  WebSocket layer: CommandService → replicated dedupe → LocalNode → Primary →
 *  in-memory link (test/support/pair-harness.ts) → Secondary → acknowledgement
 *  → change feed, on both nodes. What `bench/api` measures minus transport, so
 *  a change to the domain, dedupe or write path shows here without the
 *  machine's socket and scheduling noise. Part of bench/core. */

import { performance } from 'node:perf_hooks';
import { planCommand } from '../src/conference/commands.ts';
import { SessionMirror } from '../src/conference/mirror.ts';
import type { Actor, Command } from '../src/conference/model.ts';
import { type CommandRequest, CommandService } from '../src/server/command-service.ts';
import { MemoryCommandDedupe } from '../src/server/dedupe.ts';
import { ReplicatedCommandDedupe } from '../src/server/replicated-dedupe.ts';
import { SessionIndex } from '../src/server/session-index.ts';
import type { StateNode } from '../src/server/state-node.ts';
import { pairLocalNodes } from '../test/support/local-nodes.ts';
import { Pair } from '../test/support/pair-harness.ts';

const SESSIONS = 16;
const PER_SESSION = 4;
/** The limits of a production node (server/config.ts defaults), so the dedupe window and marker slots fill as they would. */
const DEDUPE = { entriesMax: 100_000, ttlMs: 5 * 60_000, slots: 65_536 };
/** Each client's commands in turn: every one writes (as bench/api's load generator sends them). */
const CYCLE: readonly ((self: string) => Command)[] = [
  (p) => ({ type: 'mute', participant: p }),
  () => ({ type: 'raise_hand' }),
  (p) => ({ type: 'unmute', participant: p }),
  () => ({ type: 'lower_hand' }),
];

function service(node: StateNode, clock: { nowMs(): number }): CommandService {
  const dedupe = new ReplicatedCommandDedupe(new MemoryCommandDedupe(DEDUPE, clock), node, DEDUPE, clock);
  return new CommandService(node, planCommand, dedupe, new SessionIndex(node), { sessionsMax: 10_000, mirrorsMax: 10_000, sessionQueueLengthMax: 1_000 }, clock);
}

/**
 * Commands/s of SESSIONS × PER_SESSION participants each sending one command
 * per round, all answered before the next round (a closed loop of 64, like
 * bench/api at 64 clients). With `requestIds` every command carries an id, so
 * the idempotency marker is written and learned on both nodes; without, none.
 */
export async function benchCommandPath(requestIds: boolean, rounds = 500): Promise<number> {
  const pair = new Pair({ seed: 1 });
  pair.run();
  const nodes = pairLocalNodes(pair);
  const clock = { nowMs: () => Date.now() };
  const primary = service(nodes.primary, clock);
  // The secondary follows the feed as a standby server would (mirrors, dedupe index, session index).
  const secondary = service(nodes.secondary, clock);
  const settle = async <T>(work: Promise<T>): Promise<T> => {
    for (let i = 0; i < 6; i++) {
      pair.run();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return work;
  };
  const run = async (request: CommandRequest): Promise<void> => {
    const result = await settle(primary.execute(request));
    if (!result.ok) throw new Error(`bench setup: ${JSON.stringify(result)}`);
  };
  const participant = (id: string): Actor => ({ kind: 'participant', id, tokenRole: 'participant' });
  for (let s = 0; s < SESSIONS; s++) {
    await run({ session: `b-${s}`, actor: { kind: 'service', id: 'bench', tokenRole: 'host' }, requestId: undefined, command: { type: 'create', settings: { lobby: false } } });
    for (let c = 0; c < PER_SESSION; c++) await run({ session: `b-${s}`, actor: participant(`c${s * PER_SESSION + c}`), requestId: undefined, command: { type: 'join', name: `c${c}` } });
  }
  let step = 0;
  const round = async (): Promise<void> => {
    const pending: Promise<{ ok: boolean }>[] = [];
    for (let i = 0; i < SESSIONS * PER_SESSION; i++) {
      const id = `c${i}`;
      pending.push(primary.execute({ session: `b-${Math.floor(i / PER_SESSION)}`, actor: participant(id), requestId: requestIds ? `r${step}` : undefined, command: CYCLE[step % CYCLE.length]!(id) }));
    }
    step++;
    for (const result of await settle(Promise.all(pending))) if (!result.ok) throw new Error('bench: a command failed');
  };
  for (let i = 0; i < 100; i++) await round();
  const start = performance.now();
  for (let i = 0; i < rounds; i++) await round();
  const seconds = (performance.now() - start) / 1000;
  primary.close();
  secondary.close();
  return (rounds * SESSIONS * PER_SESSION) / seconds;
}

/**
 * The domain's share of a command, alone: plan it against the session's view,
 * apply its updates to the mirror, derive the view again — what CommandService
 * does per command beside the write. `participants` joined members, one of
 * them sending the CYCLE in turn; commands/s on one thread.
 */
export function benchPlanAndView(participants: number, commands = 400_000): number {
  const mirror = new SessionMirror('bench');
  let ts = 1;
  const run = (actor: Actor, command: Command): void => {
    const plan = planCommand(mirror.view(), 'bench', actor, command, 1_000_000);
    if (!plan.ok) throw new Error(`bench setup: ${JSON.stringify(plan)}`);
    for (const update of plan.updates) mirror.apply({ key: update.key, ts: ts++, value: update.value });
  };
  run({ kind: 'service', id: 'bench', tokenRole: 'host' }, { type: 'create', settings: { lobby: false, maxParticipants: Math.max(participants, 10) } });
  for (let i = 0; i < participants; i++) run({ kind: 'participant', id: `p${i}`, tokenRole: 'participant' }, { type: 'join', name: `p${i}` });
  const senders = Math.min(participants, 4);
  const actors: Actor[] = Array.from({ length: senders }, (_, i) => ({ kind: 'participant', id: `p${i}`, tokenRole: 'participant' }));
  const step = (i: number): void => run(actors[i % senders]!, CYCLE[Math.floor(i / senders) % CYCLE.length]!(`p${i % senders}`));
  for (let i = 0; i < commands / 4; i++) step(i);
  const start = performance.now();
  for (let i = 0; i < commands; i++) step(i);
  return commands / ((performance.now() - start) / 1000);
}
