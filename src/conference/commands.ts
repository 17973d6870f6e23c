/** Commands → element updates: validates a command, asks permissions.ts
 *  whether the actor may send it, and plans the writes against the session's
 *  view at command time. Does not write, know the write path, or read a clock
 *  (time comes in as `nowMs`); refusals are returned, never thrown. Pure. */

import { assert } from '../core/assert.ts';
import type { JsonValue } from '../core/value.ts';
import { participantOf } from './mirror.ts';
import {
  type Actor,
  type Command,
  type CommandError,
  type CommandErrorCode,
  type CommandType,
  DEFAULT_SETTINGS,
  type ElementUpdate,
  type HandValue,
  ID_PATTERN,
  MAX_PARTICIPANTS_LIMIT,
  type MetaValue,
  NAME_LENGTH_MAX,
  type ParticipantValue,
  type ParticipantView,
  type PhaseValue,
  type Plan,
  type Presence,
  ROLES,
  type RecordingValue,
  type Role,
  type RoleValue,
  type SessionPhase,
  type SessionSettings,
  type SessionView,
  TITLE_LENGTH_MAX,
  TRACK_KINDS,
  type TrackKind,
  type TrackValue,
  type TrackView,
  keys,
} from './model.ts';
import { PERMISSIONS, type PermissionFacts, decide, effectiveRole, refusedOutright } from './permissions.ts';

/**
 * Plans `command` sent by `actor` to `session`, whose current view is `view`
 * (undefined: the session does not exist). Guarantees: never throws for any
 * command value (an unknown or malformed one is `invalid_command`); every
 * update key lies inside `s/{session}/` and follows the key layout of
 * model.ts, every value is the *Value type of its key, no key twice; a
 * refusal carries no updates and a message that names the values involved;
 * every allow/forbid decision comes from PERMISSIONS. Only what differs from
 * the view is written, so an `ok` plan may have zero updates (muting a muted
 * track), and planning again after a prefix of the updates was applied plans
 * the rest: the write that would refuse a repeat (meta, the ended phase, a
 * self-demoting role) comes last.
 * The caller must have checked that a participant actor's token is for `session`.
 */
export function planCommand(view: SessionView | undefined, session: string, actor: Actor, command: Command, nowMs: number): Plan {
  assert(Number.isFinite(nowMs), `nowMs must be a finite number, got ${nowMs}`);
  if (typeof session !== 'string' || !ID_PATTERN.test(session)) return refuse('invalid_command', `session id ${JSON.stringify(session)} is not 1-64 of [A-Za-z0-9_.:~-]`);
  const problem = commandProblem(command);
  if (problem !== undefined) return refuse('invalid_command', problem);
  const type: CommandType = command.type;
  // create goes by the token alone: a role stored in an existing session grants nothing over a new one.
  const role = effectiveRole(type === 'create' ? undefined : view, actor);
  const outright = refusedOutright(type, actor, role);
  if (outright !== undefined) return refuse('forbidden', `${who(actor)} may not ${type} in session "${session}": ${outright}`);
  if (command.type === 'create') return planCreate(view, session, actor, role, command, nowMs);
  if (view === undefined) return refuse('not_found', `session "${session}" does not exist`);
  assert(view.id === session, `view of session "${view.id}" passed for session "${session}"`);
  if (view.phase === 'ended') return refuse('session_ended', `session "${session}" has ended`);
  if (actor.kind === 'participant' && type !== 'join' && type !== 'leave') {
    const self = participantOf(view, actor.id);
    if (!isPresent(self)) return refuse('not_member', `${who(actor)} ${whereIs(self, session)}${self === undefined ? '' : ', not joined'}`);
  }
  const context: Context = { view, session, actor, role, nowMs };
  return (PLANNERS[command.type] as (context: Context, command: Command) => Plan)(context, command);
}

interface Context {
  readonly view: SessionView;
  readonly session: string;
  readonly actor: Actor;
  /** The actor's effective role (permissions.ts). */
  readonly role: Role;
  readonly nowMs: number;
}

type Planners = { readonly [T in Exclude<CommandType, 'create'>]: (context: Context, command: Extract<Command, { type: T }>) => Plan };

