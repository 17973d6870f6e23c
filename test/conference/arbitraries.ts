/** fast-check generators for the conference domain: actors, commands (well
 *  formed and not), and element changes of the key layout; plus a checker
 *  that an element update follows the key layout and value types of model.ts. */

import fc from 'fast-check';
import { checkKey } from '../../src/core/keys.ts';
import { checkValue } from '../../src/core/value.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { type Actor, type Command, type ElementState, ID_PATTERN, PRESENCES, ROLES, type Role, SESSION_PHASES, type SessionSettings, TRACK_KINDS } from '../../src/conference/model.ts';

/** Few ids, so commands often hit the same participants. */
export const PARTICIPANT_IDS = ['h1', 'h2', 'm1', 'p1', 'p2', 'v1'] as const;

export const roleArbitrary: fc.Arbitrary<Role> = fc.constantFrom(...ROLES);
const idArbitrary = fc.constantFrom<string>(...PARTICIPANT_IDS);
const kindArbitrary = fc.constantFrom(...TRACK_KINDS);

/** The token role each id usually carries: `h1` a host, `v1` a viewer, … */
export const TOKEN_ROLE_OF: Readonly<Record<(typeof PARTICIPANT_IDS)[number], Role>> = { h1: 'host', h2: 'host', m1: 'moderator', p1: 'participant', p2: 'participant', v1: 'viewer' };

const usualParticipant = fc.constantFrom(...PARTICIPANT_IDS).map((id): Actor => ({ kind: 'participant', id, tokenRole: TOKEN_ROLE_OF[id] }));

export const actorArbitrary: fc.Arbitrary<Actor> = fc.oneof(
  { weight: 12, arbitrary: usualParticipant },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('participant' as const), id: idArbitrary, tokenRole: roleArbitrary }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('service' as const), id: fc.constantFrom('backend', 'sfu'), tokenRole: roleArbitrary }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('system' as const), id: fc.constant('server'), tokenRole: roleArbitrary }) },
);

export const settingsArbitrary: fc.Arbitrary<Partial<SessionSettings>> = fc.record(
  {
    lobby: fc.boolean(),
    maxParticipants: fc.integer({ min: 1, max: 8 }),
    selfUnmute: fc.boolean(),
    screenShare: fc.constantFrom('everyone' as const, 'moderators' as const),
  },
  { requiredKeys: [] },
);

const optionalTarget = fc.option(idArbitrary, { nil: undefined }).map((participant) => (participant === undefined ? {} : { participant }));
const optionalKind = fc.option(kindArbitrary, { nil: undefined }).map((kind) => (kind === undefined ? {} : { kind }));

const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });

/** Well-formed commands of every type, with values from small pools; media, hands and roles most often, end rarely. */
export const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  w(1, fc.record({ type: fc.constant('create' as const), settings: settingsArbitrary })),
  w(3, fc.record({ type: fc.constant('join' as const), name: fc.constantFrom('Ann', ' Bo ', 'Zoë') })),
  w(1, fc.constantFrom(...(['open', 'lock', 'unlock', 'start_recording', 'stop_recording', 'end'] as const)).map((type) => ({ type }))),
  w(4, fc.constantFrom(...(['leave', 'mute_all', 'raise_hand'] as const)).map((type) => ({ type }))),
  w(3, fc.record({ type: fc.constantFrom('admit' as const, 'deny' as const, 'kick' as const), participant: idArbitrary })),
  w(8, fc.tuple(fc.constantFrom('mute' as const, 'unmute' as const), idArbitrary, optionalKind).map(([type, participant, kind]) => ({ type, participant, ...kind }))),
  w(3, optionalTarget.map((target) => ({ type: 'lower_hand' as const, ...target }))),
  w(4, fc.record({ type: fc.constant('set_role' as const), participant: idArbitrary, role: roleArbitrary })),
  w(6, fc.record({ type: fc.constant('publish_track' as const), kind: kindArbitrary, muted: fc.boolean() }, { requiredKeys: ['type', 'kind'] })),
  w(2, fc.record({ type: fc.constant('unpublish_track' as const), kind: kindArbitrary })),
  w(1, fc.record({ type: fc.constant('update_settings' as const), settings: settingsArbitrary })),
  w(1, fc.record({ type: fc.constant('set_engine' as const), engine: fc.constantFrom('sfu-1', 'sfu-2', null) })),
  w(2, fc.record({ type: fc.constant('set_presence' as const), participant: idArbitrary, presence: fc.constantFrom('joined' as const, 'reconnecting' as const, 'left' as const) })),
);

