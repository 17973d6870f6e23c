/** The OpenAPI 3.1 document of the REST API, built from the same TypeBox
 *  schemas that validate requests (schemas.ts) plus the response shapes,
 *  and the WebSocket messages as component schemas. It does not know
 *  handlers: rest.ts hands it the route table. */

import { type Static, type TObject, type TSchema, Type } from '@sinclair/typebox';
import { API_PROTOCOL_VERSION, type ServerMessage } from '../conference/api.ts';
import type { SessionView } from '../conference/model.ts';
import { ERRORS } from './errors.ts';
import { ClientMessageSchema, CommandSchema, Id, RequestId } from './schemas.ts';

// ---- response shapes (documentation; the compile checks keep them equal to the types) ----

const Json = Type.Unknown({ description: 'any JSON value' });
const RoleSchema = Type.Union([Type.Literal('host'), Type.Literal('moderator'), Type.Literal('participant'), Type.Literal('viewer')]);
const PresenceSchema = Type.Union(['lobby', 'joined', 'reconnecting', 'left', 'denied', 'kicked'].map((p) => Type.Literal(p as 'lobby')));
const TrackKindSchema = Type.Union([Type.Literal('audio'), Type.Literal('video'), Type.Literal('screen')]);
const TrackViewSchema = Type.Object({ kind: TrackKindSchema, published: Type.Boolean(), muted: Type.Boolean(), mutedBy: Type.Union([Type.String(), Type.Null()]) });

export const ElementStateSchema = Type.Object(
  { key: Type.String(), ts: Type.Number({ description: 'HLC timestamp: newer wins' }), value: Type.Union([Json, Type.Null()], { description: 'null: deleted' }) },
  { title: 'ElementState' },
);

export const SessionViewSchema = Type.Object(
  {
    id: Type.String(),
    title: Type.String(),
    organizer: Type.String(),
    createdAtMs: Type.Number(),
    scheduledAtMs: Type.Union([Type.Number(), Type.Null()]),
    phase: Type.Union([Type.Literal('scheduled'), Type.Literal('open'), Type.Literal('locked'), Type.Literal('ended')]),
    settings: Type.Object({
      lobby: Type.Boolean(),
      maxParticipants: Type.Number(),
      selfUnmute: Type.Boolean(),
      screenShare: Type.Union([Type.Literal('everyone'), Type.Literal('moderators')]),
    }),
    recording: Type.Object({ active: Type.Boolean(), by: Type.String(), sinceMs: Type.Union([Type.Number(), Type.Null()]) }),
    engine: Type.Union([Type.String(), Type.Null()]),
    participants: Type.Array(
      Type.Object({
        id: Type.String(),
        name: Type.String(),
        role: RoleSchema,
        roleStored: Type.Boolean(),
        presence: PresenceSchema,
        joinedAtMs: Type.Number(),
        tracks: Type.Object({ audio: Type.Optional(TrackViewSchema), video: Type.Optional(TrackViewSchema), screen: Type.Optional(TrackViewSchema) }),
        handPosition: Type.Union([Type.Number(), Type.Null()]),
      }),
    ),
    hands: Type.Array(Type.String()),
  },
  { title: 'SessionView' },
);

const NodeInfoSchema = Type.Object({
  nodeId: Type.Number(),
  role: Type.Union([Type.Literal('primary'), Type.Literal('secondary')]),
  epoch: Type.Number(),
  primaryUrl: Type.Union([Type.String(), Type.Null()]),
});

export const ErrorBodySchema = Type.Object(
  {
    error: Type.Object({
      code: Type.Union(Object.keys(ERRORS).map((code) => Type.Literal(code))),
      message: Type.String(),
      primaryUrl: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'with not_primary: where writes go' })),
    }),
  },
  { title: 'ErrorBody' },
);

export const SnapshotBodySchema = Type.Object(
  { session: Type.String(), stream: Type.String(), seq: Type.Integer(), elements: Type.Array(ElementStateSchema) },
  { title: 'Snapshot', description: 'The state at `seq` of `stream`: a WebSocket subscribe may resume from it.' },
);

const message = <K extends string, T extends Record<string, TSchema>>(type: K, fields: T, description: string) =>
  Type.Object({ type: Type.Literal(type), ...fields }, { title: type, description });

