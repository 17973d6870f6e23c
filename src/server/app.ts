/** Builds the conference server over a StateNode: Fastify with the REST
 *  table, the WebSocket gateway on its upgrade event, and the services they
 *  share (commands, hub, presence, index, metrics). `buildServer` opens no
 *  port, so tests call it with `inject`; `startServer` listens (HTTPS / WSS
 *  when the config has a certificate). It does not know replication. */

import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TSchema } from '@sinclair/typebox';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import pino from 'pino';
import { planCommand } from '../conference/commands.ts';
import { AdminCredential, SYSTEM_ACTOR, TokenVerifier } from './auth.ts';
import { type CommandResult, CommandService } from './command-service.ts';
import { type ServerConfig, ServerConfigError } from './config.ts';
import { MemoryCommandDedupe } from './dedupe.ts';
import { ReplicatedCommandDedupe } from './replicated-dedupe.ts';
import { DEMO_NOTICE, DemoIssuer, type DemoOptions } from './demo.ts';
import { type ErrorCode, refusal } from './errors.ts';
import { Hub } from './hub.ts';
import { ServerMetrics } from './metrics.ts';
import { PresenceTracker, presenceIn } from './presence.ts';
import { type RestDeps, type Route, restRoutes, sendRefusal } from './rest.ts';
import { checkAgainst } from './schemas.ts';
import { SessionIndex } from './session-index.ts';
import { SESSIONS_PER_SWEEP_DEFAULT, SessionPurger } from './session-purge.ts';
import type { StateNode } from './state-node.ts';
import type { NodeInfo } from '../conference/api.ts';
import { Gateway, WS_PATH } from './ws-gateway.ts';
import { type WebOptions, registerWeb } from './web.ts';

export interface BuildServerOptions {
  readonly node: StateNode;
  readonly config: ServerConfig;
  readonly logger?: pino.Logger;
  /** Turns on the demo token issuer (POST /v1/demo/join). Only `confstate demo` / `npm start` pass it. */
  readonly demo?: DemoOptions;
  /** Wall clock; default Date.now (tests pass their own). */
  readonly clock?: { nowMs(): number };
  /** Serves the conference page at `/` (web.ts); the CLI passes it. */
  readonly web?: WebOptions;
}

export interface BuiltServer {
  readonly app: FastifyInstance;
  /** Parts tests and the CLI look at. */
  readonly gateway: Gateway;
  readonly presence: PresenceTracker;
  readonly hub: Hub;
  readonly commands: CommandService;
  /** Closes connections, timers and the HTTP server; idempotent. */
  close(): Promise<void>;
}