const PLANNERS: Planners = {
  open: (c) => planPhase(c, 'open', { scheduled: 'open', open: null, locked: null }),
  lock: (c) => planPhase(c, 'lock', { scheduled: undefined, open: 'locked', locked: null }),
  unlock: (c) => planPhase(c, 'unlock', { scheduled: undefined, open: null, locked: 'open' }),
  join: planJoin,
  admit: (c, command) => planLobbyDecision(c, 'admit', command.participant),
  deny: (c, command) => planLobbyDecision(c, 'deny', command.participant),
  leave: planLeave,
  kick: planKick,
  mute: planMute,
  unmute: planUnmute,
  mute_all: planMuteAll,
  raise_hand: planRaiseHand,
  lower_hand: planLowerHand,
  set_role: planSetRole,
  publish_track: planPublish,
  unpublish_track: planUnpublish,
  start_recording: (c) => planRecording(c, 'start_recording', true),
  stop_recording: (c) => planRecording(c, 'stop_recording', false),
  update_settings: planUpdateSettings,
  set_engine: planSetEngine,
  set_presence: planSetPresence,
  end: planEnd,
};

// ---------------------------------------------------------------------------
// Results and shared helpers
// ---------------------------------------------------------------------------

function refuse(code: CommandErrorCode, message: string): Plan {
  const error: CommandError = { code, message };
  return { ok: false, error };
}

function ok(updates: readonly ElementUpdate[]): Plan {
  return { ok: true, updates };
}

/** The *Value interfaces have no index signature; they are JSON all the same. */
function json<T extends object>(value: T): JsonValue {
  return value as unknown as JsonValue;
}

function who(actor: Actor): string {
  return `${actor.kind} "${actor.id}"`;
}

function isPresent(participant: ParticipantView | undefined): boolean {
  return participant !== undefined && (participant.presence === 'joined' || participant.presence === 'reconnecting');
}

function presentCount(view: SessionView): number {
  let count = 0;
  for (const participant of view.participants) if (isPresent(participant)) count++;
  return count;
}

/** "is in the lobby of session "s1"", "has left session "s1"", … for messages. */
function whereIs(participant: ParticipantView | undefined, session: string): string {
  switch (participant?.presence) {
    case undefined:
      return `is not a member of session "${session}"`;
    case 'lobby':
      return `is in the lobby of session "${session}"`;
    case 'left':
      return `has left session "${session}"`;
    case 'kicked':
      return `was kicked from session "${session}"`;
    case 'denied':
      return `was denied entry to session "${session}"`;
    default:
      return `is ${participant!.presence} in session "${session}"`;
  }
}

/** The participant `id`, or a not_member refusal naming it. */
function findTarget(context: Context, id: string): ParticipantView | Plan {
  const target = participantOf(context.view, id);
  return target ?? refuse('not_member', `participant "${id}" is not a member of session "${context.session}"`);
}

function isPlan(value: ParticipantView | Plan): value is Plan {
  return 'ok' in value;
}

function isSelf(context: Context, participant: string): boolean {
  return context.actor.kind === 'participant' && context.actor.id === participant;
}

/** A participant's role for permission facts: the actor's effective role for itself, else the stored (or default) one. */
function roleOf(context: Context, participant: ParticipantView): Role {
  return isSelf(context, participant.id) ? context.role : participant.role;
}

/** Asks the table; a refusal as a forbidden plan naming actor, command, target and rule. */
function permit(context: Context, type: CommandType, facts: Omit<PermissionFacts, 'actor' | 'role'>, target?: string): Plan | undefined {
  // One object shape for every command: spreading `facts`, whose fields differ per call site, cost more than the rest of a mute's plan.
  const full: PermissionFacts = {
    actor: context.actor,
    role: context.role,
    self: facts.self,
    targetRole: facts.targetRole,
    targetPresence: facts.targetPresence,
    settings: facts.settings,
    kind: facts.kind,
    mutedByOther: facts.mutedByOther,
    newRole: facts.newRole,
    otherHostsPresent: facts.otherHostsPresent,
  };
  const decision = decide(type, full);
  if (decision.allowed) return undefined;
  const on = target === undefined ? '' : ` participant "${target}"`;
  return refuse('forbidden', `${who(context.actor)} may not ${type}${on} in session "${context.session}": ${decision.reason}`);
}

