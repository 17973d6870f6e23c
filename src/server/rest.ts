/** The REST routes under /v1 plus health, readiness and metrics, as one
 *  table: each row's schemas validate the request (through Fastify) and
 *  describe it in the OpenAPI document, so the two cannot drift. Handlers
 *  authenticate, then call the command service, hub or index. This file does
 *  not know WebSockets or the rules of commands. */

import { randomBytes } from 'node:crypto';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type pino from 'pino';
import type { Command } from '../conference/model.ts';
import { ADMIN_ACTOR, type AdminCredential, actorOf, bearerOf, checkSessionAccess, type Principal, type TokenVerifier } from './auth.ts';
import type { CommandResult, CommandService } from './command-service.ts';
import type { ServerConfig } from './config.ts';
import { DEMO_NOTICE, type DemoIssuer } from './demo.ts';
import { type Refusal, errorBody, httpStatusOf, refusal } from './errors.ts';
import type { Hub } from './hub.ts';
import type { ServerMetrics } from './metrics.ts';
import { ErrorBodySchema, type RouteDoc, SessionViewSchema, SnapshotBodySchema, openApiDocument } from './openapi.ts';
import {
  AdminListQuerySchema,
  CommandBodySchema,
  CreateSessionBodySchema,
  DemoJoinBodySchema,
  EndBodySchema,
  SessionParamsSchema,
  checkAgainst,
} from './schemas.ts';
import type { SessionIndex } from './session-index.ts';
import { type StateNode, readRefusal } from './state-node.ts';

export interface RestDeps {
  readonly node: StateNode;
  readonly config: ServerConfig;
  readonly commands: CommandService;
  readonly hub: Hub;
  readonly index: SessionIndex;
  readonly verifier: TokenVerifier;
  readonly admin: AdminCredential;
  readonly metrics: ServerMetrics;
  readonly demo: DemoIssuer | undefined;
  readonly logger: pino.Logger;
  readonly startedAtMs: number;
  readonly clock: { nowMs(): number };
}