/** What a client could send that is not a command: unknown types, bad values, missing fields, any JSON. */
export const malformedCommandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  fc.constantFrom<unknown>(
    { type: 'dance' },
    { type: 'join', name: 'bell\u0007' },
    { type: 'join' },
    { type: 'kick' },
    { type: 'mute', participant: 'a/b' },
    { type: 'publish_track', kind: 'hologram' },
    { type: 'set_role', participant: 'p1', role: 'admin' },
    { type: 'update_settings', settings: { maxParticipants: 0 } },
    { type: 'update_settings', settings: [] },
    { type: 'set_presence', participant: 'p1', presence: 'kicked' },
    { type: '__proto__' },
    null,
    [],
  ),
  fc.jsonValue(),
) as fc.Arbitrary<Command>;

// ---------------------------------------------------------------------------
// The key layout of model.ts, as a checker of (key, value) pairs
// ---------------------------------------------------------------------------

type Json = { readonly [key: string]: JsonValue };
const isObject = (v: JsonValue | null): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasExactly = (v: Json, fields: readonly string[]): boolean => Object.keys(v).length === fields.length && fields.every((f) => Object.hasOwn(v, f));
const nullableString = (v: JsonValue | undefined): boolean => v === null || typeof v === 'string';

const VALUE_CHECKS: Record<string, (v: Json) => boolean> = {
  meta: (v) => hasExactly(v, ['title', 'organizer', 'createdAtMs', 'scheduledAtMs']) && typeof v['title'] === 'string' && typeof v['organizer'] === 'string' && typeof v['createdAtMs'] === 'number' && (v['scheduledAtMs'] === null || typeof v['scheduledAtMs'] === 'number'),
  settings: (v) => hasExactly(v, ['lobby', 'maxParticipants', 'selfUnmute', 'screenShare']) && typeof v['lobby'] === 'boolean' && Number.isInteger(v['maxParticipants']) && typeof v['selfUnmute'] === 'boolean' && (v['screenShare'] === 'everyone' || v['screenShare'] === 'moderators'),
  phase: (v) => hasExactly(v, ['phase', 'by']) && SESSION_PHASES.includes(v['phase'] as never) && typeof v['by'] === 'string',
  recording: (v) => hasExactly(v, ['active', 'by', 'sinceMs']) && typeof v['active'] === 'boolean' && typeof v['by'] === 'string' && (v['sinceMs'] === null || typeof v['sinceMs'] === 'number'),
  engine: (v) => hasExactly(v, ['engine']) && nullableString(v['engine']),
  p: (v) => hasExactly(v, ['name', 'presence', 'joinedAtMs']) && typeof v['name'] === 'string' && PRESENCES.includes(v['presence'] as never) && typeof v['joinedAtMs'] === 'number',
  role: (v) => hasExactly(v, ['role', 'by']) && ROLES.includes(v['role'] as never) && typeof v['by'] === 'string',
  track: (v) => hasExactly(v, ['published', 'muted', 'mutedBy']) && typeof v['published'] === 'boolean' && typeof v['muted'] === 'boolean' && nullableString(v['mutedBy']),
  hand: (v) => hasExactly(v, ['raisedAtMs']) && typeof v['raisedAtMs'] === 'number',
};

/**
 * Why `(key, value)` does not follow the key layout of model.ts for
 * `session`, or undefined: the key is valid, inside `s/{session}/`, one of
 * the nine shapes with valid ids and kinds, and the value is that key's value
 * type (null only for a hand, which is deleted when lowered).
 */
