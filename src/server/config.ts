/** The server's settings: every limit with its default and where the default
 *  comes from, the token keys, TLS. `serverConfig` merges a partial input over
 *  the defaults and refuses a bad setting with a message naming it. It does
 *  not know where settings come from (flags, env, files: that is src/cli). */

import { readFileSync } from 'node:fs';

export class ServerConfigError extends Error {
  override name = 'ServerConfigError';
}

/** Algorithms a token may be signed with. `none` is not among them and never will be. */
export type TokenAlgorithm = 'HS256' | 'EdDSA' | 'RS256';
export type PublicKeyAlgorithm = 'EdDSA' | 'RS256';

/** A JSON Web Key Set as read from a file: `{ keys: [...] }`. */
export interface JsonWebKeySet {
  readonly keys: readonly Record<string, unknown>[];
}

export interface AuthConfig {
  /** HS256 shared secret (UTF-8), at least 32 bytes (RFC 7518 §3.2: a key as long as the hash). */
  readonly hs256Secret: string | undefined;
  /** One PEM (SPKI) public key and the one algorithm it verifies. */
  readonly publicKey: { readonly pem: string; readonly algorithm: PublicKeyAlgorithm } | undefined;
  /** A key set and the algorithms accepted from it; a key is picked by the token's `kid`. */
  readonly jwks: { readonly keySet: JsonWebKeySet; readonly algorithms: readonly PublicKeyAlgorithm[] } | undefined;
  /** Required `iss` / `aud` when set. */
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  /** Allowed clock difference for `exp` / `nbf`, seconds. 5 s: NTP-synced hosts differ by far less. */
  readonly clockToleranceS: number;
  /** Bearer credential for /v1/admin/* (and session creation), at least 32 bytes; undefined = admin routes refuse everyone. */
  readonly adminSecret: string | undefined;
}

export interface ServerLimits {
  /** Largest REST request body. 64 KiB: the largest command (create with every setting) is under 1 KiB. */
  readonly bodyBytesMax: number;
  /** ws maxPayload: a 64 KiB signal payload plus its envelope. */
  readonly wsMessageBytesMax: number;
  /** Largest signalling payload as JSON (the issue: 64 KiB; an SDP offer is ~2–10 KiB). */
  readonly signalPayloadBytesMax: number;
  /** Open WebSocket connections per server. The issue's goal is 5,000 clients on one primary; twice that. */
  readonly wsConnectionsMax: number;
  /** Sessions one connection may follow at once (a page follows one; a media engine a few). */
  readonly subscriptionsPerConnectionMax: number;
  /** A connection that has not said hello by then is closed. */
  readonly helloTimeoutMs: number;
  /** Messages a client may pipeline behind its hello while the token is checked. */
  readonly helloPipelineMax: number;
  /** Token bucket per connection over every message after hello: refill rate and depth. */
  readonly messagesPerSecond: number;
  readonly messageBurst: number;
  /** Invalid messages (bad JSON, schema failures) a connection may send before it is closed. */
  readonly invalidMessagesMax: number;
  /** A connection whose unsent output exceeds this is a slow consumer and is closed. */
  readonly wsBufferedBytesMax: number;
  /** How long a participant whose last connection dropped stays `reconnecting` before `left`. */
  readonly presenceGraceMs: number;
  /**
   * How long an ended session stays readable before the primary deletes its
   * elements (session-purge.ts); its id is free again afterwards. An hour: long
   * enough for late readers to see it ended, short enough that a busy node
   * does not hold a day of finished meetings.
   */
  readonly endedSessionRetentionMs: number;
  /** Deltas held per session for resume. */
  readonly resumeDeltasMax: number;
  /** Sessions whose delta ring is held (least recently used without subscribers are dropped first). */
  readonly resumeSessionsMax: number;
  /**
   * Entries of a subscribe's `known` list (the elements a resuming client's
   * mirror holds, so a resume across streams can be bridged). 2,000: a
   * 400-participant session at ~5 elements each. At ~50 bytes an entry the
   * message-size limit (wsMessageBytesMax) binds first; this one bounds the
   * server's work per resume when keys are short. The SDK's default is the same.
   */
  readonly resumeKnownMax: number;
  /** Changes gathered into one delta before it is sent without waiting for the end of the turn. */
  readonly deltaChangesMax: number;
  /** Sessions (not ended) this node holds; creating one more is refused. The issue's goal: 10,000. */
  readonly sessionsMax: number;
  /** Session mirrors the command service keeps in memory (a dropped one is reloaded from the node). */
  readonly mirrorsMax: number;
  /** Membership / role commands waiting for their session's turn. */
  readonly sessionQueueLengthMax: number;
  /** Idempotency window: remembered command outcomes, and for how long. 5 min covers an SDK's retries across a failover. */
  readonly dedupeEntriesMax: number;
  readonly dedupeTtlMs: number;
  /** Replicated idempotency records kept, in a ring of as many marker elements `d/{slot}` (replicated-dedupe.ts): a retry on the other node after a failover finds them. */
  readonly dedupeSlots: number;
  /** Longest page of GET /v1/admin/sessions. */
  readonly adminListMax: number;
  /** Demo mode: tokens issued live this long, and new sessions remembered for "first joiner is host". */
  readonly demoTokenTtlMs: number;
  readonly demoSessionsMax: number;
}

