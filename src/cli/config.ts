/** Command-line, environment and config-file settings for `confstate primary`,
 *  `secondary` and `check`, merged in that order of precedence (flag > env >
 *  file > default) and validated: a bad setting is refused with a message
 *  that names it, before anything starts. */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NODE_ID_MAX } from '../core/clock.ts';
import { SERVER_LIMITS_DEFAULT, type ServerLimits } from '../server/config.ts';
import { REPLICATION_LIMITS_DEFAULT, REPLICATION_TIMINGS_DEFAULT, type ReplicationLimits, type ReplicationTimings } from '../replication/config.ts';
import type { Address, TlsFiles } from '../replication/node-transport.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface NodeConfig {
  readonly listen: Address;
  /** The other node's replication address: the secondary dials it; a primary probes it (failover). */
  readonly primary: Address | undefined;
  readonly nodeId: number;
  readonly epoch: number;
  readonly secret: Uint8Array;
  readonly tls: TlsFiles | undefined;
  readonly minReplicas: 0 | 1;
  readonly syncRepair: boolean;
  readonly maxClockSkewMs: number;
  readonly elementsMax: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly testHooks: boolean;
  readonly limits: ReplicationLimits;
  readonly timings: ReplicationTimings;
  readonly api: ApiConfig;
}

/** How the conference API verifies bearer tokens (JWT). */
export type JwtKeyConfig =
  | { readonly kind: 'secret'; readonly secret: Uint8Array }
  | { readonly kind: 'public_key'; readonly alg: 'EdDSA' | 'RS256'; readonly pem: string }
  | { readonly kind: 'jwks'; readonly jwks: { readonly keys: readonly object[] } }
  /** None configured: the API serves health, readiness and metrics, and refuses every token. */
  | { readonly kind: 'none' };

/** The conference API (HTTP + WebSocket) each node serves beside the element API. */
export interface ApiConfig {
  readonly listen: Address;
  /** The URL clients reach this node's API at (what `not_primary` points others to). */
  readonly publicUrl: string;
  /** The other node's public API URL: where a secondary sends writers. */
  readonly peerUrl: string | null;
  readonly jwt: JwtKeyConfig;
  /** Bearer credential for /v1/admin/*; admin endpoints are off without one. */
  readonly adminToken: Uint8Array | undefined;
  /** HTTPS / WSS when both are given. */
  readonly tls: { readonly certPath: string; readonly keyPath: string } | undefined;
  /** Limits that differ from the server's defaults (src/server/config.ts checks their values). */
  readonly limits: Partial<ServerLimits>;
}

