/** SessionMirror derives its view incrementally; this checks it against the
 *  whole-session derivation it replaced (kept here as the reference model):
 *  after any sequence of changes — stale, repeated, deletions of any key,
 *  equal timestamps — and views taken at any points, the view equals the one
 *  derived from scratch from the elements held. Also: what stays the same
 *  object when nothing (or someone else) changed. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionMirror } from '../../src/conference/mirror.ts';
import {
  DEFAULT_SETTINGS, type ElementState, type MetaValue, type ParticipantValue, type ParticipantView, PRESENCES, type PhaseValue, type RecordingValue, ROLES, type Role,
  type RoleValue, SESSION_PHASES, type SessionSettings, type SessionView, TRACK_KINDS, type TrackKind, type TrackValue, type TrackView,
} from '../../src/conference/model.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { propertyOptions } from '../support/property.ts';
import { PARTICIPANT_IDS } from './arbitraries.ts';

const SESSION = 's1';
const PREFIX = `s/${SESSION}/`;

const isObject = (value: JsonValue | null): value is { readonly [key: string]: JsonValue } => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The reference: every element of the session read again (the mirror's former `#derive`; hand ties broken by id). */
function referenceView(elements: readonly ElementState[]): SessionView | undefined {
  const valueOf = (key: string): JsonValue | null => elements.find((e) => e.key === `${PREFIX}${key}`)?.value ?? null;
  const meta = valueOf('meta');
  if (!isObject(meta)) return undefined;
  const m = meta as unknown as MetaValue;
  const settingsValue = valueOf('settings');
  const settings: SessionSettings = isObject(settingsValue) ? { ...DEFAULT_SETTINGS, ...(settingsValue as unknown as Partial<SessionSettings>) } : DEFAULT_SETTINGS;
  const engine = valueOf('engine');
  const people = new Map<string, { value?: ParticipantValue; role?: Role; tracks: Partial<Record<TrackKind, TrackView>>; handTs?: number }>();
  const person = (id: string) => people.get(id) ?? people.set(id, { tracks: {} }).get(id)!;
  for (const element of elements) {
    if (element.value === null || !element.key.startsWith(PREFIX)) continue;
    const parts = element.key.slice(PREFIX.length).split('/');
    const [kind, id] = parts as [string, string];
    if (kind === 'p' && parts.length === 2) person(id).value = element.value as unknown as ParticipantValue;
    else if (kind === 'role' && parts.length === 2) person(id).role = (element.value as unknown as RoleValue).role;
    else if (kind === 'hand' && parts.length === 2) person(id).handTs = element.ts;
    else if (kind === 'track' && parts.length === 3 && TRACK_KINDS.includes(parts[2] as TrackKind)) {
      const t = element.value as unknown as TrackValue;
      person(id).tracks[parts[2] as TrackKind] = { kind: parts[2] as TrackKind, published: t.published, muted: t.muted, mutedBy: t.mutedBy };
    }
  }
  const hands = [...people.entries()]
    .filter(([, p]) => p.handTs !== undefined && p.value !== undefined)
    .sort((a, b) => a[1].handTs! - b[1].handTs! || (a[0] < b[0] ? -1 : 1))
    .map(([id]) => id);
  const participants: ParticipantView[] = [...people.entries()]
    .filter(([, p]) => p.value !== undefined)
    .map(([id, p]) => ({ id, name: p.value!.name, role: p.role ?? 'participant', roleStored: p.role !== undefined, presence: p.value!.presence, joinedAtMs: p.value!.joinedAtMs, tracks: p.tracks, handPosition: hands.includes(id) ? hands.indexOf(id) : null }))
    .sort((a, b) => a.joinedAtMs - b.joinedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    id: SESSION, title: m.title, organizer: m.organizer, createdAtMs: m.createdAtMs, scheduledAtMs: m.scheduledAtMs,
    phase: (valueOf('phase') as unknown as PhaseValue | null)?.phase ?? 'open', settings,
    recording: (valueOf('recording') as unknown as RecordingValue | null) ?? { active: false, by: '', sinceMs: null },
    engine: isObject(engine) ? ((engine['engine'] as string | null) ?? null) : null,
    participants, hands,
  };
}

const id = fc.constantFrom<string>(...PARTICIPANT_IDS);
/** A key of session s1 (or of s2, which the mirror ignores) and a value for it; any key may be deleted. */
const keyedValue: fc.Arbitrary<{ key: string; value: JsonValue }> = fc.oneof(
  fc.constant({ key: `${PREFIX}meta`, value: { title: 'T', organizer: 'h1', createdAtMs: 1, scheduledAtMs: null } }),
  fc.record({ lobby: fc.boolean(), maxParticipants: fc.integer({ min: 1, max: 9 }) }).map((value) => ({ key: `${PREFIX}settings`, value })),
  fc.constantFrom(...SESSION_PHASES).map((phase) => ({ key: `${PREFIX}phase`, value: { phase, by: 'h1' } })),
  fc.boolean().map((active) => ({ key: `${PREFIX}recording`, value: { active, by: 'h1', sinceMs: active ? 3 : null } })),
  fc.constantFrom('sfu-1', 'sfu-2').map((engine) => ({ key: `${PREFIX}engine`, value: { engine } })),
  fc.tuple(id, fc.constantFrom('Ann', 'Bo'), fc.constantFrom(...PRESENCES), fc.integer({ min: 0, max: 3 })).map(([pid, name, presence, joinedAtMs]) => ({ key: `${PREFIX}p/${pid}`, value: { name, presence, joinedAtMs } })),
  fc.tuple(id, fc.constantFrom(...ROLES)).map(([pid, role]) => ({ key: `${PREFIX}role/${pid}`, value: { role, by: 'h1' } })),
  fc.tuple(id, fc.constantFrom(...TRACK_KINDS), fc.boolean(), fc.boolean()).map(([pid, kind, published, muted]) => ({ key: `${PREFIX}track/${pid}/${kind}`, value: { published, muted, mutedBy: null } })),
  fc.constantFrom(...PARTICIPANT_IDS).map((pid) => ({ key: `${PREFIX}hand/${pid}`, value: { raisedAtMs: 7 } })),
  fc.constantFrom(`${PREFIX}track/h1/smell`, `${PREFIX}p/h1/extra`, `${PREFIX}other/h1`, `s/s2/p/h1`).map((key) => ({ key, value: { name: 'X', presence: 'joined', joinedAtMs: 0 } })),
);

