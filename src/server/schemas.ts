/** TypeBox schemas of every input the server takes — each Command variant,
 *  each WebSocket ClientMessage, each REST body / params / query — compiled
 *  once, and the check that names the first offending field. Unknown fields
 *  are refused everywhere. It does not know what a valid command means for a
 *  session (the domain decides) or how an error is sent. */

import { type Static, type TObject, type TSchema, Type, TypeGuard } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { ClientMessage } from '../conference/api.ts';
import {
  type Command,
  MAX_PARTICIPANTS_LIMIT,
  NAME_LENGTH_MAX,
  ROLES,
  TITLE_LENGTH_MAX,
  TRACK_KINDS,
} from '../conference/model.ts';
import { KEY_LENGTH_MAX_DEFAULT } from '../core/keys.ts';
import { TOKEN_LENGTH_MAX } from './auth.ts';

const strict = { additionalProperties: false } as const;

/** Session and participant ids: model.ts ID_PATTERN, as a JSON-schema pattern. */
export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:~-]{1,64}$', description: 'an id: 1–64 of A-Z a-z 0-9 _ . : ~ -' });
/** Client-chosen request ids (idempotency keys) share the id grammar. */
export const RequestId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:~-]{1,64}$', description: 'chosen by the client, unique per client; a retry reuses it' });
/** Display text: no control characters. */
const text = (maxLength: number, description: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description });
const MsSinceEpoch = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Unix time, ms' });

const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));
const TrackKindSchema = Type.Union(TRACK_KINDS.map((k) => Type.Literal(k)));
const EngineId = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description: 'media engine id (SFU, MCU, gateway)' });

export const SettingsPatchSchema = Type.Object(
  {
    lobby: Type.Optional(Type.Boolean()),
    maxParticipants: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PARTICIPANTS_LIMIT })),
    selfUnmute: Type.Optional(Type.Boolean()),
    screenShare: Type.Optional(Type.Union([Type.Literal('everyone'), Type.Literal('moderators')])),
  },
  strict,
);

const variant = <K extends string, T extends Record<string, TSchema>>(type: K, fields: T) =>
  Type.Object({ type: Type.Literal(type), ...fields }, { ...strict, title: type });

/** One schema per Command variant, by type. */
export const COMMAND_VARIANTS = {
  create: variant('create', {
    title: Type.Optional(text(TITLE_LENGTH_MAX, 'session title')),
    settings: Type.Optional(SettingsPatchSchema),
    scheduledAtMs: Type.Optional(MsSinceEpoch),
    engine: Type.Optional(EngineId),
  }),
  open: variant('open', {}),
  join: variant('join', { name: text(NAME_LENGTH_MAX, 'display name') }),
  admit: variant('admit', { participant: Id }),
  deny: variant('deny', { participant: Id }),
  leave: variant('leave', {}),
  kick: variant('kick', { participant: Id }),
  mute: variant('mute', { participant: Id, kind: Type.Optional(TrackKindSchema) }),
  unmute: variant('unmute', { participant: Id, kind: Type.Optional(TrackKindSchema) }),
  mute_all: variant('mute_all', {}),
  raise_hand: variant('raise_hand', {}),
  lower_hand: variant('lower_hand', { participant: Type.Optional(Id) }),
  set_role: variant('set_role', { participant: Id, role: RoleSchema }),
  publish_track: variant('publish_track', { kind: TrackKindSchema, muted: Type.Optional(Type.Boolean()) }),
  unpublish_track: variant('unpublish_track', { kind: TrackKindSchema }),
  lock: variant('lock', {}),
  unlock: variant('unlock', {}),
  start_recording: variant('start_recording', {}),
  stop_recording: variant('stop_recording', {}),
  update_settings: variant('update_settings', { settings: SettingsPatchSchema }),
  set_engine: variant('set_engine', { engine: Type.Union([EngineId, Type.Null()]) }),
  set_presence: variant('set_presence', {
    participant: Id,
    presence: Type.Union([Type.Literal('reconnecting'), Type.Literal('joined'), Type.Literal('left')]),
  }),
  end: variant('end', {}),
} satisfies Record<Command['type'], TObject>;