/** Every setting: its flag, environment variable and config-file field share one name. */
const SETTINGS = {
  listen: { type: 'string', env: 'CONFSTATE_LISTEN', help: 'host:port to listen on (default 127.0.0.1:7400 primary, 127.0.0.1:7401 secondary)' },
  primary: { type: 'string', env: 'CONFSTATE_PRIMARY', help: 'host:port of the primary (secondary, check; default 127.0.0.1:7400)' },
  peer: { type: 'string', env: 'CONFSTATE_PEER', help: "primary: host:port of the secondary's replication listener, probed after a failover (default none)" },
  'node-id': { type: 'string', env: 'CONFSTATE_NODE_ID', help: `this node's id, 0..${NODE_ID_MAX}, unique in the pair (default 1 primary, 2 secondary)` },
  epoch: { type: 'string', env: 'CONFSTATE_EPOCH', help: 'failover generation (default 1)' },
  'secret-file': { type: 'string', env: 'CONFSTATE_SECRET_FILE', help: 'file holding the shared secret (at least 32 bytes)' },
  'tls-cert': { type: 'string', env: 'CONFSTATE_TLS_CERT', help: 'PEM certificate: turns on mutual TLS (with --tls-key and --tls-ca)' },
  'tls-key': { type: 'string', env: 'CONFSTATE_TLS_KEY', help: 'PEM private key' },
  'tls-ca': { type: 'string', env: 'CONFSTATE_TLS_CA', help: 'PEM CA that signed the peer certificates' },
  'min-replicas': { type: 'string', env: 'CONFSTATE_MIN_REPLICAS', help: '1: refuse writes without a secondary (default); 0: serve alone, degraded' },
  'sync-check-interval-ms': { type: 'string', env: 'CONFSTATE_SYNC_CHECK_INTERVAL_MS', help: 'periodic sync check, 0 = off (default 60000)' },
  'sync-repair': { type: 'string', env: 'CONFSTATE_SYNC_REPAIR', help: 'repair what a periodic check finds: true|false (default true)' },
  'heartbeat-interval-ms': { type: 'string', env: 'CONFSTATE_HEARTBEAT_INTERVAL_MS', help: 'heartbeat on a quiet link (default 100)' },
  'failover-timeout-ms': { type: 'string', env: 'CONFSTATE_FAILOVER_TIMEOUT_MS', help: 'a secondary in sync promotes itself after this long without the primary, 0 = never (default 600)' },
  'probe-interval-ms': { type: 'string', env: 'CONFSTATE_PROBE_INTERVAL_MS', help: 'a primary without a secondary asks its peer for role and epoch this often (default 1000)' },
  'link-timeout-ms': { type: 'string', env: 'CONFSTATE_LINK_TIMEOUT_MS', help: 'drop a link silent this long (default 1000)' },
  'tombstone-retention-ms': { type: 'string', env: 'CONFSTATE_TOMBSTONE_RETENTION_MS', help: 'keep a deleted element this long before collecting it; at least the link, failover and clock-skew limits (default 3600000)' },
  'tombstone-collect-interval-ms': { type: 'string', env: 'CONFSTATE_TOMBSTONE_COLLECT_INTERVAL_MS', help: 'primary: collect old tombstones this often, 0 = never (default 60000)' },
  'max-clock-skew-ms': { type: 'string', env: 'CONFSTATE_MAX_CLOCK_SKEW_MS', help: 'refuse caller timestamps further ahead (default 5000)' },
  'elements-max': { type: 'string', env: 'CONFSTATE_ELEMENTS_MAX', help: 'most elements held (default 4000000)' },
  'value-bytes-max': { type: 'string', env: 'CONFSTATE_VALUE_BYTES_MAX', help: 'largest JSON value in bytes (default 16384)' },
  'frame-bytes-max': { type: 'string', env: 'CONFSTATE_FRAME_BYTES_MAX', help: 'largest protocol frame in bytes (default 4194304)' },
  'window-elements-max': { type: 'string', env: 'CONFSTATE_WINDOW_ELEMENTS_MAX', help: 'unacknowledged elements on the link (default 65536)' },
  'window-bytes-max': { type: 'string', env: 'CONFSTATE_WINDOW_BYTES_MAX', help: 'unacknowledged bytes on the link, at most 12 MiB (default 8388608)' },
  'api-listen': { type: 'string', env: 'CONFSTATE_API_LISTEN', help: 'host:port of the conference API, HTTP + WebSocket (default 127.0.0.1:7480 primary, 127.0.0.1:7481 secondary)' },
  'public-url': { type: 'string', env: 'CONFSTATE_PUBLIC_URL', help: "this node's API URL as clients reach it (default http(s)://<api-listen>)" },
  'peer-url': { type: 'string', env: 'CONFSTATE_PEER_URL', help: "the other node's API URL: where writers are sent when this node is not the primary" },
  'jwt-secret-file': { type: 'string', env: 'CONFSTATE_JWT_SECRET_FILE', help: 'file holding the HS256 token secret (at least 32 bytes)' },
  'jwt-public-key-file': { type: 'string', env: 'CONFSTATE_JWT_PUBLIC_KEY_FILE', help: 'PEM public key verifying tokens (with --jwt-alg)' },
  'jwt-alg': { type: 'string', env: 'CONFSTATE_JWT_ALG', help: 'EdDSA|RS256: the algorithm of --jwt-public-key-file' },
  'jwks-file': { type: 'string', env: 'CONFSTATE_JWKS_FILE', help: 'JWKS file (JSON {"keys":[...]}) verifying EdDSA or RS256 tokens' },
  'admin-token-file': { type: 'string', env: 'CONFSTATE_ADMIN_TOKEN_FILE', help: 'file holding the admin bearer credential for /v1/admin (at least 32 bytes)' },
  'api-tls-cert': { type: 'string', env: 'CONFSTATE_API_TLS_CERT', help: 'PEM certificate: serve the API over HTTPS / WSS (with --api-tls-key)' },
  'api-tls-key': { type: 'string', env: 'CONFSTATE_API_TLS_KEY', help: 'PEM private key of --api-tls-cert' },
  'api-limits': { type: 'string', env: 'CONFSTATE_API_LIMITS', help: 'JSON object of conference API limits to change, e.g. {"messagesPerSecond":1000} (names and defaults: docs/API.md#limits)' },
  'log-level': { type: 'string', env: 'CONFSTATE_LOG_LEVEL', help: 'debug|info|warn|error (default info)' },
  'test-hooks': { type: 'boolean', env: 'CONFSTATE_TEST_HOOKS', help: 'secondary: accept test-only corruption requests (never in production)' },
  config: { type: 'string', env: 'CONFSTATE_CONFIG', help: 'JSON config file with any of these settings (names as here)' },
  help: { type: 'boolean', env: '', help: 'show this text' },
} as const;