function participantUpdate(context: Context, participant: ParticipantView, change: Partial<ParticipantValue>): ElementUpdate {
  const value: ParticipantValue = { name: participant.name, presence: participant.presence, joinedAtMs: participant.joinedAtMs, ...change };
  return { key: keys.participant(context.session, participant.id), value: json(value) };
}

function trackUpdate(context: Context, participant: string, kind: TrackKind, value: TrackValue): ElementUpdate {
  return { key: keys.track(context.session, participant, kind), value: json(value) };
}

function sameTrack(a: TrackView | undefined, b: TrackValue): boolean {
  return a !== undefined && a.published === b.published && a.muted === b.muted && a.mutedBy === b.mutedBy;
}

/** Unpublishes every published track of `participant` (of the given kinds), keeping the mute state. */
function unpublishAll(context: Context, participant: ParticipantView, kinds: readonly TrackKind[] = TRACK_KINDS): ElementUpdate[] {
  const updates: ElementUpdate[] = [];
  for (const kind of kinds) {
    const track = participant.tracks[kind];
    if (track?.published === true) updates.push(trackUpdate(context, participant.id, kind, { published: false, muted: track.muted, mutedBy: track.mutedBy }));
  }
  return updates;
}

/**
 * Leaving, being kicked, dropping for good: presence, the hand lowered, tracks
 * unpublished — each written only when it differs, so repeating a departure
 * that was cut short between its writes completes it.
 */
function departure(context: Context, participant: ParticipantView, presence: Presence): ElementUpdate[] {
  const updates = participant.presence === presence ? [] : [participantUpdate(context, participant, { presence })];
  if (context.view.hands.includes(participant.id)) updates.push({ key: keys.hand(context.session, participant.id), value: null });
  updates.push(...unpublishAll(context, participant));
  return updates;
}

// ---------------------------------------------------------------------------
// Session lifecycle
// ---------------------------------------------------------------------------

function planCreate(view: SessionView | undefined, session: string, actor: Actor, role: Role, command: Extract<Command, { type: 'create' }>, nowMs: number): Plan {
  const decision = decide('create', { actor, role, self: true });
  if (!decision.allowed) return refuse('forbidden', `${who(actor)} may not create session "${session}": ${decision.reason}`);
  if (view !== undefined) return refuse('already_exists', `session "${session}" already exists (created by "${view.organizer}")`);
  const settings: SessionSettings = { ...DEFAULT_SETTINGS, ...command.settings };
  const scheduledAtMs = command.scheduledAtMs ?? null;
  const phase: SessionPhase = scheduledAtMs !== null && scheduledAtMs > nowMs ? 'scheduled' : 'open';
  const meta: MetaValue = { title: (command.title ?? '').trim(), organizer: actor.id, createdAtMs: nowMs, scheduledAtMs };
  const recording: RecordingValue = { active: false, by: actor.id, sinceMs: null };
  // meta last: a reader's view exists from meta on, so it usually finds the rest already there.
  return ok([
    { key: keys.settings(session), value: json(settings) },
    { key: keys.phase(session), value: json<PhaseValue>({ phase, by: actor.id }) },
    { key: keys.recording(session), value: json(recording) },
    { key: keys.engine(session), value: { engine: command.engine ?? null } },
    { key: keys.meta(session), value: json(meta) },
  ]);
}

/** open / lock / unlock: `next[phase]` is the new phase, null when already there (no updates), undefined when the command does not apply. */
function planPhase(context: Context, type: 'open' | 'lock' | 'unlock', next: Record<'scheduled' | 'open' | 'locked', SessionPhase | null | undefined>): Plan {
  const denied = permit(context, type, { self: true });
  if (denied !== undefined) return denied;
  const phase = context.view.phase as 'scheduled' | 'open' | 'locked';
  const to = next[phase];
  if (to === undefined) return refuse('invalid_command', `session "${context.session}" is ${phase}; ${type} applies to ${type === 'open' ? 'a scheduled' : type === 'lock' ? 'an open' : 'a locked'} session`);
  if (to === null) return ok([]);
  return ok([{ key: keys.phase(context.session), value: json<PhaseValue>({ phase: to, by: context.actor.id }) }]);
}

