/** Commands sent or waiting to be sent that have no definite answer yet: each
 *  keeps the id it was given once, across every resend, until it is answered
 *  or its deadline passes. Bounded. Pure: time comes in as `nowMs`. */

import { assert } from '../core/assert.ts';
import type { Command } from '../conference/model.ts';

export interface PendingCommand {
  readonly id: string;
  readonly session: string;
  readonly command: Command;
  /** When it is answered `timeout` if no definite answer came. */
  readonly deadlineMs: number;
  /** The connection it was last sent on; undefined while it waits to be (re)sent. */
  sentOn: number | undefined;
  /** Set after a transient refusal: not resent before this time. */
  retryAtMs: number | undefined;
  /** Transient refusals so far (the retry backoff's exponent). */
  retries: number;
}

/**
 * The pending commands, in submit order. All share one timeout, so submit
 * order is deadline order and the earliest deadline is the first entry.
 *
 * @example
 * ```ts
 * const pending = new PendingCommands(2);
 * assert.equal(pending.add('c1', 'standup', { type: 'raise_hand' }, 1_000), 'added');
 * assert.equal(pending.add('c2', 'standup', { type: 'lower_hand' }, 1_500), 'added');
 * assert.equal(pending.add('c3', 'standup', { type: 'leave' }, 2_000), 'full');
 * pending.markSent('c1', 7);
 * assert.deepEqual(pending.unsent(0).map((p) => p.id), ['c2']);
 * pending.markAllUnsent(); // the connection dropped: both go again, with their ids
 * assert.deepEqual(pending.unsent(0).map((p) => p.id), ['c1', 'c2']);
 * pending.retryAt('c2', 300); // refused `unavailable`: again at 300
 * assert.deepEqual(pending.unsent(0).map((p) => p.id), ['c1']);
 * assert.equal(pending.earliestRetryMs(), 300);
 * assert.deepEqual(pending.expire(1_200).map((p) => p.id), ['c1']);
 * assert.equal(pending.earliestDeadlineMs(), 1_500);
 * ```
 */
export class PendingCommands {
  /** Map iteration is insertion order: submit order, hence deadline order. */
  readonly #byId = new Map<string, PendingCommand>();
  #lastDeadlineMs = -Infinity;

  constructor(readonly pendingMax: number) {
    assert(Number.isInteger(pendingMax) && pendingMax > 0, `pendingCommandsMax ${pendingMax} must be a positive integer`);
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Adds a command not yet sent; `full` when `pendingMax` are waiting (nothing changes). */
  add(id: string, session: string, command: Command, deadlineMs: number): 'added' | 'full' {
    assert(!this.#byId.has(id), `command id ${id} is already pending`);
    assert(deadlineMs >= this.#lastDeadlineMs, `deadline ${deadlineMs} is before the previous one ${this.#lastDeadlineMs}: time went backwards`);
    if (this.#byId.size >= this.pendingMax) return 'full';
    this.#byId.set(id, { id, session, command, deadlineMs, sentOn: undefined, retryAtMs: undefined, retries: 0 });
    this.#lastDeadlineMs = deadlineMs;
    return 'added';
  }

  get(id: string): PendingCommand | undefined {
    return this.#byId.get(id);
  }

  /** Removes and returns the command (its answer came). */
  take(id: string): PendingCommand | undefined {
    const command = this.#byId.get(id);
    this.#byId.delete(id);
    return command;
  }

  markSent(id: string, connection: number): void {
    const command = this.#byId.get(id);
    if (command !== undefined) command.sentOn = connection;
  }

  /** Marks one command for resending (its server was not the primary). */
  markUnsent(id: string): void {
    const command = this.#byId.get(id);
    if (command !== undefined) command.sentOn = undefined;
  }

  /** Marks one command for resending at `retryAtMs` (it was refused for a reason that passes). */
  retryAt(id: string, retryAtMs: number): void {
    const command = this.#byId.get(id);
    if (command === undefined) return;
    command.sentOn = undefined;
    command.retryAtMs = retryAtMs;
    command.retries++;
  }

  /** The connection is gone: every command goes again on the next one. */
  markAllUnsent(): void {
    for (const command of this.#byId.values()) command.sentOn = undefined;
  }

  /** Commands waiting to be sent and due by `nowMs`, in submit order. */
  unsent(nowMs: number): PendingCommand[] {
    return [...this.#byId.values()].filter((command) => command.sentOn === undefined && (command.retryAtMs === undefined || command.retryAtMs <= nowMs));
  }

  /** The earliest time a command refused for a passing reason is due again. */
  earliestRetryMs(): number | undefined {
    let earliest: number | undefined;
    for (const command of this.#byId.values()) {
      if (command.sentOn === undefined && command.retryAtMs !== undefined && (earliest === undefined || command.retryAtMs < earliest)) earliest = command.retryAtMs;
    }
    return earliest;
  }

  /** Removes and returns the commands whose deadline is at or before `nowMs`. */
  expire(nowMs: number): PendingCommand[] {
    const expired: PendingCommand[] = [];
    for (const command of this.#byId.values()) {
      if (command.deadlineMs > nowMs) break;
      expired.push(command);
    }
    for (const command of expired) this.#byId.delete(command.id);
    return expired;
  }

  earliestDeadlineMs(): number | undefined {
    for (const command of this.#byId.values()) return command.deadlineMs;
    return undefined;
  }

  /** Removes and returns every command (the client is closing). */
  drain(): PendingCommand[] {
    const all = [...this.#byId.values()];
    this.#byId.clear();
    return all;
  }
}