type SettingName = keyof typeof SETTINGS;

export function settingsHelp(): string {
  return Object.entries(SETTINGS)
    .map(([name, s]) => `  --${name.padEnd(24)} ${s.help}${s.env ? ` [${s.env}]` : ''}`)
    .join('\n');
}

/** Raw settings after merging flags, environment and file: strings, booleans or undefined. */
export function readSettings(argv: readonly string[], env: NodeJS.ProcessEnv): Map<SettingName, string | boolean> {
  let parsed: { values: Record<string, string | boolean | undefined> };
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, setting] of Object.entries(SETTINGS)) options[name] = { type: setting.type };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }) as typeof parsed;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const values = new Map<SettingName, string | boolean>();
  // An empty variable counts as unset, as for every other setting.
  const configPath = (parsed.values.config as string | undefined) ?? (env.CONFSTATE_CONFIG || undefined);
  if (configPath !== undefined) {
    for (const [name, value] of Object.entries(readConfigFile(configPath))) values.set(name as SettingName, value);
  }
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, (typeof SETTINGS)[SettingName]][]) {
    const fromEnv = setting.env ? env[setting.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== '') values.set(name, setting.type === 'boolean' ? parseBoolean(fromEnv, setting.env) : fromEnv);
  }
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value !== undefined) values.set(name as SettingName, value as string | boolean);
  }
  return values;
}

function readConfigFile(path: string): Record<string, string | boolean> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new ConfigError(`config file ${path} must hold a JSON object`);
  const out: Record<string, string | boolean> = {};
  for (const [name, value] of Object.entries(data)) {
    if (!(name in SETTINGS) || name === 'config' || name === 'help') throw new ConfigError(`config file ${path}: unknown setting ${JSON.stringify(name)}`);
    const type = SETTINGS[name as SettingName].type;
    if (type === 'boolean') {
      if (typeof value !== 'boolean') throw new ConfigError(`config file ${path}: setting ${name} must be true or false, got ${JSON.stringify(value)}`);
      out[name] = value;
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[name] = String(value);
    else throw new ConfigError(`config file ${path}: setting ${name} must be a string, number or boolean`);
  }
  return out;
}