function planEnd(context: Context): Plan {
  const denied = permit(context, 'end', { self: true });
  if (denied !== undefined) return denied;
  const updates: ElementUpdate[] = [];
  if (context.view.recording.active) updates.push({ key: keys.recording(context.session), value: json<RecordingValue>({ active: false, by: context.actor.id, sinceMs: null }) });
  // The phase last: once it is written, every command (this one again too) is refused.
  updates.push({ key: keys.phase(context.session), value: json<PhaseValue>({ phase: 'ended', by: context.actor.id }) });
  return ok(updates);
}

function planRecording(context: Context, type: 'start_recording' | 'stop_recording', active: boolean): Plan {
  const denied = permit(context, type, { self: true });
  if (denied !== undefined) return denied;
  if (context.view.recording.active === active) return ok([]);
  const value: RecordingValue = { active, by: context.actor.id, sinceMs: active ? context.nowMs : null };
  return ok([{ key: keys.recording(context.session), value: json(value) }]);
}

function planUpdateSettings(context: Context, command: Extract<Command, { type: 'update_settings' }>): Plan {
  const denied = permit(context, 'update_settings', { self: true });
  if (denied !== undefined) return denied;
  const current = context.view.settings;
  const merged: SessionSettings = { ...current, ...command.settings };
  const same = (Object.keys(DEFAULT_SETTINGS) as (keyof SessionSettings)[]).every((name) => merged[name] === current[name]);
  return ok(same ? [] : [{ key: keys.settings(context.session), value: json(merged) }]);
}

function planSetEngine(context: Context, command: Extract<Command, { type: 'set_engine' }>): Plan {
  const denied = permit(context, 'set_engine', { self: true });
  if (denied !== undefined) return denied;
  if (context.view.engine === command.engine) return ok([]);
  return ok([{ key: keys.engine(context.session), value: { engine: command.engine } }]);
}

// ---------------------------------------------------------------------------
// Membership: join, lobby, leave, kick, presence
// ---------------------------------------------------------------------------

function planJoin(context: Context, command: Extract<Command, { type: 'join' }>): Plan {
  const { view, session, actor } = context;
  const existing = participantOf(view, actor.id);
  const denied = permit(context, 'join', { self: true, ...(existing === undefined ? {} : { targetPresence: existing.presence }) });
  if (denied !== undefined) return denied;
  const skipsLobby = context.role === 'host' || context.role === 'moderator';
  let presence: Presence;
  if (isPresent(existing) || skipsLobby) presence = 'joined';
  else if (view.phase === 'locked') {
    if (existing?.presence !== 'lobby') return refuse('session_locked', `session "${session}" is locked: ${who(actor)} cannot join as ${context.role}`);
    presence = 'lobby';
  } else presence = view.settings.lobby || view.phase === 'scheduled' ? 'lobby' : 'joined';
  if (presence === 'joined' && !isPresent(existing) && presentCount(view) >= view.settings.maxParticipants) {
    return refuse('session_full', `session "${session}" has ${presentCount(view)} participants present, its maxParticipants is ${view.settings.maxParticipants}`);
  }
  const name = command.name.trim();
  const updates: ElementUpdate[] = [];
  if (existing?.roleStored !== true) {
    updates.push({ key: keys.role(session, actor.id), value: json<RoleValue>({ role: context.role, by: actor.id }) });
  }
  if (existing === undefined || existing.name !== name || existing.presence !== presence) {
    const value: ParticipantValue = { name, presence, joinedAtMs: existing?.joinedAtMs ?? context.nowMs };
    updates.push({ key: keys.participant(session, actor.id), value: json(value) });
  }
  return ok(updates);
}

function planLobbyDecision(context: Context, type: 'admit' | 'deny', id: string): Plan {
  const target = findTarget(context, id);
  if (isPlan(target)) return target;
  const denied = permit(context, type, { self: isSelf(context, id), targetRole: target.role }, id);
  if (denied !== undefined) return denied;
  if (target.presence !== 'lobby') return refuse('not_member', `participant "${id}" ${whereIs(target, context.session)}, not in its lobby`);
  const { view } = context;
  if (type === 'admit' && presentCount(view) >= view.settings.maxParticipants) {
    return refuse('session_full', `session "${context.session}" has ${presentCount(view)} participants present, its maxParticipants is ${view.settings.maxParticipants}`);
  }
  return ok([participantUpdate(context, target, { presence: type === 'admit' ? 'joined' : 'denied' })]);
}

