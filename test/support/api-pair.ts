/** A real primary + secondary pair with the conference API, for process tests
 *  and bench/api: free loopback ports, an HS256 token secret, tokens signed
 *  synchronously, `confstate check`. It owns no assertions and no workload. */

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Role } from '../../src/conference/model.ts';
import { ensureServerBuild } from '../../scripts/build-server.ts';
import { NodeProcess, freePort, runCli, tempDir, writeSecret } from './processes.ts';

/** The server as it ships (decision 0025), rebuilt first if the sources changed. */
const MAIN = ensureServerBuild();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export { freePort };

export interface ApiPairOptions {
  /** Extra `confstate` flags for both nodes, e.g. `--api-limits`. */
  readonly nodeArgs?: readonly string[];
  /** Flags for each node's `node` itself, e.g. `--cpu-prof` or `--inspect=127.0.0.1:0`. */
  readonly primaryNodeFlags?: readonly string[];
  readonly secondaryNodeFlags?: readonly string[];
  readonly minReplicas?: 0 | 1;
}

export interface ApiPair {
  readonly primary: NodeProcess;
  readonly secondary: NodeProcess;
  /** `http://127.0.0.1:port` of each node's conference API. */
  readonly primaryUrl: string;
  readonly secondaryUrl: string;
  readonly replicationPort: number;
  readonly secretFile: string;
  /** The replication secret (element API clients) and the HS256 token secret. */
  readonly secret: Uint8Array;
  readonly jwtSecret: string;
  /** Signs an HS256 token the pair accepts, valid for an hour. */
  token(participant: string, session: string, role: Role): string;
  /** `confstate check` against the primary: exit code and output. */
  check(): { code: number | null; stdout: string; stderr: string };
  /** SIGTERM both (a profiled primary writes its profile on a clean exit). */
  stop(): Promise<void>;
}

function spawnApiNode(role: 'primary' | 'secondary', nodeFlags: readonly string[], args: readonly string[]): NodeProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--enable-source-maps', MAIN, role, '--log-level', 'info', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  return new NodeProcess(role, child);
}

/** Starts the pair and returns once the secondary is in sync and the primary is ready (minReplicas 1: takes writes). */
export async function startApiPair(options: ApiPairOptions = {}): Promise<ApiPair> {
  const dir = tempDir();
  const { path: secretFile, secret } = writeSecret(dir);
  const jwtSecret = `api-pair-jwt-secret-${Math.random().toString(36).slice(2)}-0123456789abcdef`;
  const jwtFile = join(dir, 'jwt');
  writeFileSync(jwtFile, jwtSecret, { mode: 0o600 });
  const [a, b, apiA, apiB] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const primaryUrl = `http://127.0.0.1:${apiA}`;
  const secondaryUrl = `http://127.0.0.1:${apiB}`;
  const common = ['--secret-file', secretFile, '--jwt-secret-file', jwtFile, '--min-replicas', String(options.minReplicas ?? 1), '--sync-check-interval-ms', '0', ...(options.nodeArgs ?? [])];
  const primary = spawnApiNode('primary', options.primaryNodeFlags ?? [], [...common, '--listen', `127.0.0.1:${a}`, '--peer', `127.0.0.1:${b}`, '--api-listen', `127.0.0.1:${apiA}`, '--peer-url', secondaryUrl]);
  await primary.waitFor('conference API listening', 30_000);
  const secondary = spawnApiNode('secondary', options.secondaryNodeFlags ?? [], [...common, '--listen', `127.0.0.1:${b}`, '--primary', `127.0.0.1:${a}`, '--api-listen', `127.0.0.1:${apiB}`, '--peer-url', primaryUrl]);
  await secondary.waitFor('in sync with the primary', 30_000);
  await waitReady(primaryUrl, 15_000);
  return {
    primary,
    secondary,
    primaryUrl,
    secondaryUrl,
    replicationPort: a,
    secretFile,
    secret,
    jwtSecret,
    token: (participant, session, role) => signHs256(jwtSecret, { sub: participant, session, role }),
    check: () => runCli(['check', '--primary', `127.0.0.1:${a}`, '--secret-file', secretFile]),
    stop: async () => void (await Promise.all([primary.kill('SIGTERM'), secondary.kill('SIGTERM')])),
  };
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${url}/readyz`).catch(() => undefined);
    if (response?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url}/readyz not 200 within ${timeoutMs} ms: ${response === undefined ? 'no answer' : await response.text()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A compact HS256 JWT, signed synchronously (jose's SignJWT is async; 10,000 tokens are signed here at once). */
export function signHs256(secret: string, claims: { readonly sub: string; readonly session: string; readonly role: Role }, ttlS = 3600): string {
  const nowS = Math.floor(Date.now() / 1000);
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({ ...claims, iat: nowS, exp: nowS + ttlS })).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
