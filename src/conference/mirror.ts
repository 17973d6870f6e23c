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

export class SessionMirror {
  readonly #prefix: string;
  /** Live elements and tombstones (value null): a tombstone's ts still decides newer-wins. */
  readonly #elements = new Map<string, ElementState>();
  #view: SessionView | undefined = undefined;
  #dirty = true;

  constructor(readonly session: string) {
    this.#prefix = `s/${session}/`;
  }

  /** Applies a change if it is newer than what the mirror holds for its key. Returns true when it changed something. */
  apply(change: ElementState): boolean {
    if (!change.key.startsWith(this.#prefix)) return false;
    const held = this.#elements.get(change.key);
    if (held !== undefined && held.ts >= change.ts) return false;
    this.#elements.set(change.key, { key: change.key, ts: change.ts, value: change.value });
    this.#dirty = true;
    return true;
  }

  /** Replaces everything with a snapshot. */
  load(elements: readonly ElementState[]): void {
    this.#elements.clear();
    for (const element of elements) this.apply(element);
    this.#dirty = true;
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

  /** The session's view; undefined until its `meta` element exists (never created, or not loaded yet). */
  view(): SessionView | undefined {
    if (this.#dirty) {
      this.#view = this.#derive();
      this.#dirty = false;
    }
    return this.#view;
  }

  #derive(): SessionView | undefined {
    const meta = this.valueOf(`${this.#prefix}meta`);
    if (!isObject(meta)) return undefined;
    const m = meta as unknown as MetaValue;
    const settingsValue = this.valueOf(`${this.#prefix}settings`);
    const settings: SessionSettings = isObject(settingsValue) ? { ...DEFAULT_SETTINGS, ...(settingsValue as unknown as Partial<SessionSettings>) } : DEFAULT_SETTINGS;
    const phase = this.valueOf(`${this.#prefix}phase`) as unknown as PhaseValue | null;
    const recording = this.valueOf(`${this.#prefix}recording`) as unknown as RecordingValue | null;
    const engine = this.valueOf(`${this.#prefix}engine`);

    const people = new Map<string, { value?: ParticipantValue; role?: Role; tracks: Partial<Record<TrackKind, TrackView>>; handTs?: number }>();
    const person = (id: string) => {
      let p = people.get(id);
      if (p === undefined) people.set(id, (p = { tracks: {} }));
      return p;
    };
    for (const element of this.#elements.values()) {
      if (element.value === null) continue;
      const parts = keyParts(element.key, this.#prefix);
      if (parts === undefined || parts.length < 2) continue;
      const [kind, id] = parts as [string, string];
      if (kind === 'p' && parts.length === 2) person(id).value = element.value as unknown as ParticipantValue;
      else if (kind === 'role' && parts.length === 2) person(id).role = (element.value as unknown as RoleValue).role;
      else if (kind === 'hand' && parts.length === 2) person(id).handTs = element.ts;
      else if (kind === 'track' && parts.length === 3) {
        const trackKind = parts[2] as TrackKind;
        if (!TRACK_KINDS.includes(trackKind)) continue;
        const t = element.value as unknown as TrackValue;
        person(id).tracks[trackKind] = { kind: trackKind, published: t.published, muted: t.muted, mutedBy: t.mutedBy };
      }
    }

    const hands = [...people.entries()]
      .filter(([, p]) => p.handTs !== undefined && p.value !== undefined)
      .sort((a, b) => a[1].handTs! - b[1].handTs!)
      .map(([id]) => id);
    const participants: ParticipantView[] = [];
    for (const [id, p] of people) {
      if (p.value === undefined) continue; // tracks or a role written before the participant element arrived
      const position = hands.indexOf(id);
      participants.push({
        id,
        name: p.value.name,
        role: p.role ?? 'participant',
        roleStored: p.role !== undefined,
        presence: p.value.presence,
        joinedAtMs: p.value.joinedAtMs,
        tracks: p.tracks,
        handPosition: position === -1 ? null : position,
      });
    }
    participants.sort((a, b) => a.joinedAtMs - b.joinedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

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
      participants,
      hands,
    };
  }
}

/** Helper for a view: one participant by id. */
export function participantOf(view: SessionView, id: string): ParticipantView | undefined {
  return view.participants.find((p) => p.id === id);
}
