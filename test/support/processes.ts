/** Real confstate processes on loopback for process-level tests: start a
 *  primary and a secondary on free ports, read their JSON logs, kill them. */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureServerBuild } from '../../scripts/build-server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The server as it ships: the bundle (decision 0025), rebuilt here first if the sources changed. */
const MAIN = ensureServerBuild();
/** How every node is run: the bundle, with stacks mapped back to the .ts sources. */
const RUN = ['--enable-source-maps', MAIN];

export interface LogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

export class NodeProcess {
  readonly lines: LogLine[] = [];
  readonly #waiters: { test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  exitCode: number | null | undefined = undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly role: 'primary' | 'secondary',
    readonly child: ChildProcess,
  ) {
    let buffered = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      buffered += text;
      for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
        const raw = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          line = { msg: raw };
        }
        this.lines.push(line);
        for (const waiter of [...this.#waiters]) {
          if (waiter.test(line)) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
    this.exited = new Promise((resolve) => child.on('exit', (code) => ((this.exitCode = code), resolve())));
  }

  /** Resolves with the first log line (past or future, from line index `fromLine` on) whose msg matches. */
  waitFor(msg: string | RegExp, timeoutMs = 15_000, fromLine = 0): Promise<LogLine> {
    const test = (line: LogLine): boolean => (typeof msg === 'string' ? line.msg === msg : msg.test(line.msg));
    const seen = this.lines.slice(fromLine).find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.role}: no log line ${String(msg)} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      this.#waiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.alive) return;
    this.child.kill(signal);
    await this.exited;
  }
}

export interface Cluster {
  readonly dir: string;
  readonly secretFile: string;
  readonly secret: Uint8Array;
  primary: NodeProcess;
  secondary: NodeProcess | undefined;
  primaryPort: number;
  secondaryPort: number;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'confstate-test-'));
}

export function writeSecret(dir: string, name = 'secret'): { path: string; secret: Uint8Array } {
  const secret = `test-secret-${Math.random().toString(36).slice(2)}-0123456789abcdef0123456789`;
  const path = join(dir, name);
  writeFileSync(path, secret, { mode: 0o600 });
  return { path, secret: new TextEncoder().encode(secret) };
}

/** CONFSTATE_NODE_FLAGS: extra Node flags for every node a test or bench starts, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p` (not allowed in NODE_OPTIONS). */
const NODE_FLAGS = (process.env.CONFSTATE_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');

/** Starts `confstate {role}`; `nodeFlags` (e.g. `--inspect=127.0.0.1:0`) go to `node` itself, after CONFSTATE_NODE_FLAGS. */
export function spawnNode(role: 'primary' | 'secondary', args: readonly string[], nodeFlags: readonly string[] = []): NodeProcess {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...nodeFlags, ...RUN, role, '--log-level', 'debug', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  return new NodeProcess(role, child);
}

/** Runs the CLI to completion (e.g. `check`): exit code and output. */
export function runCli(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...RUN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Runs the CLI to completion without blocking this process (its clients and
 * timers keep running meanwhile, unlike runCli): exit code and output.
 */
export function runCliAsync(args: readonly string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...RUN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    // 'close', not 'exit': the output pipes are read to their end.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A loopback port free a moment ago: for a node that must come back on the same port after kill -9. */
/** Ports handed out by freePort in this process, so two calls never give the same one. */
const portsGiven = new Set<number>();

/**
 * A port for a process a test starts later with a fixed address. Chosen at
 * random below Linux's ephemeral range (32768–60999): a port the kernel gave a
 * listener or an outgoing connection for a moment ago (port 0) would be taken
 * again by the next one, while test files run in parallel. Checked free by binding it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (portsGiven.has(port)) continue;
    const server = net.createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise((resolve) => server.close(resolve));
    portsGiven.add(port);
    return port;
  }
  throw new Error('no free port found below the ephemeral range after 100 tries');
}

export async function startPrimary(secretFile: string, extra: readonly string[] = []): Promise<{ node: NodeProcess; port: number }> {
  const node = spawnNode('primary', ['--listen', '127.0.0.1:0', '--secret-file', secretFile, '--sync-check-interval-ms', '0', ...extra]);
  const line = await node.waitFor('primary listening');
  return { node, port: Number(String(line.listen).split(':').pop()) };
}

export async function startSecondary(secretFile: string, primaryPort: number, extra: readonly string[] = []): Promise<{ node: NodeProcess; port: number }> {
  const node = spawnNode('secondary', ['--listen', '127.0.0.1:0', '--primary', `127.0.0.1:${primaryPort}`, '--secret-file', secretFile, ...extra]);
  const line = await node.waitFor('secondary listening');
  await node.waitFor('in sync with the primary');
  return { node, port: Number(String(line.listen).split(':').pop()) };
}

export async function startCluster(options: { primaryArgs?: readonly string[]; secondaryArgs?: readonly string[] } = {}): Promise<Cluster> {
  const dir = tempDir();
  const { path: secretFile, secret } = writeSecret(dir);
  const primary = await startPrimary(secretFile, options.primaryArgs);
  const secondary = await startSecondary(secretFile, primary.port, options.secondaryArgs);
  return { dir, secretFile, secret, primary: primary.node, secondary: secondary.node, primaryPort: primary.port, secondaryPort: secondary.port };
}

export async function stopCluster(cluster: Cluster | undefined): Promise<void> {
  if (cluster === undefined) return;
  await Promise.all([cluster.primary.kill(), cluster.secondary?.kill()]);
}

/** A CA and one certificate it signed, made with openssl, for mutual TLS tests. */
export function makeTlsFiles(dir: string): { certPath: string; keyPath: string; caPath: string } {
  const run = (args: string[]): void => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=confstate test CA']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1']);
  run(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '2']);
  return { certPath: join(dir, 'node.pem'), keyPath: join(dir, 'node.key'), caPath: join(dir, 'ca.pem') };
}