/** Builds the app without listening. */
export function buildServer(options: BuildServerOptions): BuiltServer {
  const { node, config } = options;
  const logger = options.logger ?? pino({ level: 'silent' });
  const clock = options.clock ?? { nowMs: () => Date.now() };
  if (options.demo !== undefined && config.auth.hs256Secret === undefined) {
    throw new ServerConfigError('demo mode signs its tokens with HS256: configure auth.hs256Secret');
  }
  const limits = config.limits;
  const index = new SessionIndex(node);
  const hub = new Hub(node, limits, randomBytes(6).toString('hex'));
  const localDedupe = new MemoryCommandDedupe<CommandResult>({ entriesMax: limits.dedupeEntriesMax, ttlMs: limits.dedupeTtlMs }, clock);
  const dedupe = new ReplicatedCommandDedupe(localDedupe, node, { slots: limits.dedupeSlots, ttlMs: limits.dedupeTtlMs }, clock);
  // The metrics read the gateway at scrape time, after it exists.
  const metrics: ServerMetrics = new ServerMetrics({
    node,
    index,
    wsConnections: (): number => gateway.connectionCount,
    subscriptions: () => hub.counts().subscriptions,
    dedupe: () => ({ records: dedupe.recordCount, waitingUpdates: dedupe.waitingCount }),
  });
  const commands = new CommandService(node, planCommand, dedupe, index, limits, clock, metrics);
  const presence = new PresenceTracker({
    graceMs: limits.presenceGraceMs,
    presenceOf: (session, participant) => {
      const view = commands.view(session);
      return view?.phase === 'ended' ? undefined : presenceIn(view, participant); // an ended session keeps its last presence
    },
    isPrimary: () => node.nodeInfo().role === 'primary',
    setPresence: async (session, participant, presence) => {
      const result = await commands.execute({ session, actor: SYSTEM_ACTOR, requestId: undefined, command: { type: 'set_presence', participant, presence } });
      if (!result.ok) logger.warn({ session, participant, presence, code: result.error.code }, `presence change refused: ${result.error.message}`);
    },
  });
  const verifier = new TokenVerifier(config.auth);
  const errorSent = (code: ErrorCode): void => metrics.wsError(code);
  const gateway: Gateway = new Gateway({ node, limits, verifier, hub, commands, presence, clock, clockToleranceMs: config.auth.clockToleranceS * 1000, logger, errorSent });
  const demo = options.demo === undefined ? undefined : new DemoIssuer(config.auth.hs256Secret!, options.demo.tokenTtlMs ?? limits.demoTokenTtlMs, limits.demoSessionsMax, clock, config.auth);
  if (demo !== undefined) logger.warn({ demo: true }, `${DEMO_NOTICE} POST /v1/demo/join issues tokens to anyone.`);

  const app = createFastify(config, logger);
  const deps: RestDeps = { node, config, commands, hub, index, verifier, admin: new AdminCredential(config.auth.adminSecret), metrics, demo, logger, startedAtMs: clock.nowMs(), clock };
  for (const route of restRoutes(deps)) register(app, route);
  if (options.web !== undefined) registerWeb(app, options.web);
  app.server.on('upgrade', (request, socket, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === WS_PATH) gateway.handleUpgrade(request, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  const purger = new SessionPurger({
    index,
    purge: (session) => commands.purge(session),
    isPrimary: () => node.nodeInfo().role === 'primary',
    clock,
    retentionMs: limits.endedSessionRetentionMs,
    sessionsPerSweep: SESSIONS_PER_SWEEP_DEFAULT,
  });
  const purgeTimer = setInterval(() => {
    void purger.sweep().then((swept) => {
      metrics.sessionsPurged(swept.sessions, swept.failed.length);
      if (swept.sessions > 0) logger.info({ sessions: swept.sessions, elements: swept.elements }, 'purged ended sessions');
      for (const { session, error } of swept.failed) logger.warn({ session, code: error.code }, `purging ended session failed (the next sweep tries again): ${error.message}`);
    });
  }, purgeIntervalMs(limits.endedSessionRetentionMs));
  purgeTimer.unref();

  let wasPrimary = node.nodeInfo().role === 'primary';
  const nodeKey = (info: NodeInfo): string => `${info.role} ${info.epoch} ${info.primaryUrl}`;
  let announced = nodeKey(node.nodeInfo());
  const epochTimer = setInterval(() => {
    // The new role first, then the fresh snapshots of a new epoch: a client sees why its streams restart.
    const info = node.nodeInfo();
    if (nodeKey(info) !== announced) {
      announced = nodeKey(info);
      gateway.announceNode(info);
    }
    hub.checkEpoch();
    const primary = info.role === 'primary';
    if (primary && !wasPrimary) {
      const swept = presence.sweep([...presentMembers(node, commands)]);
      logger.info({ swept }, 'became primary: members without a connection here are reconnecting until they return or the grace ends');
    }
    wasPrimary = primary;
  }, config.epochCheckIntervalMs);
  epochTimer.unref();

  // WebSocket connections first (the HTTP server's close waits for every socket, upgraded ones too), then the rest.
  app.addHook('preClose', async () => {
    clearInterval(epochTimer);
    clearInterval(purgeTimer);
    presence.close();
    await gateway.close();
  });
  app.addHook('onClose', async () => {
    for (const part of [hub, index, commands, dedupe]) part.close();
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= app.close());
  return { app, gateway, presence, hub, commands, close };
}

/** Sweeps for ended sessions often enough that one is purged within half its retention late, at most once a minute. */
export function purgeIntervalMs(retentionMs: number): number {
  return Math.max(100, Math.min(60_000, Math.floor(retentionMs / 2)));
}

/** Every joined or reconnecting member of every session that has not ended. */
function* presentMembers(node: StateNode, commands: CommandService): Iterable<{ session: string; participant: string }> {
  for (const session of node.sessionIds()) {
    const view = commands.view(session);
    if (view === undefined || view.phase === 'ended') continue;
    for (const p of view.participants) if (p.presence === 'joined' || p.presence === 'reconnecting') yield { session, participant: p.id };
  }
}

function createFastify(config: ServerConfig, logger: pino.Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: config.limits.bodyBytesMax,
    return503OnClosing: true,
    // One log line per request would drown the logs at the API's rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    ...(config.tls === undefined ? {} : { https: { cert: config.tls.certPem, key: config.tls.keyPem } }),
  }) as unknown as FastifyInstance;
  // One validator engine for REST and WebSocket: TypeBox's compiled checks, with the same field-naming messages.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const root = httpPart === 'querystring' ? 'query' : (httpPart ?? 'input');
    return (data: unknown) => {
      const checked = checkAgainst(schema as TSchema, data, root);
      return checked.ok ? { value: data } : { error: new Error(checked.problem.message) };
    };
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = describeFastifyError(error);
    if (known.code === 'internal') request.log.error({ err: error }, 'request failed');
    return sendRefusal(reply, known);
  });
  app.setNotFoundHandler((request, reply) => sendRefusal(reply, refusal('route_not_found', `no route ${request.method} ${request.url.split('?')[0]}`)));
  return app;
}