export interface ServerConfig {
  readonly auth: AuthConfig;
  readonly limits: ServerLimits;
  /** PEM certificate and key: the server speaks HTTPS / WSS. */
  readonly tls: { readonly certPem: string; readonly keyPem: string } | undefined;
  /** Who may read /metrics: everyone who can reach the port, or only the admin credential. */
  readonly metricsAccess: 'open' | 'admin';
  /** How often the hub checks the node's epoch, to start fresh streams after a failover. */
  readonly epochCheckIntervalMs: number;
}

export const SERVER_LIMITS_DEFAULT: ServerLimits = {
  bodyBytesMax: 64 * 1024,
  wsMessageBytesMax: 80 * 1024,
  signalPayloadBytesMax: 64 * 1024,
  wsConnectionsMax: 10_000,
  subscriptionsPerConnectionMax: 16,
  helloTimeoutMs: 5_000,
  helloPipelineMax: 32,
  messagesPerSecond: 100,
  messageBurst: 200,
  invalidMessagesMax: 20,
  wsBufferedBytesMax: 4 * 1024 * 1024,
  presenceGraceMs: 30_000,
  endedSessionRetentionMs: 60 * 60_000,
  resumeDeltasMax: 256,
  resumeSessionsMax: 10_000,
  resumeKnownMax: 2_000,
  deltaChangesMax: 1_000,
  sessionsMax: 10_000,
  mirrorsMax: 10_000,
  sessionQueueLengthMax: 1_000,
  dedupeEntriesMax: 100_000,
  dedupeTtlMs: 5 * 60_000,
  dedupeSlots: 65_536,
  adminListMax: 1_000,
  demoTokenTtlMs: 12 * 60 * 60_000,
  demoSessionsMax: 10_000,
};

const AUTH_DEFAULT: AuthConfig = {
  hs256Secret: undefined,
  publicKey: undefined,
  jwks: undefined,
  issuer: undefined,
  audience: undefined,
  clockToleranceS: 5,
  adminSecret: undefined,
};

/** What a caller gives: any field may be left out; `jwksFile` is read here. */
export interface ServerConfigInput {
  readonly auth?: Partial<AuthConfig> & { readonly jwksFile?: string; readonly jwksAlgorithms?: readonly PublicKeyAlgorithm[] };
  readonly limits?: Partial<ServerLimits>;
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  readonly metricsAccess?: 'open' | 'admin';
  readonly epochCheckIntervalMs?: number;
}

/** Secrets shorter than this are refused (HS256 key length, RFC 7518 §3.2). */
export const SECRET_BYTES_MIN = 32;

/** The largest idempotency ring: 4,194,304 slots, about 84 MB of per-slot state on each node. */
export const DEDUPE_SLOTS_MAX = 4_194_304;

/**
 * Merges `input` over the defaults and checks every setting. Throws a
 * ServerConfigError naming the setting when one is wrong: a server must not
 * start with a weak secret, no way to verify tokens, or a zero limit.
 */
