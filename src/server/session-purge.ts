/** Removes ended sessions once `endedSessionRetentionMs` has passed since
 *  they ended: without it every session ever held stays in memory (and in
 *  the secondary's) for the life of the pair. Runs on the primary only; the
 *  deletions go through the replicated write path like any command's, so the
 *  secondary follows, and subscribers see the session's elements deleted.
 *  What a purge writes, and in which order, is CommandService.purge's.
 *
 *  - A sweep takes at most `sessionsPerSweep` sessions, one after another, so
 *    a backlog (a restart after a long time) never floods the write path.
 *  - Sweeps never overlap; a failed purge (a lost secondary, a full queue) is
 *    logged and tried again by a later sweep.
 *  - After a purge the session id is free: a `create` of it makes a new
 *    session. The deleted elements are tombstones until collected. */

import type { Refusal } from './errors.ts';
import type { PurgeResult } from './command-service.ts';
import type { SessionIndex } from './session-index.ts';

export interface SessionPurgeDeps {
  readonly index: Pick<SessionIndex, 'endedBefore'>;
  readonly purge: (session: string) => Promise<PurgeResult>;
  readonly isPrimary: () => boolean;
  readonly clock: { nowMs(): number };
  readonly retentionMs: number;
  readonly sessionsPerSweep: number;
}

export interface SweepResult {
  readonly sessions: number;
  readonly elements: number;
  readonly failed: readonly { readonly session: string; readonly error: Refusal }[];
}

/** Sessions one sweep purges at most. */
export const SESSIONS_PER_SWEEP_DEFAULT = 100;

export class SessionPurger {
  #running: Promise<SweepResult> | undefined;

  constructor(readonly deps: SessionPurgeDeps) {}

  /** Purges the sessions that ended at least retentionMs ago (a sweep already running: its result). */
  sweep(): Promise<SweepResult> {
    this.#running ??= this.#sweep().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #sweep(): Promise<SweepResult> {
    const empty: SweepResult = { sessions: 0, elements: 0, failed: [] };
    if (!this.deps.isPrimary()) return empty;
    const due = this.deps.index.endedBefore(this.deps.clock.nowMs() - this.deps.retentionMs, this.deps.sessionsPerSweep);
    let sessions = 0;
    let elements = 0;
    const failed: { session: string; error: Refusal }[] = [];
    for (const session of due) {
      const result = await this.deps.purge(session);
      if (!result.ok) failed.push({ session, error: result.error });
      else if (result.deleted > 0) {
        sessions++;
        elements += result.deleted;
      }
    }
    return { sessions, elements, failed };
  }
}
