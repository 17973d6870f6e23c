/** Runs conference commands for REST and WebSocket alike: checks them
 *  against a mirror of the session (kept from the node's change feed), turns
 *  them into element updates with the domain's planner, writes those through
 *  the node, and answers once every update is applied — or says which failed.
 *  It does not know the permission rules (the planner does) or transports.
 *
 *  - Commands that change membership, roles or the session's rules run one at
 *    a time per session, each planned against the state the previous one
 *    left, so `maxParticipants` is exact on one primary. Track, hand and mute
 *    commands of different participants run concurrently.
 *  - A command with a request id is run once per (session, actor, id) within
 *    the dedupe window; a retry gets the first outcome with `duplicate: true`.
 *    Its updates are written with the dedupe's write options, which record
 *    the command in the same turn's replicate frame (one round trip for both). */

import { performance } from 'node:perf_hooks';
import { SessionMirror } from '../conference/mirror.ts';
import { type Actor, type Command, type CommandType, type ElementUpdate, type Plan, type SessionView, keys } from '../conference/model.ts';
import type { CommandDedupe } from './dedupe.ts';
import { type ErrorCode, type Refusal, isErrorCode, refusal } from './errors.ts';
import type { SessionIndex } from './session-index.ts';
import type { StateNode, WriteOptions, WriteOutcome } from './state-node.ts';

/** The domain's planner (conference/commands.ts planCommand), injected so this file knows no rules. */
export type Planner = (view: SessionView | undefined, session: string, actor: Actor, command: Command, nowMs: number) => Plan;

export interface CommandRequest {
  readonly session: string;
  readonly actor: Actor;
  /** The client's id for this command; undefined: not deduplicated (the server's own commands). */
  readonly requestId: string | undefined;
  readonly command: Command;
}

export interface FailedUpdate {
  readonly key: string;
  readonly code: string;
}

/** What purging one ended session did: elements deleted, or why it stopped. */
export type PurgeResult = { readonly ok: true; readonly deleted: number } | { readonly ok: false; readonly error: Refusal };

export type CommandResult =
  | { readonly ok: true; readonly duplicate: boolean }
  | { readonly ok: false; readonly duplicate: boolean; readonly error: Refusal; readonly failed?: readonly FailedUpdate[] };

/** What the metrics want to know of each command and write. */
export interface CommandObserver {
  commandDone(type: CommandType, outcome: string): void;
  writeDone(durationS: number, appliedCount: number): void;
}

export interface CommandServiceLimits {
  readonly sessionsMax: number;
  readonly mirrorsMax: number;
  readonly sessionQueueLengthMax: number;
}

/** Commands that change who is in the session, their roles, or the rules a join is checked against. */
const SERIALIZED: ReadonlySet<CommandType> = new Set<CommandType>([
  'create', 'open', 'join', 'admit', 'deny', 'leave', 'kick', 'set_role', 'lock', 'unlock', 'update_settings', 'set_presence', 'end',
]);

/** Writes without an idempotency record: commands with no request id. */
const NO_MARKER: WriteOptions = {};

/** Outcomes a retry should run again rather than be told again. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['stale', 'queue_full', 'unavailable', 'not_primary', 'internal']);

const refused = (error: Refusal): CommandResult => ({ ok: false, duplicate: false, error });

/** The outcome of every command that succeeded, one shared object: the dedupe window keeps outcomes for minutes. */
export const DONE: CommandResult = Object.freeze({ ok: true, duplicate: false });

/** Create commands of all sessions share one turn, so the node's session ceiling is exact too. */
const CREATE_TURN = '\u0000create';

export class CommandService {
  readonly #mirrors = new Map<string, SessionMirror>();
  readonly #turns = new Map<string, { tail: Promise<void>; length: number }>();
  readonly #unsubscribe: () => void;