function planLeave(context: Context): Plan {
  const self = participantOf(context.view, context.actor.id);
  if (self === undefined) return refuse('not_member', `${who(context.actor)} ${whereIs(self, context.session)}`);
  const denied = permit(context, 'leave', { self: true });
  if (denied !== undefined) return denied;
  // Gone already: leaving again only finishes the departure (and must not turn kicked into left).
  return ok(departure(context, self, self.presence === 'lobby' || isPresent(self) ? 'left' : self.presence));
}

function planKick(context: Context, command: Extract<Command, { type: 'kick' }>): Plan {
  const target = findTarget(context, command.participant);
  if (isPlan(target)) return target;
  const denied = permit(context, 'kick', { self: isSelf(context, target.id), targetRole: roleOf(context, target) }, target.id);
  if (denied !== undefined) return denied;
  return ok(departure(context, target, target.presence === 'denied' ? 'denied' : 'kicked'));
}

function planSetPresence(context: Context, command: Extract<Command, { type: 'set_presence' }>): Plan {
  const target = findTarget(context, command.participant);
  if (isPlan(target)) return target;
  const denied = permit(context, 'set_presence', { self: false }, target.id);
  if (denied !== undefined) return denied;
  if (target.presence === 'left' && command.presence === 'left') return ok(departure(context, target, 'left'));
  if (!isPresent(target)) return refuse('not_member', `participant "${target.id}" ${whereIs(target, context.session)}; only joined or reconnecting members have a connection presence`);
  if (target.presence === command.presence) return ok([]);
  if (command.presence === 'left') return ok(departure(context, target, 'left'));
  return ok([participantUpdate(context, target, { presence: command.presence })]);
}

// ---------------------------------------------------------------------------
// Media: mute, unmute, publish, unpublish
// ---------------------------------------------------------------------------

function planMute(context: Context, command: Extract<Command, { type: 'mute' }>): Plan {
  const kind = command.kind ?? 'audio';
  const target = findTarget(context, command.participant);
  if (isPlan(target)) return target;
  const self = isSelf(context, target.id);
  const denied = permit(context, 'mute', { self, targetRole: roleOf(context, target) }, target.id);
  if (denied !== undefined) return denied;
  if (!isPresent(target)) return refuse('not_member', `participant "${target.id}" ${whereIs(target, context.session)}, not joined`);
  const track = target.tracks[kind];
  // Muting a muted track again changes nothing, except that someone else's mute replaces the owner's own (or another's).
  if (track?.muted === true && (self || track.mutedBy === context.actor.id)) return ok([]);
  return ok([trackUpdate(context, target.id, kind, { published: track?.published ?? false, muted: true, mutedBy: self ? null : context.actor.id })]);
}

function planUnmute(context: Context, command: Extract<Command, { type: 'unmute' }>): Plan {
  const kind = command.kind ?? 'audio';
  const target = findTarget(context, command.participant);
  if (isPlan(target)) return target;
  const track = target.tracks[kind];
  const mutedByOther = track?.muted === true && track.mutedBy !== null && track.mutedBy !== target.id;
  const denied = permit(context, 'unmute', { self: isSelf(context, target.id), settings: context.view.settings, mutedByOther, kind }, target.id);
  if (denied !== undefined) return denied;
  if (track === undefined || !track.muted) return ok([]);
  return ok([trackUpdate(context, target.id, kind, { published: track.published, muted: false, mutedBy: null })]);
}

function planMuteAll(context: Context): Plan {
  const denied = permit(context, 'mute_all', { self: true });
  if (denied !== undefined) return denied;
  const updates: ElementUpdate[] = [];
  for (const participant of context.view.participants) {
    if (!isPresent(participant) || participant.id === context.actor.id) continue;
    if (participant.role === 'host' || participant.role === 'moderator') continue;
    const audio = participant.tracks.audio;
    if (audio?.muted === true) continue;
    // Also those who have not published audio yet: their microphone starts muted.
    updates.push(trackUpdate(context, participant.id, 'audio', { published: audio?.published ?? false, muted: true, mutedBy: context.actor.id }));
  }
  return ok(updates);
}