function parseBoolean(text: string, what: string): boolean {
  if (['1', 'true', 'yes', 'on'].includes(text.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(text.toLowerCase())) return false;
  throw new ConfigError(`${what} must be true or false, got ${JSON.stringify(text)}`);
}

export function parseAddress(text: string, what: string): Address {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = match === null ? Number.NaN : Number(match[3]);
  if (match === null || !(port >= 0 && port <= 65535)) throw new ConfigError(`${what} must be host:port (or [ipv6]:port), got ${JSON.stringify(text)}`);
  return { host: match[1] ?? match[2]!, port };
}

function integer(values: Map<SettingName, string | boolean>, name: SettingName, fallback: number, min: number, max: number): number {
  const raw = values.get(name);
  if (raw === undefined) return fallback;
  const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new ConfigError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

function text(values: Map<SettingName, string | boolean>, name: SettingName): string | undefined {
  const raw = values.get(name);
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw === '') throw new ConfigError(`--${name} needs a value`);
  return raw;
}

function readFileText(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/** A secret file's bytes without a trailing newline, refused when shorter than 32 bytes. */
function readSecretFile(path: string, what: string): Uint8Array {
  let secret = readFileText(path, what);
  // A trailing newline from `echo` or an editor is not part of the secret.
  while (secret.length > 0 && (secret[secret.length - 1] === 0x0a || secret[secret.length - 1] === 0x0d)) secret = secret.subarray(0, -1);
  if (secret.length < 32) throw new ConfigError(`${what} ${path} holds ${secret.length} bytes; use at least 32 random bytes (e.g. openssl rand -hex 32)`);
  return secret;
}

function jwtKeyConfig(values: Map<SettingName, string | boolean>): JwtKeyConfig {
  const secretFile = text(values, 'jwt-secret-file');
  const publicKeyFile = text(values, 'jwt-public-key-file');
  const jwksFile = text(values, 'jwks-file');
  const alg = text(values, 'jwt-alg');
  const given = [secretFile, publicKeyFile, jwksFile].filter((v) => v !== undefined).length;
  if (given > 1) throw new ConfigError('give only one of --jwt-secret-file, --jwt-public-key-file and --jwks-file');
  if (alg !== undefined && publicKeyFile === undefined) throw new ConfigError('--jwt-alg applies to --jwt-public-key-file only');
  if (secretFile !== undefined) return { kind: 'secret', secret: readSecretFile(secretFile, 'the JWT secret file') };
  if (publicKeyFile !== undefined) {
    if (alg !== 'EdDSA' && alg !== 'RS256') throw new ConfigError(`--jwt-alg must be EdDSA or RS256 with --jwt-public-key-file, got ${JSON.stringify(alg ?? '')}`);
    const pem = readFileText(publicKeyFile, 'the JWT public key file').toString('utf8');
    if (!pem.includes('-----BEGIN PUBLIC KEY-----')) throw new ConfigError(`--jwt-public-key-file ${publicKeyFile} holds no PEM public key (-----BEGIN PUBLIC KEY-----)`);
    return { kind: 'public_key', alg, pem };
  }
  if (jwksFile !== undefined) {
    let jwks: unknown;
    try {
      jwks = JSON.parse(readFileText(jwksFile, 'the JWKS file').toString('utf8'));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`--jwks-file ${jwksFile} is not valid JSON: ${(error as Error).message}`);
    }
    const keys = (jwks as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))) {
      throw new ConfigError(`--jwks-file ${jwksFile} must hold {"keys": [ ...one or more JWK objects... ]}`);
    }
    return { kind: 'jwks', jwks: { keys } };
  }
  return { kind: 'none' };
}

function urlSetting(values: Map<SettingName, string | boolean>, name: SettingName): string | undefined {
  const raw = text(values, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`--${name} must be an absolute http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`--${name} must be an http or https URL, got ${JSON.stringify(raw)}`);
  return raw.replace(/\/+$/, '');
}

function apiConfig(role: 'primary' | 'secondary' | 'check', values: Map<SettingName, string | boolean>): ApiConfig {
  const listen = parseAddress(text(values, 'api-listen') ?? (role === 'secondary' ? '127.0.0.1:7481' : '127.0.0.1:7480'), '--api-listen');
  const certPath = text(values, 'api-tls-cert');
  const keyPath = text(values, 'api-tls-key');
  if ((certPath === undefined) !== (keyPath === undefined)) throw new ConfigError('HTTPS needs both --api-tls-cert and --api-tls-key');
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const adminFile = text(values, 'admin-token-file');
  return {
    listen,
    publicUrl: urlSetting(values, 'public-url') ?? `${certPath === undefined ? 'http' : 'https'}://${host}:${listen.port}`,
    peerUrl: urlSetting(values, 'peer-url') ?? null,
    jwt: role === 'check' ? { kind: 'none' } : jwtKeyConfig(values),
    adminToken: adminFile === undefined ? undefined : readSecretFile(adminFile, 'the admin token file'),
    tls: certPath === undefined ? undefined : { certPath, keyPath: keyPath! },
    limits: apiLimits(values),
  };
}

