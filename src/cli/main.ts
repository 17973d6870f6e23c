/** `confstate` command line: the composition root, the only place that builds
 *  real clocks, sockets, timers and loggers and hands them to the pure parts. */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { HybridClock } from '../core/clock.ts';
import { formatTimestamp } from '../core/clock.ts';
import { ElementStore } from '../core/element-store.ts';
import { WRITE_GATE_LIMITS_DEFAULT } from '../core/write-gate.ts';
import { ElementClient } from '../client/element-client.ts';
import { Primary } from '../replication/primary.ts';
import { Replica } from '../replication/replica.ts';
import type { NodeEnvironment } from '../replication/node-core.ts';
import { NodeTransport, hmacAuthenticator, monotonicNowMs, secureRandomBytes } from '../replication/node-transport.ts';
import { ConfigError, type NodeConfig, nodeConfig, readSettings, settingsHelp } from './config.ts';

const USAGE = `usage: confstate <command> [options]

commands:
  primary      run the primary: holds the state, replicates every update before acknowledging it
  secondary    run the hot standby: dials the primary, holds a synchronous copy
  check        compare primary and secondary through their digests; exit 0 in sync, 1 if not
  start        run a primary and a secondary on this machine with a generated secret (development)
  help         show this text

options (each also as an environment variable or a field of --config):
${settingsHelp()}
  check only: --repair            also repair what differs (newer timestamp wins)
`;

const wallClock = { nowMs: () => Date.now() };

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
async function runNode(role: 'primary' | 'secondary', config: NodeConfig): Promise<void> {
  const log = logger(config, role);
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
  stopOnSignal(log, async () => {
    if (replica.inner instanceof Primary) replica.inner.shutdown(`${role} shutting down`);
    await transport.close();
  });
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

/** `npm start`: a primary and a secondary as child processes sharing a fresh secret. */
function runStart(): void {
  const dir = join(process.cwd(), '.confstate');
  mkdirSync(dir, { recursive: true });
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  const entry = fileURLToPath(import.meta.url);
  const launch = (role: 'primary' | 'secondary'): ChildProcess =>
    spawn(process.execPath, [...process.execArgv, entry, role, '--secret-file', secretFile], { stdio: ['ignore', 'inherit', 'inherit'] });
  const children: ChildProcess[] = [launch('primary')];
  // The secondary starts a moment later so its first dial finds the primary listening
  // (it would retry anyway, but a newcomer should not see a warning on a clean start).
  setTimeout(() => {
    if (children.every((child) => child.exitCode === null)) {
      const secondary = launch('secondary');
      children.push(secondary);
      watch(secondary);
    }
  }, 500);
  process.stdout.write(
    'confstate: primary on 127.0.0.1:7400, secondary on 127.0.0.1:7401 (element API, binary protocol)\n' +
      `shared secret in ${secretFile}; check them with:\n` +
      `  node --import tsx src/cli/main.ts check --secret-file ${secretFile}\n` +
      'The conference API and web page arrive with the next issues. Ctrl-C stops both.\n',
  );
  const stop = (): void => {
    for (const child of children) child.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  function watch(child: ChildProcess): void {
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) {
        process.stderr.write(`confstate: a node exited with code ${code}; stopping the other\n`);
        stop();
        process.exitCode = code;
      }
    });
  }
  watch(children[0]!);
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
      case 'check': {
        const repair = rest.includes('--repair');
        const values = readSettings(rest.filter((a) => a !== '--repair'), process.env);
        if (values.get('help') === true) return (process.stdout.write(USAGE), 0);
        return await runCheck(nodeConfig('check', values, process.env), repair);
      }
      case 'start':
        if (rest.length > 0) throw new ConfigError(`start takes no options, got: ${rest.join(' ')}`);
        runStart();
        return undefined;
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
