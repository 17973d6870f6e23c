/** The conference domain's vocabulary (DESIGN.md §5): the state of a session
 *  as typed views, the element keys that hold it — one key per independently
 *  changing fact (DESIGN.md §1) — and the commands. Pure: no I/O, no clock;
 *  shared by the server and the SDK (browser and Node). */

import type { JsonValue } from '../core/value.ts';

export type SessionPhase = 'scheduled' | 'open' | 'locked' | 'ended';
export type Role = 'host' | 'moderator' | 'participant' | 'viewer';
/** `lobby`: waiting for admission; `denied` / `kicked` / `left`: gone (a kicked or denied participant may not rejoin). */
export type Presence = 'lobby' | 'joined' | 'reconnecting' | 'left' | 'denied' | 'kicked';
export type TrackKind = 'audio' | 'video' | 'screen';
/** Who may share their screen. */
export type ScreenSharePolicy = 'everyone' | 'moderators';

export const ROLES: readonly Role[] = ['host', 'moderator', 'participant', 'viewer'];
export const TRACK_KINDS: readonly TrackKind[] = ['audio', 'video', 'screen'];
export const SESSION_PHASES: readonly SessionPhase[] = ['scheduled', 'open', 'locked', 'ended'];
export const PRESENCES: readonly Presence[] = ['lobby', 'joined', 'reconnecting', 'left', 'denied', 'kicked'];

/** Ids of sessions and participants: one key segment (keys.ts grammar), at most 64 characters. */
export const ID_PATTERN = /^[A-Za-z0-9_.:~-]{1,64}$/;
export const NAME_LENGTH_MAX = 64;
export const TITLE_LENGTH_MAX = 200;
/** Default and hard ceiling of participants per session: a mesh page shows ~6, an SFU-backed session far more. */
export const MAX_PARTICIPANTS_DEFAULT = 100;
export const MAX_PARTICIPANTS_LIMIT = 10_000;

export interface SessionSettings {
  /** Joiners wait in the lobby until a host or moderator admits them (hosts and moderators by token skip it). */
  readonly lobby: boolean;
  /** Participants present (joined or reconnecting) at most; the lobby does not count. */
  readonly maxParticipants: number;
  /** A participant muted by a moderator may unmute itself. Hosts and moderators always may. */
  readonly selfUnmute: boolean;
  readonly screenShare: ScreenSharePolicy;
}

export const DEFAULT_SETTINGS: SessionSettings = {
  lobby: true,
  maxParticipants: MAX_PARTICIPANTS_DEFAULT,
  selfUnmute: true,
  screenShare: 'everyone',
};

// ---------------------------------------------------------------------------
// Element values, by key. Each is a JSON object written whole; the element's
// ts (HLC, replicated with it) orders writes, so values carry no version.
//
//   s/{sid}/meta                  MetaValue       written once, by create
//   s/{sid}/settings              SessionSettings
//   s/{sid}/phase                 PhaseValue
//   s/{sid}/recording             RecordingValue
//   s/{sid}/engine                EngineValue
//   s/{sid}/p/{pid}               ParticipantValue  name and presence
//   s/{sid}/role/{pid}            RoleValue
//   s/{sid}/track/{pid}/{kind}    TrackValue
//   s/{sid}/hand/{pid}            HandValue       deleted (tombstone) when lowered
//
// Two participants muting themselves write different keys, so neither waits
// on the other; a host muting a guest and the guest unmuting write the same
// key and are ordered by the write gate.
// ---------------------------------------------------------------------------

export interface MetaValue {
  readonly title: string;
  /** Participant id of the creator. */
  readonly organizer: string;
  readonly createdAtMs: number;
  readonly scheduledAtMs: number | null;
}
export interface PhaseValue {
  readonly phase: SessionPhase;
  readonly by: string;
}
export interface RecordingValue {
  readonly active: boolean;
  readonly by: string;
  readonly sinceMs: number | null;
}
export interface EngineValue {
  /** Id of the media engine (SFU, MCU, gateway) hosting the session, or null. */
  readonly engine: string | null;
}
export interface ParticipantValue {
  readonly name: string;
  readonly presence: Presence;
  /** When the participant first asked to join (the lobby's and the grid's order). */
  readonly joinedAtMs: number;
}
export interface RoleValue {
  readonly role: Role;
  readonly by: string;
}
export interface TrackValue {
  readonly published: boolean;
  readonly muted: boolean;
  /** Who muted it last, when someone other than the owner did; null otherwise. */
  readonly mutedBy: string | null;
}
export interface HandValue {
  readonly raisedAtMs: number;
}

export const keys = {
  meta: (session: string): string => `s/${session}/meta`,
  settings: (session: string): string => `s/${session}/settings`,
  phase: (session: string): string => `s/${session}/phase`,
  recording: (session: string): string => `s/${session}/recording`,
  engine: (session: string): string => `s/${session}/engine`,
  participant: (session: string, participant: string): string => `s/${session}/p/${participant}`,
  role: (session: string, participant: string): string => `s/${session}/role/${participant}`,
  track: (session: string, participant: string, kind: TrackKind): string => `s/${session}/track/${participant}/${kind}`,
  hand: (session: string, participant: string): string => `s/${session}/hand/${participant}`,
} as const;

