/** A session's elements held by key, newer timestamp wins, and the typed view
 *  derived from them. The server keeps one per live session to check commands
 *  against; the SDK keeps one per subscription as its local copy. Applying the
 *  same changes in any order, any number of times, gives the same view. Pure. */

import type { JsonValue } from '../core/value.ts';
import {
  DEFAULT_SETTINGS,
  type ElementState,
  type MetaValue,
  type ParticipantValue,
  type ParticipantView,
  type PhaseValue,
  type RecordingValue,
  type Role,
  type RoleValue,
  type SessionSettings,
  type SessionView,
  TRACK_KINDS,
  type TrackKind,
  type TrackValue,
  type TrackView,
} from './model.ts';

const NO_RECORDING: RecordingValue = { active: false, by: '', sinceMs: null };

/** The parts of a key after `s/{session}/`: `['p', pid]`, `['track', pid, 'audio']`, … */
function keyParts(key: string, prefix: string): string[] | undefined {
  return key.startsWith(prefix) ? key.slice(prefix.length).split('/') : undefined;
}

function isObject(value: JsonValue | null): value is { readonly [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What the elements of one participant say, kept up to date change by change. */
interface Person {
  value: ParticipantValue | undefined;
  role: Role | undefined;
  /** Replaced (never mutated) when a track changes, so a view handed out earlier stays as it was. */
  tracks: Partial<Record<TrackKind, TrackView>>;
  handTs: number | undefined;
}

/** The session-level part of a view (everything but participants and hands). */
type Head = Omit<SessionView, 'participants' | 'hands'>;

/** Earlier raised first; the id breaks a tie so every mirror orders alike whatever the arrival order. */
function byHandThenId(a: [string, number], b: [string, number]): number {
  return a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

/**
 * The view is derived incrementally: each change updates the one participant
 * (or the session-level head) it belongs to, and `view()` rebuilds only the
 * participant views that changed, re-sorting only when membership, a join
 * time or a hand changed. A change costs O(1) plus an O(participants) copy of
 * pointers, instead of re-reading every element of the session (a command in a
 * 1,000-participant session used to cost milliseconds here).
 */
export class SessionMirror {
  readonly #prefix: string;
  /** Live elements and tombstones (value null): a tombstone's ts still decides newer-wins. */
  readonly #elements = new Map<string, ElementState>();
  readonly #people = new Map<string, Person>();
  /** Participant views handed out, valid unless the id is in #changedPeople. */
  readonly #participantViews = new Map<string, ParticipantView>();
  readonly #changedPeople = new Set<string>();
  #head: Head | undefined = undefined;
  #headChanged = true;
  #handsChanged = true;
  #orderChanged = true;
  /** The listed participants' views, by joinedAtMs then id; copied into each view, patched in place between. */
  #listed: ParticipantView[] = [];
  /** Index in #listed by id. */
  readonly #positions = new Map<string, number>();
  #hands: readonly string[] = [];
  readonly #handPositions = new Map<string, number>();
  /** Members with a raised hand: id → the hand element's ts. */
  readonly #raised = new Map<string, number>();
  #view: SessionView | undefined = undefined;

  constructor(readonly session: string) {
    this.#prefix = `s/${session}/`;
  }

  /**
   * Applies a change if it is newer than what the mirror holds for its key —
   * or a deletion at the very timestamp of a live value (what `reconcile`
   * tells when a snapshot lacks a key; the server never issues two writes
   * with one timestamp, so this tie never arises otherwise, and it keeps the
   * rule order-free). Returns true when it changed something.
   */
  apply(change: ElementState): boolean {
    if (!change.key.startsWith(this.#prefix)) return false;
    const held = this.#elements.get(change.key);
    if (held !== undefined && (held.ts > change.ts || (held.ts === change.ts && (change.value !== null || held.value === null)))) return false;
    this.#elements.set(change.key, { key: change.key, ts: change.ts, value: change.value });
    this.#follow(change);
    return true;
  }

  /** Replaces everything with a snapshot. Returns the elements it holds now (each key once). */
  load(elements: readonly ElementState[]): ElementState[] {
    this.#elements.clear();
    this.#people.clear();
    this.#participantViews.clear();
    this.#changedPeople.clear();
    this.#headChanged = this.#handsChanged = this.#orderChanged = true;
    this.#hands = [];
    this.#handPositions.clear();
    this.#raised.clear();
    this.#listed = [];
    this.#positions.clear();
    for (const element of elements) this.apply(element);
    return this.elements();
  }

  /**
   * Brings the mirror to a snapshot without starting over: per key the newer
   * timestamp wins, and a live key the snapshot lacks is deleted (a deletion
   * at the timestamp held: a snapshot does not say when the deletion
   * happened, and `apply` lets a deletion win that tie). Returns the changes
   * that took effect — nothing for a mirror that already equals the snapshot —
   * so a listener sees only real differences.
   */
  reconcile(elements: readonly ElementState[]): ElementState[] {
    const changes: ElementState[] = [];
    const present = new Set<string>();
    for (const element of elements) {
      present.add(element.key);
      if (this.apply(element)) changes.push(this.#elements.get(element.key)!);
    }
    for (const held of [...this.#elements.values()]) {
      if (held.value === null || present.has(held.key)) continue;
      const removal: ElementState = { key: held.key, ts: held.ts, value: null };
      this.apply(removal);
      changes.push(removal);
    }
    return changes;
  }

  /** The timestamp held for `key`, 0 if none. */
  tsOf(key: string): number {
    return this.#elements.get(key)?.ts ?? 0;
  }

  /** The value held for `key`, null if none or deleted. */
  valueOf(key: string): JsonValue | null {
    return this.#elements.get(key)?.value ?? null;
  }

  /** Live elements (tombstones left out), in no particular order. */
  elements(): ElementState[] {
    const out: ElementState[] = [];
    for (const element of this.#elements.values()) if (element.value !== null) out.push(element);
    return out;
  }

  /**
   * The session's view; undefined until its `meta` element exists (never
   * created, or not loaded yet). The same object until something changes;
   * after a change, participants that did not change keep their objects.
   */
  view(): SessionView | undefined {
    if (!this.#headChanged && !this.#handsChanged && !this.#orderChanged && this.#changedPeople.size === 0) return this.#view;
    if (this.#headChanged) {
      this.#head = this.#deriveHead();
      this.#headChanged = false;
    }
    if (this.#handsChanged) this.#deriveHands();
    for (const id of this.#changedPeople) {
      this.#deriveParticipant(id);
      // Membership changes set #orderChanged (the list is rebuilt below); otherwise a listed participant is patched where it stands.
      const position = this.#orderChanged ? undefined : this.#positions.get(id);
      if (position !== undefined) this.#listed[position] = this.#participantViews.get(id)!;
    }
    this.#changedPeople.clear();
    if (this.#orderChanged) {
      this.#listed = [...this.#participantViews.values()].sort((a, b) => a.joinedAtMs - b.joinedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.#positions.clear();
      this.#listed.forEach((p, i) => this.#positions.set(p.id, i));
      this.#orderChanged = false;
    }
    const head = this.#head;
    if (head === undefined) return (this.#view = undefined);
    // A copy: the view handed out must not change when #listed is patched for the next one.
    const participants = this.#listed.slice();
    // Field by field, not `{ ...head, … }`: the spread took a slow path that cost more than the rest of a command's view.
    this.#view = {
      id: head.id,
      title: head.title,
      organizer: head.organizer,
      createdAtMs: head.createdAtMs,
      scheduledAtMs: head.scheduledAtMs,
      phase: head.phase,
      settings: head.settings,
      recording: head.recording,
      engine: head.engine,
      participants,
      hands: this.#hands,
    };
    return this.#view;
  }

  /** Folds one applied change into the participant or head it belongs to. */
  #follow(change: ElementState): void {
    const parts = keyParts(change.key, this.#prefix)!;
    if (parts.length === 1) {
      this.#headChanged = true;
      return;
    }
    const [kind, id] = parts as [string, string];
    const value = change.value;
    if (kind === 'p' && parts.length === 2) {
      const person = this.#person(id);
      const next = value === null ? undefined : (value as unknown as ParticipantValue);
      // Membership and join time decide the order (and who may hold a hand); presence or name alone do not.
      if ((person.value === undefined) !== (next === undefined) || person.value?.joinedAtMs !== next?.joinedAtMs) this.#orderChanged = true;
      if ((person.value === undefined) !== (next === undefined) && person.handTs !== undefined) this.#handsChanged = true;
      person.value = next;
      this.#trackRaised(id, person);
    } else if (kind === 'role' && parts.length === 2) {
      this.#person(id).role = value === null ? undefined : (value as unknown as RoleValue).role;
    } else if (kind === 'hand' && parts.length === 2) {
      const person = this.#person(id);
      person.handTs = value === null ? undefined : change.ts;
      this.#trackRaised(id, person);
      this.#handsChanged = true;
    } else if (kind === 'track' && parts.length === 3 && TRACK_KINDS.includes(parts[2] as TrackKind)) {
      const trackKind = parts[2] as TrackKind;
      const person = this.#person(id);
      const t = value as unknown as TrackValue | null;
      const changed: TrackView | undefined = t === null ? undefined : { kind: trackKind, published: t.published, muted: t.muted, mutedBy: t.mutedBy };
      // Copied kind by kind in one order (not spread, not `delete`): the objects then share a few shapes, which a spread's slow path did not care for.
      const tracks: Partial<Record<TrackKind, TrackView>> = {};
      for (const k of TRACK_KINDS) {
        const track = k === trackKind ? changed : person.tracks[k];
        if (track !== undefined) tracks[k] = track;
      }
      person.tracks = tracks;
    } else return;
    this.#changedPeople.add(id);
  }

  /** Keeps #raised to the members with a hand element, so the queue is sorted from those alone. */
  #trackRaised(id: string, person: Person): void {
    if (person.handTs !== undefined && person.value !== undefined) this.#raised.set(id, person.handTs);
    else this.#raised.delete(id);
  }

  #person(id: string): Person {
    let person = this.#people.get(id);
    if (person === undefined) this.#people.set(id, (person = { value: undefined, role: undefined, tracks: {}, handTs: undefined }));
    return person;
  }

  #deriveHead(): Head | undefined {
    const meta = this.valueOf(`${this.#prefix}meta`);
    if (!isObject(meta)) return undefined;
    const m = meta as unknown as MetaValue;
    const settingsValue = this.valueOf(`${this.#prefix}settings`);
    const settings: SessionSettings = isObject(settingsValue) ? { ...DEFAULT_SETTINGS, ...(settingsValue as unknown as Partial<SessionSettings>) } : DEFAULT_SETTINGS;
    const phase = this.valueOf(`${this.#prefix}phase`) as unknown as PhaseValue | null;
    const recording = this.valueOf(`${this.#prefix}recording`) as unknown as RecordingValue | null;
    const engine = this.valueOf(`${this.#prefix}engine`);
    return {
      id: this.session,
      title: m.title,
      organizer: m.organizer,
      createdAtMs: m.createdAtMs,
      scheduledAtMs: m.scheduledAtMs,
      phase: phase?.phase ?? 'open',
      settings,
      recording: recording ?? NO_RECORDING,
      engine: isObject(engine) ? ((engine['engine'] as string | null) ?? null) : null,
    };
  }

  /** The hands queue: members with a hand element, by its ts. Whoever gains, loses or moves a position gets a new view. */
  #deriveHands(): void {
    const hands = [...this.#raised].sort(byHandThenId).map(([id]) => id);
    const longest = Math.max(hands.length, this.#hands.length);
    for (let i = 0; i < longest; i++) {
      if (hands[i] === this.#hands[i]) continue;
      if (hands[i] !== undefined) this.#changedPeople.add(hands[i]!);
      if (this.#hands[i] !== undefined) this.#changedPeople.add(this.#hands[i]!);
    }
    this.#hands = hands;
    this.#handPositions.clear();
    hands.forEach((id, position) => this.#handPositions.set(id, position));
    this.#handsChanged = false;
  }

  #deriveParticipant(id: string): void {
    const p = this.#people.get(id);
    if (p?.value === undefined) {
      // Tracks or a role written before the participant element arrived (or after it was deleted): not listed.
      this.#participantViews.delete(id);
      return;
    }
    this.#participantViews.set(id, {
      id,
      name: p.value.name,
      role: p.role ?? 'participant',
      roleStored: p.role !== undefined,
      presence: p.value.presence,
      joinedAtMs: p.value.joinedAtMs,
      tracks: p.tracks,
      handPosition: this.#handPositions.get(id) ?? null,
    });
  }
}

/** Helper for a view: one participant by id. */
export function participantOf(view: SessionView, id: string): ParticipantView | undefined {
  return view.participants.find((p) => p.id === id);
}