function planPublish(context: Context, command: Extract<Command, { type: 'publish_track' }>): Plan {
  const { view, actor } = context;
  const denied = permit(context, 'publish_track', { self: true, kind: command.kind, settings: view.settings });
  if (denied !== undefined) return denied;
  const self = participantOf(view, actor.id);
  assert(self !== undefined, `publish_track by ${actor.id}: membership was checked`);
  const track = self.tracks[command.kind];
  const mutedByOther = track?.muted === true && track.mutedBy !== null && track.mutedBy !== actor.id;
  const privileged = context.role === 'host' || context.role === 'moderator';
  const held = mutedByOther && !view.settings.selfUnmute && !privileged;
  const muted = held || (command.muted ?? false);
  // Someone else's mute stays recorded while the track stays muted.
  const value: TrackValue = { published: true, muted, mutedBy: muted && mutedByOther ? (track?.mutedBy ?? null) : null };
  return ok(sameTrack(track, value) ? [] : [trackUpdate(context, actor.id, command.kind, value)]);
}

function planUnpublish(context: Context, command: Extract<Command, { type: 'unpublish_track' }>): Plan {
  const denied = permit(context, 'unpublish_track', { self: true });
  if (denied !== undefined) return denied;
  const self = participantOf(context.view, context.actor.id);
  assert(self !== undefined, `unpublish_track by ${context.actor.id}: membership was checked`);
  return ok(unpublishAll(context, self, [command.kind]));
}

// ---------------------------------------------------------------------------
// Hands and roles
// ---------------------------------------------------------------------------

function planRaiseHand(context: Context): Plan {
  const denied = permit(context, 'raise_hand', { self: true });
  if (denied !== undefined) return denied;
  if (context.view.hands.includes(context.actor.id)) return ok([]);
  return ok([{ key: keys.hand(context.session, context.actor.id), value: json<HandValue>({ raisedAtMs: context.nowMs }) }]);
}

function planLowerHand(context: Context, command: Extract<Command, { type: 'lower_hand' }>): Plan {
  const target = findTarget(context, command.participant ?? context.actor.id);
  if (isPlan(target)) return target;
  const denied = permit(context, 'lower_hand', { self: isSelf(context, target.id) }, target.id);
  if (denied !== undefined) return denied;
  if (!context.view.hands.includes(target.id)) return ok([]);
  return ok([{ key: keys.hand(context.session, target.id), value: null }]);
}

function planSetRole(context: Context, command: Extract<Command, { type: 'set_role' }>): Plan {
  const target = findTarget(context, command.participant);
  if (isPlan(target)) return target;
  const self = isSelf(context, target.id);
  const otherHostsPresent = context.view.participants.filter((p) => p.id !== target.id && isPresent(p) && p.role === 'host').length;
  const facts = { self, targetRole: roleOf(context, target), newRole: command.role, otherHostsPresent };
  const denied = permit(context, 'set_role', facts, target.id);
  if (denied !== undefined) return denied;
  // Also when the role was set already: finishes a change to viewer cut short before its tracks were unpublished.
  const updates = command.role === 'viewer' ? unpublishAll(context, target) : [];
  // The role last: a host demoting itself may no longer send set_role once it is written.
  if (!target.roleStored || target.role !== command.role) {
    updates.push({ key: keys.role(context.session, target.id), value: json<RoleValue>({ role: command.role, by: context.actor.id }) });
  }
  return ok(updates);
}

// ---------------------------------------------------------------------------
// Validation: the command's own values, before any state is looked at
// ---------------------------------------------------------------------------

