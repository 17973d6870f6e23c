/** `confstate` command line: the composition root, the only place that builds
 *  real clocks, sockets, timers and loggers and hands them to the pure parts. */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { HybridClock } from '../core/clock.ts';
import { formatTimestamp } from '../core/clock.ts';
import { ElementStore } from '../core/element-store.ts';
import { WRITE_GATE_LIMITS_DEFAULT } from '../core/write-gate.ts';
import { ElementClient } from '../client/element-client.ts';
import { Primary } from '../replication/primary.ts';
import { Replica } from '../replication/replica.ts';
import { type StartedServer, startServer } from '../server/app.ts';
import type { WebOptions } from '../server/web.ts';
import { type JsonWebKeySet, type ServerConfig, ServerConfigError, serverConfig } from '../server/config.ts';
import { LocalNode } from '../server/local-node.ts';
import type { NodeEnvironment } from '../replication/node-core.ts';
import { NodeTransport, hmacAuthenticator, monotonicNowMs, secureRandomBytes } from '../replication/node-transport.ts';
import { ConfigError, type NodeConfig, nodeConfig, readSettings, settingsHelp } from './config.ts';

const USAGE = `usage: confstate <command> [options]

commands:
  primary      run the primary: holds the state, replicates every update before acknowledging it
  secondary    run the hot standby: dials the primary, holds a synchronous copy
  check        compare primary and secondary through their digests; exit 0 in sync, 1 if not
  demo         run a primary and a secondary on this machine with generated secrets and the
               DEMO token issuer (npm start; never in production). \`start\` is the same.
               --port-base N: element APIs on N (primary) and N+1 (secondary), conference
               APIs and the page on N+80 and N+81 (default 7400: 7400, 7401, 7480, 7481)
  help         show this text

options (each also as an environment variable or a field of --config):
${settingsHelp()}
  check only: --repair            also repair what differs (newer timestamp wins)
`;

const wallClock = { nowMs: () => Date.now() };

/**
 * The built conference page every node serves at `/` (web/build.ts makes it; `npm start` runs that first).
 * Resolved from this module's URL: the server bundle (dist/cli/confstate.mjs) sits two levels deep like this file.
 */
const WEB_ROOT = fileURLToPath(new URL('../../web/dist', import.meta.url));

function logger(config: NodeConfig, name: string): pino.Logger {
  return pino({ name, level: config.logLevel, base: { node: name, nodeId: config.nodeId } }, pino.destination(2));
}

/** The real clock, HMAC and randomness the state machines are given. */
function nodeEnvironment(config: NodeConfig): NodeEnvironment {
  return {
    clock: new HybridClock(wallClock, { nodeId: config.nodeId, maxClockSkewMs: config.maxClockSkewMs }),
    authenticator: hmacAuthenticator(config.secret),
    randomBytes: secureRandomBytes,
  };
}

/**
 * A node of the pair: `primary` or `secondary` is only the role it starts in.
 * After a failover it may be promoted or demoted (replication/replica.ts).
 */