/** A change (timestamps from a small range: stale writes and ties across keys happen), deleted one time in five, and whether to take a view after it (one in four). */
const step = fc.record({ keyed: keyedValue, ts: fc.integer({ min: 1, max: 40 }), deleted: fc.nat(4).map((n) => n === 0), look: fc.nat(3).map((n) => n === 0) });

describe('SessionMirror: incremental view', () => {
  it('mirror property: after any changes, every view taken equals the view derived from scratch from the elements held, and stays as it was taken', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 80, size: 'max' }), (steps) => {
        const mirror = new SessionMirror(SESSION);
        const taken: [SessionView, SessionView][] = [];
        for (const { keyed, ts, deleted, look } of steps) {
          mirror.apply({ key: keyed.key, ts, value: deleted ? null : keyed.value });
          if (!look) continue;
          const view = mirror.view();
          expect(view).toEqual(referenceView(mirror.elements()));
          if (view !== undefined) taken.push([view, structuredClone(view)]);
        }
        expect(mirror.view()).toEqual(referenceView(mirror.elements()));
        // The mirror patches its participant list in place between views: none handed out may change.
        for (const [view, copy] of taken) expect(view).toEqual(copy);
        // A mirror loaded with the same elements at once agrees, and so does one reloaded after having held others.
        const loaded = new SessionMirror(SESSION);
        loaded.load(mirror.elements());
        expect(loaded.view()).toEqual(mirror.view());
        mirror.load(mirror.elements().slice(0, steps.length >> 1));
        expect(mirror.view()).toEqual(referenceView(mirror.elements()));
      }),
      propertyOptions(),
    );
  });

  it('mirror: the view is the same object until a change; one participant muting gives a new view in which every other participant keeps its object', () => {
    const mirror = new SessionMirror(SESSION);
    let ts = 0;
    mirror.apply({ key: `${PREFIX}meta`, ts: ++ts, value: { title: 'T', organizer: 'h1', createdAtMs: 1, scheduledAtMs: null } });
    for (const [i, pid] of PARTICIPANT_IDS.entries()) mirror.apply({ key: `${PREFIX}p/${pid}`, ts: ++ts, value: { name: pid, presence: 'joined', joinedAtMs: i } });
    const before = mirror.view()!;
    expect(mirror.view()).toBe(before);
    expect(mirror.apply({ key: `${PREFIX}p/h1`, ts: 1, value: { name: 'stale', presence: 'left', joinedAtMs: 0 } })).toBe(false);
    expect(mirror.view()).toBe(before);

    mirror.apply({ key: `${PREFIX}track/p1/audio`, ts: ++ts, value: { published: true, muted: true, mutedBy: null } });
    const after = mirror.view()!;
    expect(after).not.toBe(before);
    for (const [i, participant] of after.participants.entries()) {
      if (participant.id === 'p1') {
        expect(participant).not.toBe(before.participants[i]);
        expect(participant.tracks.audio?.muted).toBe(true);
      } else expect(participant).toBe(before.participants[i]);
    }
    // The earlier view was not changed underneath its holder.
    expect(before.participants.find((p) => p.id === 'p1')!.tracks).toEqual({});
  });

  it('mirror: raised hands are queued by their timestamp, equal timestamps by participant id, whatever the arrival order', () => {
    const hands = [
      { key: `${PREFIX}hand/p2`, ts: 20, value: { raisedAtMs: 1 } },
      { key: `${PREFIX}hand/m1`, ts: 20, value: { raisedAtMs: 1 } },
      { key: `${PREFIX}hand/h1`, ts: 10, value: { raisedAtMs: 1 } },
    ];
    const base: ElementState[] = [{ key: `${PREFIX}meta`, ts: 1, value: { title: 'T', organizer: 'h1', createdAtMs: 1, scheduledAtMs: null } }];
    for (const pid of ['h1', 'm1', 'p2']) base.push({ key: `${PREFIX}p/${pid}`, ts: 2, value: { name: pid, presence: 'joined', joinedAtMs: 0 } });
    for (const order of [hands, [...hands].reverse()]) {
      const mirror = new SessionMirror(SESSION);
      mirror.load([...order, ...base]);
      expect(mirror.view()!.hands).toEqual(['h1', 'm1', 'p2']);
      expect(mirror.view()!.participants.map((p) => [p.id, p.handPosition])).toEqual([['h1', 0], ['m1', 1], ['p2', 2]]);
    }
  });
});