/** Why `command` is not a well-formed command, or undefined. Never trusts the static type. */
export function commandProblem(command: unknown): string | undefined {
  if (typeof command !== 'object' || command === null || Array.isArray(command)) return 'a command must be an object';
  const c = command as Record<string, unknown>;
  const type = c['type'];
  if (typeof type !== 'string' || !Object.hasOwn(PERMISSIONS, type)) return `unknown command type ${JSON.stringify(type)}`;
  switch (type as CommandType) {
    case 'create':
      return (
        optional(c, 'title', (v) => textProblem(v, 'title', 0, TITLE_LENGTH_MAX)) ??
        optional(c, 'settings', settingsProblem) ??
        optional(c, 'scheduledAtMs', (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : `scheduledAtMs must be a non-negative integer of ms, got ${JSON.stringify(v)}`)) ??
        optional(c, 'engine', (v) => idProblem(v, 'engine'))
      );
    case 'join':
      return textProblem(c['name'], 'name', 1, NAME_LENGTH_MAX);
    case 'admit':
    case 'deny':
    case 'kick':
      return idProblem(c['participant'], 'participant');
    case 'mute':
    case 'unmute':
      return idProblem(c['participant'], 'participant') ?? optional(c, 'kind', kindProblem);
    case 'lower_hand':
      return optional(c, 'participant', (v) => idProblem(v, 'participant'));
    case 'set_role':
      return idProblem(c['participant'], 'participant') ?? (ROLES.includes(c['role'] as Role) ? undefined : `role must be one of ${ROLES.join(', ')}, got ${JSON.stringify(c['role'])}`);
    case 'publish_track':
      return kindProblem(c['kind']) ?? optional(c, 'muted', (v) => (typeof v === 'boolean' ? undefined : `muted must be a boolean, got ${JSON.stringify(v)}`));
    case 'unpublish_track':
      return kindProblem(c['kind']);
    case 'update_settings':
      return settingsProblem(c['settings']);
    case 'set_engine':
      return c['engine'] === null ? undefined : idProblem(c['engine'], 'engine');
    case 'set_presence': {
      const presence = c['presence'];
      const presenceOk = presence === 'joined' || presence === 'reconnecting' || presence === 'left';
      return idProblem(c['participant'], 'participant') ?? (presenceOk ? undefined : `presence must be joined, reconnecting or left, got ${JSON.stringify(presence)}`);
    }
    default:
      return undefined; // open, leave, mute_all, raise_hand, lock, unlock, start/stop_recording, end carry no values
  }
}

function optional(c: Record<string, unknown>, field: string, check: (value: unknown) => string | undefined): string | undefined {
  return c[field] === undefined ? undefined : check(c[field]);
}

function idProblem(value: unknown, field: string): string | undefined {
  if (typeof value === 'string' && ID_PATTERN.test(value)) return undefined;
  return `${field} must be an id of 1-64 characters [A-Za-z0-9_.:~-], got ${JSON.stringify(value)}`;
}

function kindProblem(value: unknown): string | undefined {
  return TRACK_KINDS.includes(value as TrackKind) ? undefined : `kind must be one of ${TRACK_KINDS.join(', ')}, got ${JSON.stringify(value)}`;
}

/** A display text: a string whose trimmed length is within bounds and that holds no control or bidi-override characters. */
function textProblem(value: unknown, field: string, lengthMin: number, lengthMax: number): string | undefined {
  if (typeof value !== 'string') return `${field} must be a string, got ${JSON.stringify(value)}`;
  const length = value.trim().length;
  if (length < lengthMin || length > lengthMax) return `${field} must be ${lengthMin}-${lengthMax} characters after trimming, got ${length}`;
  const index = controlCharacterIndex(value);
  if (index !== -1) return `${field} ${JSON.stringify(value)} holds the control character U+${value.charCodeAt(index).toString(16).toUpperCase().padStart(4, '0')} at ${index}`;
  return undefined;
}

/** C0 and C1 controls, DEL, line/paragraph separators and bidi overrides (which can make a name display as another). */
function controlCharacterIndex(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) return i;
  }
  return -1;
}

function settingsProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `settings must be an object, got ${JSON.stringify(value)}`;
  for (const [name, setting] of Object.entries(value)) {
    switch (name) {
      case 'lobby':
      case 'selfUnmute':
        if (typeof setting !== 'boolean') return `settings.${name} must be a boolean, got ${JSON.stringify(setting)}`;
        break;
      case 'maxParticipants':
        if (!Number.isInteger(setting) || (setting as number) < 1 || (setting as number) > MAX_PARTICIPANTS_LIMIT) {
          return `settings.maxParticipants must be an integer 1-${MAX_PARTICIPANTS_LIMIT}, got ${JSON.stringify(setting)}`;
        }
        break;
      case 'screenShare':
        if (setting !== 'everyone' && setting !== 'moderators') return `settings.screenShare must be everyone or moderators, got ${JSON.stringify(setting)}`;
        break;
      default:
        return `settings has no field ${JSON.stringify(name)} (known: ${Object.keys(DEFAULT_SETTINGS).join(', ')})`;
    }
  }
  return undefined;
}