/** `--api-limits`: a JSON object naming only known limits, each a positive integer. */
function apiLimits(values: Map<SettingName, string | boolean>): Partial<ServerLimits> {
  const raw = text(values, 'api-limits');
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(`--api-limits must be a JSON object, e.g. {"messagesPerSecond":1000}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`--api-limits must be a JSON object, got ${raw}`);
  const known = Object.keys(SERVER_LIMITS_DEFAULT);
  for (const [name, value] of Object.entries(parsed)) {
    if (!known.includes(name)) throw new ConfigError(`--api-limits: unknown limit ${JSON.stringify(name)}; known: ${known.join(', ')}`);
    if (!(Number.isSafeInteger(value) && (value as number) > 0)) throw new ConfigError(`--api-limits: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return parsed as Partial<ServerLimits>;
}

/** Reads the shared secret from a file; refuses short or missing secrets. The secret is never logged. */
export function readSecret(path: string | undefined, env: NodeJS.ProcessEnv): Uint8Array {
  let secret: Buffer;
  if (path !== undefined) {
    try {
      secret = readFileSync(path);
    } catch (error) {
      throw new ConfigError(`cannot read the secret file ${path}: ${(error as Error).message}`);
    }
    // A trailing newline from `echo` or an editor is not part of the secret.
    while (secret.length > 0 && (secret[secret.length - 1] === 0x0a || secret[secret.length - 1] === 0x0d)) secret = secret.subarray(0, -1);
  } else if (env.CONFSTATE_SECRET !== undefined) {
    secret = Buffer.from(env.CONFSTATE_SECRET, 'utf8');
  } else {
    throw new ConfigError('no shared secret: give --secret-file (or CONFSTATE_SECRET_FILE, or CONFSTATE_SECRET)');
  }
  if (secret.length < 32) throw new ConfigError(`the shared secret is ${secret.length} bytes; use at least 32 random bytes (e.g. openssl rand -hex 32)`);
  return secret;
}

/**
 * A tombstone younger than the retention answers a late, older write of its key
 * `stale` with the delete's own ts; once collected, only the node-wide
 * collectedTsMax does, which also refuses new keys at or below it. So the
 * retention must outlast what can still arrive late for a key: a write retried
 * across a lost link or a failover (link and failover timeouts), or stamped by
 * a caller's clock that may be off by up to --max-clock-skew-ms. Below the
 * largest of them, a collection would make ordinary retries and skewed callers
 * meet the coarse bound. And a round every few ms would scan the tombstones for nothing.
 */
function checkTombstoneTimings(timings: ReplicationTimings, maxClockSkewMs: number): void {
  const floors: [string, number][] = [
    ['--link-timeout-ms', timings.linkTimeoutMs],
    ['--failover-timeout-ms', timings.failoverTimeoutMs],
    ['--max-clock-skew-ms', maxClockSkewMs],
  ];
  const [name, floor] = floors.reduce((a, b) => (b[1] > a[1] ? b : a));
  if (timings.tombstoneRetentionMs < floor) {
    throw new ConfigError(`--tombstone-retention-ms (${timings.tombstoneRetentionMs}) must be at least ${name} (${floor}): a write retried or stamped that late would otherwise meet a collected tombstone`);
  }
  const interval = timings.tombstoneCollectIntervalMs;
  if (interval !== 0 && interval < 100) throw new ConfigError(`--tombstone-collect-interval-ms must be 0 (never) or at least 100, got ${interval}`);
}

/** Builds a validated node configuration for `role`. Throws ConfigError naming the bad setting. */
export function nodeConfig(role: 'primary' | 'secondary' | 'check', values: Map<SettingName, string | boolean>, env: NodeJS.ProcessEnv): NodeConfig {
  const listenText = text(values, 'listen') ?? (role === 'secondary' ? '127.0.0.1:7401' : '127.0.0.1:7400');
  if (role === 'primary' && values.has('primary')) throw new ConfigError('--primary is for a secondary or check; a primary names its secondary with --peer');
  if (role !== 'primary' && values.has('peer')) throw new ConfigError(`--peer is for a primary; a ${role} names the primary with --primary`);
  const primaryText = role === 'primary' ? text(values, 'peer') : (text(values, 'primary') ?? '127.0.0.1:7400');
  const certPath = text(values, 'tls-cert');
  const keyPath = text(values, 'tls-key');
  const caPath = text(values, 'tls-ca');
  const tlsGiven = [certPath, keyPath, caPath].filter((p) => p !== undefined).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new ConfigError('mutual TLS needs all three of --tls-cert, --tls-key and --tls-ca');
  const minReplicas = integer(values, 'min-replicas', 1, 0, 1) as 0 | 1;
  const logLevel = text(values, 'log-level') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new ConfigError(`--log-level must be debug, info, warn or error, got ${JSON.stringify(logLevel)}`);
  const syncRepairRaw = values.get('sync-repair');
  const syncRepair = syncRepairRaw === undefined ? true : typeof syncRepairRaw === 'boolean' ? syncRepairRaw : parseBoolean(syncRepairRaw, '--sync-repair');
  const limits: ReplicationLimits = {
    ...REPLICATION_LIMITS_DEFAULT,
    valueBytesMax: integer(values, 'value-bytes-max', REPLICATION_LIMITS_DEFAULT.valueBytesMax, 16, 1024 * 1024),
    frameBytesMax: integer(values, 'frame-bytes-max', REPLICATION_LIMITS_DEFAULT.frameBytesMax, 64 * 1024, 256 * 1024 * 1024),
    windowElementsMax: integer(values, 'window-elements-max', REPLICATION_LIMITS_DEFAULT.windowElementsMax, 1, 16 * 1024 * 1024),
    // Below the transport's 16 MiB write buffer, past which it would stop reading the link's acks.
    windowBytesMax: integer(values, 'window-bytes-max', REPLICATION_LIMITS_DEFAULT.windowBytesMax, 64 * 1024, 12 * 1024 * 1024),
  };
  if (limits.frameBytesMax < 4 * (limits.valueBytesMax + 1024)) {
    throw new ConfigError(`--frame-bytes-max (${limits.frameBytesMax}) must hold at least four of the largest elements (--value-bytes-max ${limits.valueBytesMax})`);
  }
  const timings: ReplicationTimings = {
    ...REPLICATION_TIMINGS_DEFAULT,
    heartbeatIntervalMs: integer(values, 'heartbeat-interval-ms', REPLICATION_TIMINGS_DEFAULT.heartbeatIntervalMs, 1, 60_000),
    linkTimeoutMs: integer(values, 'link-timeout-ms', REPLICATION_TIMINGS_DEFAULT.linkTimeoutMs, 2, 600_000),
    syncCheckIntervalMs: integer(values, 'sync-check-interval-ms', REPLICATION_TIMINGS_DEFAULT.syncCheckIntervalMs, 0, 86_400_000),
    failoverTimeoutMs: integer(values, 'failover-timeout-ms', REPLICATION_TIMINGS_DEFAULT.failoverTimeoutMs, 0, 600_000),
    probeIntervalMs: integer(values, 'probe-interval-ms', REPLICATION_TIMINGS_DEFAULT.probeIntervalMs, 10, 600_000),
    // At most 30 days: a tombstone costs memory until then.
    tombstoneRetentionMs: integer(values, 'tombstone-retention-ms', REPLICATION_TIMINGS_DEFAULT.tombstoneRetentionMs, 1, 30 * 86_400_000),
    tombstoneCollectIntervalMs: integer(values, 'tombstone-collect-interval-ms', REPLICATION_TIMINGS_DEFAULT.tombstoneCollectIntervalMs, 0, 86_400_000),
  };
  const maxClockSkewMs = integer(values, 'max-clock-skew-ms', 5000, 0, 86_400_000);
  checkTombstoneTimings(timings, maxClockSkewMs);
  if (timings.failoverTimeoutMs !== 0 && timings.failoverTimeoutMs <= timings.heartbeatIntervalMs) {
    throw new ConfigError(`--failover-timeout-ms (${timings.failoverTimeoutMs}) must exceed --heartbeat-interval-ms (${timings.heartbeatIntervalMs}), or be 0 to never promote`);
  }
  if (timings.linkTimeoutMs <= timings.heartbeatIntervalMs) {
    throw new ConfigError(`--link-timeout-ms (${timings.linkTimeoutMs}) must exceed --heartbeat-interval-ms (${timings.heartbeatIntervalMs})`);
  }
  return {
    listen: parseAddress(listenText, '--listen'),
    primary: primaryText === undefined ? undefined : parseAddress(primaryText, role === 'primary' ? '--peer' : '--primary'),
    nodeId: integer(values, 'node-id', role === 'secondary' ? 2 : role === 'check' ? 15 : 1, 0, NODE_ID_MAX),
    epoch: integer(values, 'epoch', 1, 1, Number.MAX_SAFE_INTEGER),
    secret: readSecret(text(values, 'secret-file'), env),
    tls: tlsGiven === 3 ? { certPath: certPath!, keyPath: keyPath!, caPath: caPath! } : undefined,
    minReplicas,
    syncRepair,
    maxClockSkewMs,
    elementsMax: integer(values, 'elements-max', 4_000_000, 1, 100_000_000),
    logLevel: logLevel as NodeConfig['logLevel'],
    testHooks: values.get('test-hooks') === true,
    limits,
    timings,
    api: apiConfig(role, values),
  };
}