export const ServerMessageSchema = Type.Union(
  [
    message(
      'welcome',
      {
        participant: Type.String(),
        session: Type.String(),
        role: RoleSchema,
        service: Type.Boolean(),
        node: NodeInfoSchema,
        limits: Type.Object(
          { messageBytesMax: Type.Integer({ minimum: 1 }), resumeKnownMax: Type.Integer({ minimum: 0 }) },
          { description: 'A message longer than messageBytesMax closes the connection (1009); size subscribe/known by these.' },
        ),
      },
      'The hello was accepted.',
    ),
    message('snapshot', {
      session: Type.String(), stream: Type.String(), seq: Type.Integer(), elements: Type.Array(ElementStateSchema), resumed: Type.Literal(false), reason: Type.Union([Type.String(), Type.Null()]),
    }, 'The whole session at seq; with a reason when a resume could be neither replayed nor bridged.'),
    message('resumed', {
      session: Type.String(), stream: Type.String(), seq: Type.Integer(), changes: Type.Optional(Type.Array(ElementStateSchema)), reason: Type.Optional(Type.String()),
    }, 'The resume succeeded: the deltas after seq follow. With changes (a bridge, after a subscribe with known): stream and seq are the current position, and changes turn the mirror known described into the session at seq.'),
    message('delta', { session: Type.String(), seq: Type.Integer(), changes: Type.Array(ElementStateSchema) }, 'Changes; seq = previous + 1.'),
    message('unsubscribed', { session: Type.String(), reason: Type.String() }, 'No more deltas for this session (requested, kicked, denied).'),
    message('result', { id: Type.String(), ok: Type.Literal(true), duplicate: Type.Boolean() }, 'A command was applied (duplicate: a retry of one applied before).'),
    message('result', { id: Type.String(), ok: Type.Literal(false), code: Type.String(), message: Type.String(), primaryUrl: Type.Optional(Type.Union([Type.String(), Type.Null()])) }, 'A command was refused.'),
    message('signal', { session: Type.String(), from: Type.String(), payload: Json }, 'A relayed signalling payload.'),
    message('pong', { id: Type.String() }, 'Answer to ping.'),
    message('node', { node: NodeInfoSchema }, 'The node changed role, epoch or known primary since welcome (a promoted secondary): the same fields as welcome.node.'),
    message('error', { code: Type.String(), message: Type.String(), fatal: Type.Boolean() }, 'A problem not tied to a command; fatal closes the socket.'),
  ],
  { title: 'ServerMessage' },
);

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Mutable<T> = T extends object ? { -readonly [K in keyof T]: Mutable<T[K]> } : T;
const _viewMatches: Same<Omit<Static<typeof SessionViewSchema>, 'participants'>, Omit<Mutable<SessionView>, 'participants'>> = true;
const _messagesMatch: Same<Static<typeof ServerMessageSchema>['type'], ServerMessage['type']> = true;
void _viewMatches;
void _messagesMatch;

// ---- the document ----------------------------------------------------------

/** What the document needs of a route. */
export interface RouteDoc {
  readonly method: 'GET' | 'POST';
  /** Fastify syntax: `/v1/sessions/:id`. */
  readonly url: string;
  readonly operationId: string;
  readonly summary: string;
  /** `none`, `token` (bearer JWT), `admin` (admin credential), `token_or_admin`. */
  readonly auth: 'none' | 'token' | 'admin' | 'token_or_admin';
  readonly params?: TObject;
  readonly querystring?: TObject;
  readonly body?: TSchema;
  readonly bodyRequired?: boolean;
  readonly responses: Readonly<Record<number, { readonly description: string; readonly schema?: TSchema; readonly contentType?: string }>>;
}

/** The OpenAPI 3.1 document for `routes`. */
export function openApiDocument(routes: readonly RouteDoc[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    (paths[path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return plain({
    openapi: '3.1.0',
    info: {
      title: 'confstate conference API',
      version: `${API_PROTOCOL_VERSION}.0.0`,
      description: 'Conference sessions over REST; live state over the WebSocket /v1/ws (messages under components.schemas ClientMessage / ServerMessage). Error codes: components.schemas.ErrorBody.',
    },
    paths,
    components: {
      securitySchemes: {
        token: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'claims: sub, session (id or *), role, exp' },
        admin: { type: 'http', scheme: 'bearer', description: 'the admin credential' },
      },
      schemas: {
        ErrorBody: ErrorBodySchema, SessionView: SessionViewSchema, Snapshot: SnapshotBodySchema, ElementState: ElementStateSchema,
        Command: CommandSchema, ClientMessage: ClientMessageSchema, ServerMessage: ServerMessageSchema, Id, RequestId,
      },
    },
  });
}

function operation(route: RouteDoc): Record<string, unknown> {
  const parameters: unknown[] = [];
  for (const [where, schema] of [['path', route.params], ['query', route.querystring]] as const) {
    if (schema === undefined) continue;
    const required = new Set(schema.required ?? []);
    for (const [name, property] of Object.entries(schema.properties)) parameters.push({ name, in: where, required: where === 'path' || required.has(name), schema: property });
  }
  const security = { none: [], token: [{ token: [] }], admin: [{ admin: [] }], token_or_admin: [{ token: [] }, { admin: [] }] }[route.auth];
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = response.schema === undefined ? { description: response.description } : { description: response.description, content: { [response.contentType ?? 'application/json']: { schema: response.schema } } };
  }
  responses['default'] ??= { description: 'an error', content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } } };
  return {
    operationId: route.operationId,
    summary: route.summary,
    security,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body === undefined ? {} : { requestBody: { required: route.bodyRequired ?? true, content: { 'application/json': { schema: route.body } } } }),
    responses,
  };
}

/** Plain JSON: TypeBox's symbol-keyed metadata dropped. */
function plain(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}