async function runNode(role: 'primary' | 'secondary', config: NodeConfig, demo = false): Promise<void> {
  const log = logger(config, role);
  const settings = apiSettings(config);
  if (demo && settings?.auth.hs256Secret === undefined) throw new ConfigError('demo mode signs tokens with HS256: give --jwt-secret-file');
  const store = new ElementStore({ elementsMax: config.elementsMax });
  const peer = config.primary;
  const replica = new Replica(
    store,
    nodeEnvironment(config),
    {
      nodeId: config.nodeId,
      epoch: config.epoch,
      startRole: role,
      peerAddress: peer === undefined ? undefined : `${peer.host}:${peer.port}`,
      minReplicas: config.minReplicas,
      syncRepair: config.syncRepair,
      testHooks: config.testHooks,
      limits: config.limits,
      timings: config.timings,
      gate: WRITE_GATE_LIMITS_DEFAULT,
    },
    monotonicNowMs(),
  );
  const transport = new NodeTransport(replica, { listen: config.listen, ...(peer ? { dialTo: peer } : {}), ...(config.tls ? { tls: config.tls } : {}), logger: log });
  const bound = await transport.start();
  log.info(
    { listen: `${bound!.host}:${bound!.port}`, peer: replica.options.peerAddress ?? null, tls: config.tls !== undefined, minReplicas: config.minReplicas, epoch: config.epoch, failoverTimeoutMs: config.timings.failoverTimeoutMs },
    `${role} listening`,
  );
  if (config.testHooks) log.warn({}, 'test hooks are ON: anyone with the secret can change this node alone. Never use in production.');
  if (settings === undefined) log.warn({}, 'conference API off: no token key (give --jwt-secret-file, --jwt-public-key-file or --jwks-file)');
  const api = settings === undefined ? undefined : await startApi(config, settings, replica, transport, log, demo);
  stopOnSignal(log, async () => {
    await api?.close();
    if (replica.inner instanceof Primary) replica.inner.shutdown(`${role} shutting down`);
    await transport.close();
  });
}

/** The conference API's settings, checked before anything listens; undefined when no token key is configured. */
function apiSettings(config: NodeConfig): ServerConfig | undefined {
  const api = config.api;
  const jwt = api.jwt;
  if (jwt.kind === 'none') return undefined;
  try {
    return serverConfig({
      auth: {
        hs256Secret: jwt.kind === 'secret' ? Buffer.from(jwt.secret).toString('utf8') : undefined,
        publicKey: jwt.kind === 'public_key' ? { pem: jwt.pem, algorithm: jwt.alg } : undefined,
        jwks: jwt.kind === 'jwks' ? { keySet: jwt.jwks as JsonWebKeySet, algorithms: ['EdDSA', 'RS256'] } : undefined,
        adminSecret: api.adminToken === undefined ? undefined : Buffer.from(api.adminToken).toString('utf8'),
      },
      limits: api.limits,
      ...(api.tls ? { tls: { certPem: readFileSync(api.tls.certPath, 'utf8'), keyPem: readFileSync(api.tls.keyPath, 'utf8') } } : {}),
    });
  } catch (error) {
    if (error instanceof ServerConfigError) throw new ConfigError(error.message);
    if ((error as NodeJS.ErrnoException).code !== undefined) throw new ConfigError(`cannot read the API TLS files: ${(error as Error).message}`);
    throw error;
  }
}

/** The conference API beside the node (LocalNode follows it through role changes). */
async function startApi(config: NodeConfig, settings: ServerConfig, replica: Replica, transport: NodeTransport, log: pino.Logger, demo: boolean): Promise<StartedServer> {
  const api = config.api;
  const node = new LocalNode(replica, { selfUrl: api.publicUrl, peerUrl: api.peerUrl, nowMs: monotonicNowMs, wake: () => transport.wake() });
  transport.beforeDrain(() => node.runBeforeSend());
  const web: WebOptions = { root: WEB_ROOT, servers: [api.publicUrl, ...(api.peerUrl === null ? [] : [api.peerUrl])], demo };
  const server = await startServer({ node, config: settings, logger: log.child({ part: 'api' }), listen: api.listen, web, ...(demo ? { demo: {} } : {}) });
  log.info({ url: server.url, publicUrl: api.publicUrl, peerUrl: api.peerUrl, demo }, 'conference API listening');
  return server;
}

