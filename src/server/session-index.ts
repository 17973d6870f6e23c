/** A small index over every session the node holds, kept from the change
 *  feed: title, phase, when created, who is present. It answers the admin
 *  list, the node's session ceiling and the metrics without reading a whole
 *  session. It does not know commands or connections. */

import { unixMsOf } from '../core/clock.ts';
import type { JsonValue } from '../core/value.ts';
import { sessionOfKey } from '../core/keys.ts';
import type { Presence, SessionPhase } from '../conference/model.ts';
import type { Change, StateNode } from './state-node.ts';

export interface SessionSummary {
  readonly id: string;
  readonly title: string;
  readonly phase: SessionPhase;
  readonly createdAtMs: number;
  /** Participants joined or reconnecting. */
  readonly present: number;
}

interface Entry {
  title: string;
  createdAtMs: number;
  phase: SessionPhase;
  /** When the phase became `ended` (the wall-clock time of its element's timestamp). */
  endedAtMs: number;
  created: boolean;
  readonly present: Set<string>;
}

const PRESENT: ReadonlySet<Presence> = new Set<Presence>(['joined', 'reconnecting']);

function field(value: JsonValue | null, name: string): JsonValue | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, JsonValue>)[name] : undefined;
}

export class SessionIndex {
  readonly #sessions = new Map<string, Entry>();
  #live = 0;
  #present = 0;
  readonly #unsubscribe: () => void;

  /** Reads every session the node holds once, then follows its changes. */
  constructor(node: StateNode) {
    this.#unsubscribe = node.onChange((change) => this.apply(change));
    for (const session of node.sessionIds()) {
      for (const element of node.sessionElements(session)) this.apply({ ...element, session });
    }
  }

  close(): void {
    this.#unsubscribe();
  }

  /** Sessions created and not ended. */
  get liveCount(): number {
    return this.#live;
  }

  /** Participants present across all sessions. */
  get presentCount(): number {
    return this.#present;
  }

  /** True when the session has been created (ended or not). */
  exists(session: string): boolean {
    return this.#sessions.get(session)?.created === true;
  }

  /** Ended sessions (still created) whose end is at or before `cutoffMs`, at most `limit`, in no particular order. */
  endedBefore(cutoffMs: number, limit: number): string[] {
    const out: string[] = [];
    for (const [id, e] of this.#sessions) {
      if (out.length >= limit) break;
      if (e.created && e.phase === 'ended' && e.endedAtMs <= cutoffMs) out.push(id);
    }
    return out;
  }

  /** Sessions the index keeps an entry for (created or not yet forgotten). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Created sessions ordered by id, after `after`, at most `limit`. */
  list(after: string | undefined, limit: number): SessionSummary[] {
    const ids = [...this.#sessions.keys()].filter((id) => this.#sessions.get(id)!.created && (after === undefined || id > after)).sort();
    return ids.slice(0, limit).map((id) => {
      const e = this.#sessions.get(id)!;
      return { id, title: e.title, phase: e.phase, createdAtMs: e.createdAtMs, present: e.present.size };
    });
  }

  /** Follows one change (newer-wins ordering is the node's: changes arrive in apply order). */
  apply(change: Change): void {
    const session = change.session ?? sessionOfKey(change.key);
    if (session === undefined) return;
    const rest = change.key.slice(session.length + 3); // after `s/{session}/`
    if (rest !== 'meta' && rest !== 'phase' && !rest.startsWith('p/')) return;
    // A deletion never makes an entry: a purged session's last deletions arrive after its meta's.
    if (change.value === null && !this.#sessions.has(session)) return;
    const entry = this.#entry(session);
    const wasLive = entry.created && entry.phase !== 'ended';
    if (rest === 'meta') {
      entry.created = change.value !== null;
      entry.title = String(field(change.value, 'title') ?? '');
      entry.createdAtMs = Number(field(change.value, 'createdAtMs') ?? 0);
    } else if (rest === 'phase') {
      entry.phase = (field(change.value, 'phase') as SessionPhase | undefined) ?? 'open';
      if (entry.phase === 'ended') entry.endedAtMs = unixMsOf(change.ts);
    } else if (rest.startsWith('p/')) {
      const participant = rest.slice(2);
      const before = entry.present.size;
      if (PRESENT.has(field(change.value, 'presence') as Presence)) entry.present.add(participant);
      else entry.present.delete(participant);
      this.#present += entry.present.size - before;
    }
    const isLive = entry.created && entry.phase !== 'ended';
    this.#live += Number(isLive) - Number(wasLive);
    // Deleted (a purge): forgotten once nothing of it is counted any more.
    if (!entry.created && change.value === null && entry.present.size === 0) this.#sessions.delete(session);
  }

  #entry(session: string): Entry {
    let entry = this.#sessions.get(session);
    if (entry === undefined) {
      entry = { title: '', createdAtMs: 0, phase: 'open', endedAtMs: 0, created: false, present: new Set() };
      this.#sessions.set(session, entry);
    }
    return entry;
  }
}