export const CommandSchema = Type.Union(Object.values(COMMAND_VARIANTS), { title: 'Command' });

const StreamPositionSchema = Type.Object(
  { stream: Type.String({ minLength: 1, maxLength: 128 }), seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) },
  strict,
);

/**
 * One entry of a subscribe's `known`: `[key, ts]`. The key grammar and length
 * are core/keys.ts's (KEY_LENGTH_MAX_DEFAULT); that it names an element of the
 * subscribed session, each key once, and the count (limits.resumeKnownMax) are
 * checked by resume-bridge.ts `checkKnown`, which knows the session and limits.
 */
const KnownElementSchema = Type.Tuple([
  Type.String({ minLength: 1, maxLength: KEY_LENGTH_MAX_DEFAULT, pattern: '^[A-Za-z0-9_.:~-]{1,64}(/[A-Za-z0-9_.:~-]{1,64})*$', description: 'element key s/{session}/…' }),
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "the element's timestamp in the client's mirror" }),
]);

/** One schema per ClientMessage type, by type. */
export const CLIENT_MESSAGE_VARIANTS = {
  hello: variant('hello', { token: Type.String({ minLength: 1, maxLength: TOKEN_LENGTH_MAX }), protocol: Type.Integer({ minimum: 1, maximum: 1_000_000 }) }),
  subscribe: variant('subscribe', {
    session: Id,
    resume: Type.Optional(StreamPositionSchema),
    known: Type.Optional(Type.Array(KnownElementSchema, { description: "the live elements of the client's mirror, with resume: lets a resume the stream cannot replay be bridged" })),
  }),
  unsubscribe: variant('unsubscribe', { session: Id }),
  command: variant('command', { id: RequestId, session: Id, command: CommandSchema }),
  signal: variant('signal', { session: Id, to: Id, payload: Type.Unknown({ description: 'opaque (SDP offer / answer, ICE candidate); at most 64 KiB as JSON' }) }),
  ping: variant('ping', { id: Type.String({ minLength: 1, maxLength: 64 }) }),
} satisfies Record<ClientMessage['type'], TObject>;

export const ClientMessageSchema = Type.Union(Object.values(CLIENT_MESSAGE_VARIANTS), { title: 'ClientMessage' });

// The schemas must describe exactly the contract types: a compile error here means they drifted apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _commandMatches: Same<Static<typeof CommandSchema>, Mutable<Command>> = true;
const _messageMatches: Same<Exclude<Static<typeof ClientMessageSchema>, { type: 'signal' }>, Exclude<Mutable<ClientMessage>, { type: 'signal' }>> = true;
void _commandMatches;
void _messageMatches;
type Mutable<T> = T extends object ? { -readonly [K in keyof T]: Mutable<T[K]> } : T;

// ---- REST ------------------------------------------------------------------

export const SessionParamsSchema = Type.Object({ id: Id }, strict);
export const CreateSessionBodySchema = Type.Object(
  {
    id: Type.Optional(Id),
    title: Type.Optional(text(TITLE_LENGTH_MAX, 'session title')),
    settings: Type.Optional(SettingsPatchSchema),
    scheduledAtMs: Type.Optional(MsSinceEpoch),
    engine: Type.Optional(EngineId),
    /** Idempotency key for the create command. */
    requestId: Type.Optional(RequestId),
  },
  strict,
);
export const CommandBodySchema = Type.Object({ id: RequestId, command: CommandSchema }, strict);
export const EndBodySchema = Type.Object({ id: Type.Optional(RequestId) }, strict);
export const AdminListQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$', description: 'page size (default and maximum: limits.adminListMax)' })),
    after: Type.Optional(Id),
  },
  strict,
);
export const DemoJoinBodySchema = Type.Object({ session: Id, name: text(NAME_LENGTH_MAX, 'display name') }, strict);

// ---- checking --------------------------------------------------------------

