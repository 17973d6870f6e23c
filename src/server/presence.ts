/** Presence from connections: counts each participant's connections that
 *  follow a session, and when the last one goes marks the participant
 *  `reconnecting`, then `left` if none comes back within the grace period;
 *  one coming back while `reconnecting` marks it `joined` again. It does not
 *  know sockets: the gateway calls attach / detach; the writes are commands.
 *
 *  Each participant's changes run one after another and re-read the state
 *  when they run, so a quick drop-and-return converges to the right presence. */

import type { Presence, SessionView } from '../conference/model.ts';

export interface PresenceDeps {
  readonly graceMs: number;
  /** The participant's presence now, if a member. */
  presenceOf(session: string, participant: string): Presence | undefined;
  /** Sends the server's `set_presence` command; resolves when answered (refusals are the caller's to log). */
  setPresence(session: string, participant: string, presence: 'joined' | 'reconnecting' | 'left'): Promise<void>;
  /** Only a primary writes. */
  isPrimary(): boolean;
}

export class PresenceTracker {
  readonly #connections = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #chains = new Map<string, Promise<void>>();
  #closed = false;

  constructor(readonly deps: PresenceDeps) {}

  /** A connection of `participant` now follows `session`. */
  attach(session: string, participant: string): void {
    const key = keyOf(session, participant);
    this.#connections.set(key, (this.#connections.get(key) ?? 0) + 1);
    const timer = this.#timers.get(key);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#timers.delete(key);
    }
    this.#reconcile(session, participant, false);
  }

  /** A connection of `participant` stopped following `session` (unsubscribed or closed). */
  detach(session: string, participant: string): void {
    const key = keyOf(session, participant);
    const count = (this.#connections.get(key) ?? 0) - 1;
    if (count > 0) {
      this.#connections.set(key, count);
      return;
    }
    this.#connections.delete(key);
    this.#reconcile(session, participant, false);
    if (this.#closed || this.#timers.has(key)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.#reconcile(session, participant, true);
    }, this.deps.graceMs);
    timer.unref();
    this.#timers.set(key, timer);
  }

  /**
   * This node just became primary: members the old primary counted as
   * connected may have gone with it. Each present member with no connection
   * here is treated as if its last connection had just closed: `reconnecting`
   * now, `left` unless one comes back within the grace period.
   */
  sweep(members: Iterable<{ readonly session: string; readonly participant: string }>): number {
    let swept = 0;
    for (const { session, participant } of members) {
      const key = keyOf(session, participant);
      if ((this.#connections.get(key) ?? 0) > 0 || this.#timers.has(key)) continue;
      // A detach from a count of one: the same path as a closed connection.
      this.#connections.set(key, 1);
      this.detach(session, participant);
      swept++;
    }
    return swept;
  }

  /** Participants in their grace period. */
  get graceCount(): number {
    return this.#timers.size;
  }

  /** Stops all timers and writes nothing more (the server is closing: clients will resume elsewhere). */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  /** Resolves when every queued presence change has run (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }

  #reconcile(session: string, participant: string, graceOver: boolean): void {
    const key = keyOf(session, participant);
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.#step(session, participant, graceOver));
    this.#chains.set(key, next);
    void next.finally(() => {
      if (this.#chains.get(key) === next) this.#chains.delete(key);
    });
  }

  async #step(session: string, participant: string, graceOver: boolean): Promise<void> {
    if (this.#closed || !this.deps.isPrimary()) return;
    const connected = (this.#connections.get(keyOf(session, participant)) ?? 0) > 0;
    const presence = this.deps.presenceOf(session, participant);
    if (connected && presence === 'reconnecting') await this.deps.setPresence(session, participant, 'joined');
    else if (!connected && presence === 'joined') await this.deps.setPresence(session, participant, 'reconnecting');
    else if (!connected && graceOver && presence === 'reconnecting') await this.deps.setPresence(session, participant, 'left');
  }
}

function keyOf(session: string, participant: string): string {
  return `${session}\u0000${participant}`;
}

/** Helper for deps: a participant's presence in a view. */
export function presenceIn(view: SessionView | undefined, participant: string): Presence | undefined {
  return view?.participants.find((p) => p.id === participant)?.presence;
}