export interface Route extends RouteDoc {
  /** Body validated in the handler (it may be absent), not by Fastify. */
  readonly bodyInHandler?: boolean;
  readonly handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

type Caller = { readonly kind: 'admin' } | { readonly kind: 'token'; readonly principal: Principal };

const json = (description: string, schema: TSchema) => ({ description, schema });

/** Answers a refusal with its status and the error body. */
export function sendRefusal(reply: FastifyReply, error: Refusal): FastifyReply {
  return reply.code(httpStatusOf(error.code)).send(errorBody(error));
}

/** The bearer's identity, or the refusal to answer. */
async function callerOf(request: FastifyRequest, deps: RestDeps, allow: 'token' | 'admin' | 'token_or_admin'): Promise<Caller | Refusal> {
  const token = bearerOf(request.headers.authorization);
  if (token === undefined) return refusal('unauthenticated', 'send Authorization: Bearer <token>');
  if (allow !== 'token' && deps.admin.matches(token)) return { kind: 'admin' };
  if (allow === 'admin') return refusal('admin_required', 'this route needs the admin credential');
  const check = await deps.verifier.verify(token);
  return check.ok ? { kind: 'token', principal: check.principal } : check.error;
}

function isRefusal(value: Caller | Refusal): value is Refusal {
  return 'code' in value;
}

/** The caller if it may act in `session` (a token for it, a service token, or admin). */
async function sessionCaller(request: FastifyRequest, reply: FastifyReply, deps: RestDeps, session: string): Promise<Caller | undefined> {
  const caller = await callerOf(request, deps, 'token_or_admin');
  if (isRefusal(caller)) return void sendRefusal(reply, caller);
  const denied = caller.kind === 'token' ? checkSessionAccess(caller.principal, session) : undefined;
  if (denied !== undefined) return void sendRefusal(reply, denied);
  return caller;
}

function sendResult(reply: FastifyReply, deps: RestDeps, session: string, result: CommandResult, okStatus: number): FastifyReply {
  if (!result.ok) return sendRefusal(reply, result.error);
  return reply.code(okStatus).send({ ok: true, duplicate: result.duplicate, session: deps.commands.view(session) ?? null });
}

async function run(deps: RestDeps, caller: Caller, session: string, requestId: string | undefined, command: Command): Promise<CommandResult> {
  const actor = caller.kind === 'admin' ? ADMIN_ACTOR : actorOf(caller.principal);
  return deps.commands.execute({ session, actor, requestId, command });
}

const CommandOkSchema = Type.Object({ ok: Type.Literal(true), duplicate: Type.Boolean(), session: Type.Union([SessionViewSchema, Type.Null()]) }, { title: 'CommandOk' });

/** POST /v1/sessions: the caller's own session for a host token, the given or a generated id otherwise. */
function createSessionRoute(deps: RestDeps): Route {
  return {
    method: 'POST', url: '/v1/sessions', operationId: 'createSession', auth: 'token_or_admin',
    summary: 'Create a session (service token, admin credential, or a host token for that session id); an id is generated if absent.',
    body: CreateSessionBodySchema,
    responses: { 201: json('created', CommandOkSchema), 409: json('exists', ErrorBodySchema) },
    handler: async (request, reply) => {
      const body = request.body as Static<typeof CreateSessionBodySchema>;
      const caller = await callerOf(request, deps, 'token_or_admin');
      if (isRefusal(caller)) return sendRefusal(reply, caller);
      const own = caller.kind === 'token' && !caller.principal.service ? caller.principal.session : undefined;
      const session = body.id ?? own ?? `s-${randomBytes(12).toString('base64url')}`;
      const denied = caller.kind === 'token' ? checkSessionAccess(caller.principal, session) : undefined;
      if (denied !== undefined) return sendRefusal(reply, denied);
      const { id: _id, requestId, ...fields } = body;
      const result = await run(deps, caller, session, requestId, { type: 'create', ...fields });
      if (result.ok) void reply.header('location', `/v1/sessions/${session}`);
      return sendResult(reply, deps, session, result, 201);
    },
  };
}

function sessionRoutes(deps: RestDeps): Route[] {
  return [
    createSessionRoute(deps),
    {
      method: 'GET', url: '/v1/sessions/:id', operationId: 'getSession', auth: 'token_or_admin', summary: 'The session as a view.',
      params: SessionParamsSchema,
      responses: { 200: json('the session', SessionViewSchema), 404: json('no such session', ErrorBodySchema), 503: json('this node is still catching up (unavailable)', ErrorBodySchema) },
      handler: async (request, reply) => {
        const { id } = request.params as Static<typeof SessionParamsSchema>;
        if ((await sessionCaller(request, reply, deps, id)) === undefined) return reply;
        const incomplete = readRefusal(deps.node.status());
        if (incomplete !== undefined) return sendRefusal(reply, incomplete);
        const view = deps.commands.view(id);
        return view === undefined ? sendRefusal(reply, refusal('not_found', `session ${JSON.stringify(id)} does not exist`)) : reply.send(view);
      },
    },
    {
      method: 'GET', url: '/v1/sessions/:id/snapshot', operationId: 'getSnapshot', auth: 'token_or_admin',
      summary: "The session's elements at a stream position (a WebSocket subscribe can resume from it).",
      params: SessionParamsSchema,
      responses: { 200: json('the snapshot', SnapshotBodySchema), 404: json('no such session', ErrorBodySchema), 503: json('this node is still catching up (unavailable)', ErrorBodySchema) },
      handler: async (request, reply) => {
        const { id } = request.params as Static<typeof SessionParamsSchema>;
        if ((await sessionCaller(request, reply, deps, id)) === undefined) return reply;
        const incomplete = readRefusal(deps.node.status());
        if (incomplete !== undefined) return sendRefusal(reply, incomplete);
        if (deps.commands.view(id) === undefined) return sendRefusal(reply, refusal('not_found', `session ${JSON.stringify(id)} does not exist`));
        return reply.send({ session: id, ...deps.hub.snapshot(id) });
      },
    },
    {
      method: 'POST', url: '/v1/sessions/:id/commands', operationId: 'sendCommand', auth: 'token_or_admin',
      summary: 'Run one command; `id` is the idempotency key (a retry with the same id is applied once).',
      params: SessionParamsSchema, body: CommandBodySchema,
      responses: { 200: json('applied', CommandOkSchema), 403: json('refused', ErrorBodySchema), 421: json('not the primary', ErrorBodySchema) },
      handler: async (request, reply) => {
        const { id } = request.params as Static<typeof SessionParamsSchema>;
        const body = request.body as Static<typeof CommandBodySchema>;
        const caller = await sessionCaller(request, reply, deps, id);
        if (caller === undefined) return reply;
        return sendResult(reply, deps, id, await run(deps, caller, id, body.id, body.command), 200);
      },
    },
    {
      method: 'POST', url: '/v1/sessions/:id/end', operationId: 'endSession', auth: 'token_or_admin', summary: 'End the session (host, service or admin).',
      params: SessionParamsSchema, body: EndBodySchema, bodyRequired: false, bodyInHandler: true,
      responses: { 200: json('ended', CommandOkSchema) },
      handler: async (request, reply) => {
        const { id } = request.params as Static<typeof SessionParamsSchema>;
        const checked = checkAgainst(EndBodySchema, request.body ?? {}, 'body');
        if (!checked.ok) return sendRefusal(reply, refusal('invalid_request', checked.problem.message));
        const caller = await sessionCaller(request, reply, deps, id);
        if (caller === undefined) return reply;
        return sendResult(reply, deps, id, await run(deps, caller, id, checked.value.id, { type: 'end' }), 200);
      },
    },
  ];
}

const SessionListSchema = Type.Object({
  sessions: Type.Array(Type.Object({ id: Type.String(), title: Type.String(), phase: Type.String(), createdAtMs: Type.Number(), present: Type.Integer() })),
  next: Type.Union([Type.String(), Type.Null()], { description: 'pass as `after` for the next page' }),
});

function adminAndDemoRoutes(deps: RestDeps): Route[] {
  const routes: Route[] = [
    {
      method: 'GET', url: '/v1/admin/sessions', operationId: 'listSessions', auth: 'admin', summary: 'Sessions this node holds, by id, with present participants.',
      querystring: AdminListQuerySchema,
      responses: { 200: json('a page of sessions', SessionListSchema) },
      handler: async (request, reply) => {
        const caller = await callerOf(request, deps, 'admin');
        if (isRefusal(caller)) return sendRefusal(reply, caller);
        const query = request.query as Static<typeof AdminListQuerySchema>;
        const max = deps.config.limits.adminListMax;
        const limit = Math.max(1, Math.min(max, query.limit === undefined ? max : Number(query.limit)));
        const sessions = deps.index.list(query.after, limit + 1);
        const page = sessions.slice(0, limit);
        return reply.send({ sessions: page, next: sessions.length > limit ? page[page.length - 1]!.id : null });
      },
    },
  ];
  const demo = deps.demo;
  if (demo !== undefined) {
    routes.push({
      method: 'POST', url: '/v1/demo/join', operationId: 'demoJoin', auth: 'none',
      summary: 'DEMO ONLY (absent in production): a token for anyone; the first joiner of a new session is its host.',
      body: DemoJoinBodySchema,
      responses: { 200: json('a demo token', Type.Object({ token: Type.String(), participant: Type.String(), session: Type.String(), role: Type.String(), name: Type.String(), expiresAtMs: Type.Number(), demo: Type.Literal(true), notice: Type.String() })) },
      handler: async (request, reply) => {
        const body = request.body as Static<typeof DemoJoinBodySchema>;
        const grant = await demo.join(body.session, deps.index.exists(body.session));
        deps.logger.warn({ session: grant.session, participant: grant.participant, role: grant.role, demo: true }, DEMO_NOTICE);
        return reply.send({ ...grant, name: body.name });
      },
    });
  }
  return routes;
}

function operationalRoutes(deps: RestDeps, all: () => readonly Route[]): Route[] {
  return [
    {
      method: 'GET', url: '/healthz', operationId: 'health', auth: 'none', summary: 'Liveness: 200 while the process serves.',
      responses: { 200: json('serving', Type.Object({ status: Type.Literal('ok'), role: Type.String(), epoch: Type.Number(), nodeId: Type.Number(), uptimeS: Type.Number() })) },
      handler: async (_request, reply) => {
        const info = deps.node.status().info;
        return reply.send({ status: 'ok', role: info.role, epoch: info.epoch, nodeId: info.nodeId, uptimeS: Math.round((deps.clock.nowMs() - deps.startedAtMs) / 1000) });
      },
    },
    {
      method: 'GET', url: '/readyz', operationId: 'ready', auth: 'none', summary: 'Readiness: 200 only when the node takes writes (primary with its secondary, or per minReplicas).',
      responses: { 200: json('ready', Type.Object({ ready: Type.Literal(true) })), 503: json('not ready', Type.Object({ ready: Type.Literal(false), reason: Type.String() })) },
      handler: async (_request, reply) => {
        const status = deps.node.status();
        return status.ready ? reply.send({ ready: true, role: status.info.role, degraded: status.degraded }) : reply.code(503).send({ ready: false, reason: status.reason ?? 'not ready', role: status.info.role });
      },
    },
    {
      method: 'GET', url: '/metrics', operationId: 'metrics', auth: deps.config.metricsAccess === 'admin' ? 'admin' : 'none', summary: 'Prometheus text exposition.',
      responses: { 200: { description: 'metrics', schema: Type.String(), contentType: 'text/plain' } },
      handler: async (request, reply) => {
        if (deps.config.metricsAccess === 'admin') {
          const caller = await callerOf(request, deps, 'admin');
          if (isRefusal(caller)) return sendRefusal(reply, caller);
        }
        return reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.text());
      },
    },
    {
      method: 'GET', url: '/v1/openapi.json', operationId: 'openapi', auth: 'none', summary: 'This document.',
      responses: { 200: json('OpenAPI 3.1', Type.Object({}, { additionalProperties: true })) },
      handler: async (_request, reply) => reply.send(openApiDocument(all())),
    },
  ];
}

/** Every route of the app. */
export function restRoutes(deps: RestDeps): Route[] {
  const routes: Route[] = [];
  routes.push(...sessionRoutes(deps), ...adminAndDemoRoutes(deps), ...operationalRoutes(deps, () => routes));
  return routes;
}