/** One element as the domain sees it: what the store holds, or a change to it. `value` null = deleted. */
export interface ElementState {
  readonly key: string;
  /** HLC timestamp (core/clock.ts): newer wins. */
  readonly ts: number;
  readonly value: JsonValue | null;
}

/** One element write a command asks for; value null deletes. */
export interface ElementUpdate {
  readonly key: string;
  readonly value: JsonValue | null;
}

// ---------------------------------------------------------------------------
// Views: what clients render, derived from the elements of one session.
// ---------------------------------------------------------------------------

export interface TrackView {
  readonly kind: TrackKind;
  readonly published: boolean;
  readonly muted: boolean;
  readonly mutedBy: string | null;
}

export interface ParticipantView {
  readonly id: string;
  readonly name: string;
  /** The stored role (`role/{pid}`), or `participant` while none is stored. */
  readonly role: Role;
  /** A `role/{pid}` element exists. False right after a join whose role write has not
   *  arrived yet: the participant's own token role then applies (permissions.ts). */
  readonly roleStored: boolean;
  readonly presence: Presence;
  readonly joinedAtMs: number;
  /** Only kinds that have ever been written. */
  readonly tracks: Partial<Record<TrackKind, TrackView>>;
  /** Position in the raised-hands queue (0 = first), or null. */
  readonly handPosition: number | null;
}

export interface SessionView {
  readonly id: string;
  readonly title: string;
  readonly organizer: string;
  readonly createdAtMs: number;
  readonly scheduledAtMs: number | null;
  readonly phase: SessionPhase;
  readonly settings: SessionSettings;
  readonly recording: RecordingValue;
  readonly engine: string | null;
  /** Every participant ever seen (any presence), ordered by joinedAtMs then id. */
  readonly participants: readonly ParticipantView[];
  /** Participant ids with a raised hand, in the order the hands were raised (element ts order). */
  readonly hands: readonly string[];
}

// ---------------------------------------------------------------------------
// Commands. The actor comes from the authenticated token, never from the command.
// ---------------------------------------------------------------------------

export type Command =
  | {
      readonly type: 'create';
      readonly title?: string;
      readonly settings?: Partial<SessionSettings>;
      /** Absent: the session opens at once. */
      readonly scheduledAtMs?: number;
      readonly engine?: string;
    }
  /** Opens a scheduled session (host). */
  | { readonly type: 'open' }
  | { readonly type: 'join'; readonly name: string }
  | { readonly type: 'admit'; readonly participant: string }
  | { readonly type: 'deny'; readonly participant: string }
  | { readonly type: 'leave' }
  | { readonly type: 'kick'; readonly participant: string }
  | { readonly type: 'mute'; readonly participant: string; readonly kind?: TrackKind }
  | { readonly type: 'unmute'; readonly participant: string; readonly kind?: TrackKind }
  /** Mutes the audio of every present participant except hosts, moderators and the actor. */
  | { readonly type: 'mute_all' }
  | { readonly type: 'raise_hand' }
  /** Without `participant`: the actor's own hand. */
  | { readonly type: 'lower_hand'; readonly participant?: string }
  | { readonly type: 'set_role'; readonly participant: string; readonly role: Role }
  | { readonly type: 'publish_track'; readonly kind: TrackKind; readonly muted?: boolean }
  | { readonly type: 'unpublish_track'; readonly kind: TrackKind }
  | { readonly type: 'lock' }
  | { readonly type: 'unlock' }
  | { readonly type: 'start_recording' }
  | { readonly type: 'stop_recording' }
  | { readonly type: 'update_settings'; readonly settings: Partial<SessionSettings> }
  | { readonly type: 'set_engine'; readonly engine: string | null }
  /** Sent by the server itself when a participant's last connection drops or comes back. */
  | { readonly type: 'set_presence'; readonly participant: string; readonly presence: 'reconnecting' | 'joined' | 'left' }
  | { readonly type: 'end' };

export type CommandType = Command['type'];

/**
 * Who sends a command. `participant`: a member acting under a token for this
 * session; `service`: a trusted backend or media engine (token session `*`)
 * acting with `role` in any session without being a member; `system`: the
 * server itself (presence on disconnect).
 */
export interface Actor {
  readonly kind: 'participant' | 'service' | 'system';
  /** The token's `sub`. */
  readonly id: string;
  /** The token's `role`: the role a participant joins with; a service's authority. */
  readonly tokenRole: Role;
}

/** Why a command was refused. One table in the server maps these to HTTP / WebSocket statuses. */
export type CommandErrorCode =
  | 'invalid_command'
  | 'forbidden'
  | 'not_found'
  | 'already_exists'
  | 'session_ended'
  | 'session_locked'
  | 'session_full'
  | 'not_member';

export interface CommandError {
  readonly code: CommandErrorCode;
  readonly message: string;
}

/** What a command becomes: the element updates to submit, or why not. */
export type Plan = { readonly ok: true; readonly updates: readonly ElementUpdate[] } | { readonly ok: false; readonly error: CommandError };