export function serverConfig(input: ServerConfigInput = {}): ServerConfig {
  const limits: ServerLimits = { ...SERVER_LIMITS_DEFAULT, ...dropUndefined(input.limits ?? {}) };
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isSafeInteger(value) && value > 0)) throw new ServerConfigError(`limits.${name} must be a positive integer, got ${String(value)}`);
  }
  if (limits.dedupeSlots > DEDUPE_SLOTS_MAX) {
    throw new ServerConfigError(`limits.dedupeSlots (${limits.dedupeSlots}) cannot exceed ${DEDUPE_SLOTS_MAX}: each node keeps about 20 bytes per slot of the ring`);
  }
  if (limits.signalPayloadBytesMax > limits.wsMessageBytesMax) {
    throw new ServerConfigError(`limits.signalPayloadBytesMax (${limits.signalPayloadBytesMax}) cannot exceed limits.wsMessageBytesMax (${limits.wsMessageBytesMax})`);
  }
  const epochCheckIntervalMs = input.epochCheckIntervalMs ?? 1_000;
  if (!(Number.isSafeInteger(epochCheckIntervalMs) && epochCheckIntervalMs > 0)) throw new ServerConfigError(`epochCheckIntervalMs must be a positive integer`);
  return {
    auth: authConfig(input.auth ?? {}),
    limits,
    tls: input.tls,
    metricsAccess: input.metricsAccess ?? 'open',
    epochCheckIntervalMs,
  };
}

function authConfig(input: NonNullable<ServerConfigInput['auth']>): AuthConfig {
  const { jwksFile, jwksAlgorithms, ...rest } = input;
  const auth: AuthConfig = { ...AUTH_DEFAULT, ...dropUndefined(rest) };
  let jwks = auth.jwks;
  if (jwksFile !== undefined) {
    if (jwks !== undefined) throw new ServerConfigError('auth: give jwks or jwksFile, not both');
    jwks = { keySet: readKeySet(jwksFile), algorithms: jwksAlgorithms ?? ['EdDSA', 'RS256'] };
  }
  checkSecret('auth.hs256Secret', auth.hs256Secret);
  checkSecret('auth.adminSecret', auth.adminSecret);
  if (auth.hs256Secret !== undefined && auth.hs256Secret === auth.adminSecret) {
    throw new ServerConfigError('auth.adminSecret must differ from auth.hs256Secret: whoever signs tokens must not thereby hold the admin credential');
  }
  if (auth.publicKey !== undefined && !['EdDSA', 'RS256'].includes(auth.publicKey.algorithm)) {
    throw new ServerConfigError(`auth.publicKey.algorithm must be EdDSA or RS256, got ${String(auth.publicKey.algorithm)}`);
  }
  if (jwks !== undefined) {
    if (!Array.isArray(jwks.keySet.keys) || jwks.keySet.keys.length === 0) throw new ServerConfigError('auth.jwks holds no keys');
    if (jwks.algorithms.length === 0 || jwks.algorithms.some((a) => a !== 'EdDSA' && a !== 'RS256')) {
      throw new ServerConfigError(`auth.jwks.algorithms must be a non-empty list of EdDSA / RS256, got ${JSON.stringify(jwks.algorithms)}`);
    }
  }
  if (auth.hs256Secret === undefined && auth.publicKey === undefined && jwks === undefined) {
    throw new ServerConfigError('auth: configure at least one of hs256Secret, publicKey, jwks / jwksFile — without one no token can be verified');
  }
  if (!(Number.isFinite(auth.clockToleranceS) && auth.clockToleranceS >= 0 && auth.clockToleranceS <= 300)) {
    throw new ServerConfigError(`auth.clockToleranceS must be within 0..300, got ${auth.clockToleranceS}`);
  }
  return { ...auth, jwks };
}

function checkSecret(name: string, secret: string | undefined): void {
  if (secret === undefined) return;
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < SECRET_BYTES_MIN) throw new ServerConfigError(`${name} is ${bytes} bytes; at least ${SECRET_BYTES_MIN} are required`);
}

function readKeySet(path: string): JsonWebKeySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ServerConfigError(`auth.jwksFile ${path}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as JsonWebKeySet).keys)) {
    throw new ServerConfigError(`auth.jwksFile ${path} is not a JSON Web Key Set ({"keys": [...]})`);
  }
  return parsed as JsonWebKeySet;
}

/** The algorithms the configuration names, and only those. */
export function allowedAlgorithms(auth: AuthConfig): TokenAlgorithm[] {
  const out = new Set<TokenAlgorithm>();
  if (auth.hs256Secret !== undefined) out.add('HS256');
  if (auth.publicKey !== undefined) out.add(auth.publicKey.algorithm);
  for (const algorithm of auth.jwks?.algorithms ?? []) out.add(algorithm);
  return [...out];
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