function stopOnSignal(log: pino.Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void stop().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function runCheck(config: NodeConfig, repair: boolean): Promise<number> {
  const primary = config.primary!;
  const client = await ElementClient.connect({ host: primary.host, port: primary.port, secret: config.secret, ...(config.tls ? { tls: config.tls } : {}) });
  try {
    const result = await client.check(repair);
    if ('code' in result) {
      process.stderr.write(`confstate check: ${result.code}: ${result.detail}\n`);
      return 2;
    }
    if (result.inSync) {
      process.stdout.write(`in-sync${result.repaired > 0 ? ` (repaired ${result.repaired})` : ''}\n`);
      return 0;
    }
    process.stdout.write(`out-of-sync: ${result.differences.length} differing keys${repair ? `, repaired ${result.repaired}` : ''}\n`);
    for (const d of result.differences) process.stdout.write(`  ${d.key}\tprimary=${formatTimestamp(d.primaryTs)}\tsecondary=${formatTimestamp(d.secondaryTs)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** Ports `confstate demo` uses on 127.0.0.1 by default; `--port-base N` moves them all (demoPorts). */
const DEMO_PORT_BASE = 7400;
/** The conference APIs sit this far above the element APIs (7480 / 7481 by default). */
const DEMO_API_OFFSET = 80;

/** The four ports of a demo whose primary element API is on `base`. */
function demoPorts(base: number): { primary: number; secondary: number; primaryApi: number; secondaryApi: number } {
  return { primary: base, secondary: base + 1, primaryApi: base + DEMO_API_OFFSET, secondaryApi: base + DEMO_API_OFFSET + 1 };
}

/** `demo`'s options: `--port-base N` (1024 … 65535 - 81, so every port is unprivileged and valid), or `--help`. */
function demoPortBase(args: readonly string[]): number | 'help' {
  let values: { 'port-base'?: string | undefined; help?: boolean | undefined };
  try {
    values = parseArgs({ args: [...args], options: { 'port-base': { type: 'string' }, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (values.help === true) return 'help';
  const text = values['port-base'];
  if (text === undefined) return DEMO_PORT_BASE;
  const max = 65535 - DEMO_API_OFFSET - 1;
  const base = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(base >= 1024 && base <= max)) throw new ConfigError(`--port-base must be an integer from 1024 to ${max}, got ${JSON.stringify(text)}`);
  return base;
}

/** A node that exits unexpectedly is restarted after this long, at most RESTARTS_MAX times a minute. */
const RESTART_DELAY_MS = 1000;
const RESTARTS_MAX = 5;

/**
 * `npm start` / `confstate demo`: a primary and a secondary on this machine,
 * with generated secrets and the DEMO token issuer, as child processes. A node
 * that dies is restarted with its first command line: it rejoins (after a
 * failover, as the secondary) — the behaviour a supervisor such as systemd
 * gives in production.
 */
function runDemo(portBase: number): void {
  const DEMO_PORTS = demoPorts(portBase);
  // Another port base gets its own secrets, so two demos in one directory do not overwrite each other's.
  const dir = join(process.cwd(), '.confstate', ...(portBase === DEMO_PORT_BASE ? [] : [`port-${portBase}`]));
  mkdirSync(dir, { recursive: true });
  const secretFile = join(dir, 'secret');
  const jwtSecretFile = join(dir, 'jwt-secret');
  writeFileSync(secretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  writeFileSync(jwtSecretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  const url = (port: number): string => `http://127.0.0.1:${port}`;
  const common = ['--secret-file', secretFile, '--jwt-secret-file', jwtSecretFile, '--min-replicas', '0'];
  const commandLines: Record<'primary' | 'secondary', string[]> = {
    primary: ['demo-node', 'primary', ...common, '--listen', `127.0.0.1:${DEMO_PORTS.primary}`, '--peer', `127.0.0.1:${DEMO_PORTS.secondary}`, '--api-listen', `127.0.0.1:${DEMO_PORTS.primaryApi}`, '--peer-url', url(DEMO_PORTS.secondaryApi)],
    secondary: ['demo-node', 'secondary', ...common, '--listen', `127.0.0.1:${DEMO_PORTS.secondary}`, '--primary', `127.0.0.1:${DEMO_PORTS.primary}`, '--api-listen', `127.0.0.1:${DEMO_PORTS.secondaryApi}`, '--peer-url', url(DEMO_PORTS.primaryApi)],
  };
  const entry = fileURLToPath(import.meta.url);
  const children = new Map<'primary' | 'secondary', ChildProcess>();
  const restarts: number[] = [];
  let stopping = false;
  const launch = (role: 'primary' | 'secondary'): void => {
    const child = spawn(process.execPath, [...process.execArgv, entry, ...commandLines[role]], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.set(role, child);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      const nowMs = Date.now();
      while (restarts.length > 0 && restarts[0]! < nowMs - 60_000) restarts.shift();
      if (code === 2 || restarts.length >= RESTARTS_MAX) {
        process.stderr.write(`confstate demo: the ${role} node exited (${signal ?? `code ${code}`}); not restarting it${code === 2 ? ' (bad settings)' : ` (${RESTARTS_MAX} restarts in a minute)`}; stopping\n`);
        process.exitCode = typeof code === 'number' && code !== 0 ? code : 1;
        stop();
        return;
      }
      restarts.push(nowMs);
      process.stderr.write(`confstate demo: the ${role} node exited (${signal ?? `code ${code}`}); restarting it in ${RESTART_DELAY_MS} ms — it rejoins as the secondary if the other took over\n`);
      setTimeout(() => stopping || launch(role), RESTART_DELAY_MS);
    });
  };
  launch('primary');
  // The secondary starts a moment later so its first dial finds the primary listening
  // (it would retry anyway, but a newcomer should not see a warning on a clean start).
  setTimeout(() => stopping || launch('secondary'), 500);
  process.stdout.write(
    'confstate demo — DEMO MODE: anyone who can reach these ports gets a token by naming themselves. Never expose it.\n' +
      `  open the meeting page:      ${url(DEMO_PORTS.primaryApi)}/   (in two browser tabs, or two browsers)\n` +
      `  conference API (primary):   ${url(DEMO_PORTS.primaryApi)}   (WebSocket ${url(DEMO_PORTS.primaryApi).replace('http', 'ws')}/v1/ws)\n` +
      `  conference API (secondary): ${url(DEMO_PORTS.secondaryApi)}\n` +
      `  element API: 127.0.0.1:${DEMO_PORTS.primary} (primary), 127.0.0.1:${DEMO_PORTS.secondary} (secondary); secret in ${secretFile}\n` +
      `  try: curl -s -X POST ${url(DEMO_PORTS.primaryApi)}/v1/demo/join -H 'content-type: application/json' -d '{"session":"demo","name":"Ada"}'\n` +
      `  check the pair: node ${relative(process.cwd(), entry)} check --secret-file ${secretFile}\n` +
      'Ctrl-C stops both.\n',
  );
  const stop = (): void => {
    stopping = true;
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Runs one command line. Returns an exit code, or undefined for a server that keeps running. */
export async function main(argv: readonly string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'primary':
      case 'secondary': {
        const values = readSettings(rest, process.env);
        if (values.get('help') === true) return (process.stdout.write(USAGE), 0);
        const config = nodeConfig(command, values, process.env);
        await runNode(command, config);
        return undefined;
      }
      case 'demo-node': {
        // Internal: one node of `confstate demo`, with the demo token issuer on.
        const [role, ...options] = rest;
        if (role !== 'primary' && role !== 'secondary') throw new ConfigError(`demo-node needs primary or secondary, got ${JSON.stringify(role ?? '')}`);
        await runNode(role, nodeConfig(role, readSettings(options, process.env), process.env), true);
        return undefined;
      }
      case 'check': {
        const repair = rest.includes('--repair');
        const values = readSettings(rest.filter((a) => a !== '--repair'), process.env);
        if (values.get('help') === true) return (process.stdout.write(USAGE), 0);
        return await runCheck(nodeConfig('check', values, process.env), repair);
      }
      case 'start':
      case 'demo': {
        const portBase = demoPortBase(rest);
        if (portBase === 'help') return (process.stdout.write(USAGE), 0);
        runDemo(portBase);
        return undefined;
      }
      default:
        process.stderr.write(`confstate: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`confstate ${command}: ${error.message}\n`);
      return 2;
    }
    if (command === 'check') {
      process.stderr.write(`confstate check: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}

const code = await main(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