/** Where a value failed its schema, and why, as a sentence naming the field. */
export interface SchemaProblem {
  readonly path: string;
  readonly message: string;
}

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: SchemaProblem };

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/** The compiled checker of a schema: compiled on first use, then reused. */
export function compiledCheck<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = compiled.get(schema);
  if (check === undefined) compiled.set(schema, (check = TypeCompiler.Compile(schema)));
  return check as TypeCheck<T>;
}

/** Checks `value` against `schema`; the problem names the field (`root` prefixes the path, e.g. `body`). */
export function checkAgainst<T extends TSchema>(schema: T, value: unknown, root: string): Checked<Static<T>> {
  if (compiledCheck(schema).Check(value)) return { ok: true, value: value as Static<T> };
  return { ok: false, problem: firstProblem(schema, value, root) };
}

/**
 * The first problem, described. Unions of tagged objects (Command,
 * ClientMessage) are explained through the variant the `type` field selects,
 * so the message names the real field instead of "Expected union value".
 * Runs only for input that already failed, so its cost does not matter.
 */
function firstProblem(schema: TSchema, value: unknown, path: string): SchemaProblem {
  const error = compiledCheck(schema).Errors(value).First();
  if (error === undefined) return { path, message: 'does not match its schema' };
  const at = `${path}${error.path}`;
  if (TypeGuard.IsUnion(error.schema) && isTaggedUnion(error.schema.anyOf)) {
    const tags = error.schema.anyOf.map((v) => (v as TObject).properties['type']!.const as string);
    const tag = typeof error.value === 'object' && error.value !== null ? (error.value as { type?: unknown }).type : undefined;
    if (error.value === undefined) return { path: at, message: `${at} is required` };
    if (typeof error.value !== 'object' || error.value === null || Array.isArray(error.value)) return { path: at, message: `${at} must be an object` };
    const chosen = error.schema.anyOf.find((v) => (v as TObject).properties['type']!.const === tag);
    if (chosen === undefined) return { path: `${at}/type`, message: `${at}/type must be one of ${tags.join(', ')}; got ${JSON.stringify(tag ?? null)}` };
    return firstProblem(chosen, error.value, at);
  }
  if (TypeGuard.IsUnion(error.schema) && error.schema.anyOf.every((v) => TypeGuard.IsLiteral(v))) {
    const allowed = error.schema.anyOf.map((v) => JSON.stringify(v.const)).join(', ');
    return { path: at, message: `${at} must be one of ${allowed}; got ${shown(error.value)}` };
  }
  return { path: at, message: `${at}: ${describe(error.message, error.value)}` };
}

function isTaggedUnion(variants: readonly TSchema[]): boolean {
  return variants.every((v) => TypeGuard.IsObject(v) && TypeGuard.IsLiteral(v.properties['type']));
}

function describe(message: string, value: unknown): string {
  if (message === 'Unexpected property') return 'unknown field (not in the schema)';
  if (message === 'Expected required property') return 'is required';
  return `${message.charAt(0).toLowerCase()}${message.slice(1)}; got ${shown(value)}`;
}

/** A value for a message: long strings by their length, so an error never echoes a megabyte back. */
function shown(value: unknown): string {
  if (typeof value === 'string' && value.length > 40) return `a string of ${value.length} characters`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Parses and checks one WebSocket text message. Compiled checks run on the
 * hot path; the variant is picked by `type` first so a failure is explained
 * without trying every variant.
 */
export function checkClientMessage(value: unknown): Checked<ClientMessage> {
  const variants = CLIENT_MESSAGE_VARIANTS as Record<string, TObject>;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, problem: { path: 'message', message: 'message must be a JSON object' } };
  const type = (value as { type?: unknown }).type;
  const schema = typeof type === 'string' && Object.hasOwn(variants, type) ? variants[type]! : undefined;
  if (schema === undefined) {
    return { ok: false, problem: { path: 'message/type', message: `message/type must be one of ${Object.keys(variants).join(', ')}; got ${JSON.stringify(type ?? null)}` } };
  }
  return checkAgainst(schema, value, 'message') as Checked<ClientMessage>;
}