function describeFastifyError(error: FastifyError): ReturnType<typeof refusal> {
  switch (error.code) {
    case 'FST_ERR_VALIDATION':
      return refusal('invalid_request', error.message);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return refusal('too_large', `the body exceeds ${error.message.match(/\d+/)?.[0] ?? 'the limit of'} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return refusal('unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return refusal('invalid_json', `the body is not JSON: ${error.message}`);
  }
  if (error instanceof SyntaxError) return refusal('invalid_json', `the body is not JSON: ${error.message}`);
  if (error.statusCode !== undefined && error.statusCode < 500) return refusal('invalid_request', error.message);
  return refusal('internal', 'the server failed; it has been logged');
}

function register(app: FastifyInstance, route: Route): void {
  const schema: Record<string, TSchema> = {};
  if (route.params !== undefined) schema['params'] = route.params;
  if (route.querystring !== undefined) schema['querystring'] = route.querystring;
  if (route.body !== undefined && route.bodyInHandler !== true) schema['body'] = route.body;
  app.route({ method: route.method, url: route.url, schema, handler: route.handler });
}

export interface StartServerOptions extends BuildServerOptions {
  /** Host and port; port 0 picks a free one. */
  readonly listen: { readonly host: string; readonly port: number };
}

export interface StartedServer extends BuiltServer {
  /** `http(s)://host:port`: the base of REST; WebSocket at `ws(s)://host:port/v1/ws`. */
  readonly url: string;
  readonly port: number;
}

/** Builds the app and listens: HTTPS / WSS when the config has a certificate and key. */
export async function startServer(options: StartServerOptions): Promise<StartedServer> {
  const built = buildServer(options);
  await built.app.listen({ host: options.listen.host, port: options.listen.port });
  const address = built.app.server.address() as AddressInfo;
  const scheme = options.config.tls === undefined ? 'http' : 'https';
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { ...built, url: `${scheme}://${host}:${address.port}`, port: address.port };
}