  constructor(
    readonly node: StateNode,
    readonly planner: Planner,
    readonly dedupe: CommandDedupe<CommandResult>,
    readonly index: SessionIndex,
    readonly limits: CommandServiceLimits,
    readonly clock: { nowMs(): number },
    readonly observer: CommandObserver | undefined = undefined,
  ) {
    this.#unsubscribe = node.onChange((change) => {
      if (change.session !== undefined) this.#mirrors.get(change.session)?.apply(change);
    });
  }

  close(): void {
    this.#unsubscribe();
  }

  /** The session as commands see it; undefined if it was never created. */
  view(session: string): SessionView | undefined {
    return this.#mirror(session).view();
  }

  /** Runs one command. Never rejects for an expected refusal; a planner bug rejects. */
  async execute(request: CommandRequest): Promise<CommandResult> {
    if (request.requestId === undefined) return this.#observe(request, await this.#executeOnce(request, NO_MARKER));
    const key = `${request.session}\u0000${request.actor.kind}:${request.actor.id}\u0000${request.requestId}`;
    const execute = (writeOptions: WriteOptions): Promise<CommandResult> => this.#executeOnce(request, writeOptions);
    const answer = await this.dedupe.run(key, JSON.stringify(request.command), execute, (r) => r.ok || !TRANSIENT.has(r.error.code));
    if (answer.kind === 'conflict') {
      const error = refusal('idempotency_conflict', `command id ${JSON.stringify(request.requestId)} was used before with a different command`);
      return this.#observe(request, { ok: false, duplicate: false, error });
    }
    const result = answer.kind === 'duplicate' ? { ...answer.outcome, duplicate: true } : answer.outcome;
    return this.#observe(request, result);
  }

  /**
   * Deletes every element of an ended session (see session-purge.ts). It runs
   * in the session's turn, so a create of the same id waits until it is done,
   * and only if the session is still ended then. Order: everything but meta
   * and phase; then meta — from here on the session does not exist, and
   * commands for it answer not_found; then phase (deleted before meta, it
   * would make the session look open for a moment). Deleted: how many
   * elements; a failed write stops it (the next sweep plans again from what
   * is left).
   */
  async purge(session: string): Promise<PurgeResult> {
    return this.#inTurn<PurgeResult>(session, (error) => ({ ok: false, error }), async () => {
      const info = this.node.nodeInfo();
      if (info.role !== 'primary') return { ok: false, error: refusal('not_primary', `this node (${info.nodeId}) is a secondary`, info.primaryUrl) };
      if (this.#mirror(session).view()?.phase !== 'ended') return { ok: true, deleted: 0 };
      const metaKey = keys.meta(session);
      const phaseKey = keys.phase(session);
      const rest: ElementUpdate[] = [];
      for (const element of this.node.sessionElements(session)) {
        if (element.key !== metaKey && element.key !== phaseKey) rest.push({ key: element.key, value: null });
      }
      let deleted = 0;
      for (const step of [rest, [{ key: metaKey, value: null }], [{ key: phaseKey, value: null }]]) {
        if (step.length === 0) continue;
        const outcomes = await this.node.write(step);
        const failed = outcomes.filter((o) => o.code !== 'applied');
        deleted += outcomes.length - failed.length;
        if (failed.length > 0) return { ok: false, error: this.#describeFailures(failed, outcomes.length) };
      }
      return { ok: true, deleted };
    });
  }

  #observe(request: CommandRequest, result: CommandResult): CommandResult {
    this.observer?.commandDone(request.command.type, result.ok ? (result.duplicate ? 'duplicate' : 'ok') : result.error.code);
    return result;
  }

  /** `writeOptions` carries the dedupe's `onAssigned`: it records the command in the same turn as its updates. */
  async #executeOnce(request: CommandRequest, writeOptions: WriteOptions): Promise<CommandResult> {
    const info = this.node.nodeInfo();
    if (info.role !== 'primary') {
      return { ok: false, duplicate: false, error: refusal('not_primary', `this node (${info.nodeId}) is a secondary; send writes to the primary`, info.primaryUrl) };
    }
    const type = request.command.type;
    if (!SERIALIZED.has(type)) return this.#run(request, writeOptions);
    // The session's turn is taken first (synchronously, in arrival order), so a join sent after a create runs after it.
    if (type === 'create') return this.#inTurn(request.session, refused, () => this.#inTurn(CREATE_TURN, refused, () => this.#run(request, writeOptions)));
    return this.#inTurn(request.session, refused, () => this.#run(request, writeOptions));
  }

  /** Runs `work` after every earlier work of the same turn; refuses (with `full`'s result) beyond the queue limit. */
  async #inTurn<T>(turn: string, full: (error: Refusal) => T, work: () => Promise<T>): Promise<T> {
    let queue = this.#turns.get(turn);
    if (queue === undefined) this.#turns.set(turn, (queue = { tail: Promise.resolve(), length: 0 }));
    if (queue.length >= this.limits.sessionQueueLengthMax) {
      const error = refusal('queue_full', `${queue.length} membership commands are waiting for ${turn === CREATE_TURN ? 'session creation' : `session ${turn}`}; the limit is ${this.limits.sessionQueueLengthMax}`);
      return full(error);
    }
    queue.length++;
    const previous = queue.tail;
    let release!: () => void;
    queue.tail = new Promise<void>((resolve) => (release = resolve));
    try {
      await previous;
      return await work();
    } finally {
      release();
      if (--queue.length === 0) this.#turns.delete(turn);
    }
  }

  async #run(request: CommandRequest, writeOptions: WriteOptions): Promise<CommandResult> {
    const { session, actor, command } = request;
    const mirror = this.#mirror(session);
    const view = mirror.view();
    if (command.type === 'create' && view === undefined && this.index.liveCount >= this.limits.sessionsMax) {
      const error = refusal('too_many_sessions', `this node holds ${this.index.liveCount} sessions; the limit is ${this.limits.sessionsMax}`);
      return { ok: false, duplicate: false, error };
    }
    const plan = this.planner(view, session, actor, command, this.clock.nowMs());
    if (!plan.ok) return { ok: false, duplicate: false, error: refusal(plan.error.code, plan.error.message) };
    // Done at once: the dedupe writes the record of a command that wrote nothing after it (replicated-dedupe.ts).
    if (plan.updates.length === 0) return DONE;
    const startedMs = performance.now();
    const outcomes = await this.node.write(plan.updates, writeOptions);
    const failed: WriteOutcome[] = [];
    let applied = 0;
    outcomes.forEach((outcome, i) => {
      if (outcome.code !== 'applied') failed.push(outcome);
      else {
        applied++;
        // The change feed applies it too; doing it here makes the next command of this turn see it regardless.
        mirror.apply({ key: outcome.key, ts: outcome.ts, value: plan.updates[i]!.value });
      }
    });
    this.observer?.writeDone((performance.now() - startedMs) / 1000, applied);
    if (failed.length === 0) return DONE;
    return { ok: false, duplicate: false, error: this.#describeFailures(failed, outcomes.length), failed: failed.map((f) => ({ key: f.key, code: f.code })) };
  }

  #describeFailures(failed: readonly WriteOutcome[], total: number): Refusal {
    const first = failed[0]!;
    const code: ErrorCode = isErrorCode(first.code) ? first.code : 'internal';
    const details = failed.map((f) => `${f.key}: ${f.code}${'message' in f ? ` (${f.message})` : ''}`).join('; ');
    const message = `${failed.length} of ${total} updates failed: ${details}`;
    return code === 'not_primary' ? refusal(code, message, this.node.nodeInfo().primaryUrl) : refusal(code, message);
  }

  /** The session's mirror, loaded from the node on first use; least recently used ones are dropped past the limit. */
  #mirror(session: string): SessionMirror {
    let mirror = this.#mirrors.get(session);
    if (mirror !== undefined) {
      this.#mirrors.delete(session);
      this.#mirrors.set(session, mirror);
      return mirror;
    }
    mirror = new SessionMirror(session);
    mirror.load(this.node.sessionElements(session));
    this.#mirrors.set(session, mirror);
    if (this.#mirrors.size > this.limits.mirrorsMax) this.#mirrors.delete(this.#mirrors.keys().next().value!);
    return mirror;
  }
}