export function layoutProblem(session: string, key: string, value: JsonValue | null): string | undefined {
  if (checkKey(key) !== undefined) return `${key}: not a valid key`;
  const prefix = `s/${session}/`;
  if (!key.startsWith(prefix)) return `${key}: outside ${prefix}`;
  const parts = key.slice(prefix.length).split('/');
  const [kind, id, trackKind] = parts;
  const single = ['meta', 'settings', 'phase', 'recording', 'engine'].includes(kind!) && parts.length === 1;
  const perParticipant = ['p', 'role', 'hand'].includes(kind!) && parts.length === 2 && ID_PATTERN.test(id!);
  const track = kind === 'track' && parts.length === 3 && ID_PATTERN.test(id!) && TRACK_KINDS.includes(trackKind as never);
  if (!single && !perParticipant && !track) return `${key}: not in the key layout`;
  if (value === null) return kind === 'hand' ? undefined : `${key}: only hands are deleted`;
  if (typeof checkValue(value) !== 'number') return `${key}: value is not bounded JSON`;
  if (!isObject(value) || !VALUE_CHECKS[kind!]!(value)) return `${key}: value ${JSON.stringify(value)} is not a ${kind} value`;
  return undefined;
}

// ---------------------------------------------------------------------------
// Element changes, for the mirror's order-independence
// ---------------------------------------------------------------------------

const trackValue = fc.record({ published: fc.boolean(), muted: fc.boolean(), mutedBy: fc.constantFrom(null, 'h1', 'm1') });
const participantValue = fc.record({ name: fc.constantFrom('Ann', 'Bo'), presence: fc.constantFrom(...PRESENCES), joinedAtMs: fc.integer({ min: 0, max: 5 }) });

/** A change to one element of session `s1` (some of `s2`, which a mirror of `s1` must ignore), without ts. */
const keyedValueArbitrary: fc.Arbitrary<{ key: string; value: JsonValue | null }> = fc.oneof(
  fc.constant({ key: 's/s1/meta', value: { title: 'T', organizer: 'h1', createdAtMs: 1, scheduledAtMs: null } }),
  fc.record({ lobby: fc.boolean(), maxParticipants: fc.integer({ min: 1, max: 9 }), selfUnmute: fc.boolean(), screenShare: fc.constant('everyone') }).map((value) => ({ key: 's/s1/settings', value })),
  fc.constantFrom(...SESSION_PHASES).map((phase) => ({ key: 's/s1/phase', value: { phase, by: 'h1' } })),
  fc.boolean().map((active) => ({ key: 's/s1/recording', value: { active, by: 'h1', sinceMs: active ? 3 : null } })),
  fc.tuple(idArbitrary, participantValue).map(([id, value]) => ({ key: `s/s1/p/${id}`, value })),
  fc.tuple(idArbitrary, roleArbitrary).map(([id, role]) => ({ key: `s/s1/role/${id}`, value: { role, by: 'h1' } })),
  fc.tuple(idArbitrary, kindArbitrary, trackValue).map(([id, kind, value]) => ({ key: `s/s1/track/${id}/${kind}`, value })),
  fc.tuple(idArbitrary, fc.boolean()).map(([id, raised]) => ({ key: `s/s1/hand/${id}`, value: raised ? { raisedAtMs: 7 } : null })),
  fc.tuple(idArbitrary, participantValue).map(([id, value]) => ({ key: `s/s2/p/${id}`, value })),
);

/** Changes with distinct timestamps, as the hybrid clock gives them (no two writes share a ts). */
export const changesArbitrary: fc.Arbitrary<ElementState[]> = fc
  .array(fc.tuple(keyedValueArbitrary, fc.integer({ min: 1, max: 1_000_000 })), { maxLength: 60 })
  .map((pairs) => {
    const seen = new Set<number>();
    const out: ElementState[] = [];
    for (const [{ key, value }, ts] of pairs) {
      if (seen.has(ts)) continue;
      seen.add(ts);
      out.push({ key, ts, value });
    }
    return out;
  });
