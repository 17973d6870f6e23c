/** Two real confstate nodes on fixed loopback ports, each remembering the
 *  command line it was first started with, so a test can kill -9 either one
 *  and restart it exactly as it was; and which of them is primary now, as
 *  the nodes themselves say in their handshake. */

import { ElementClient, type ServerIdentity } from '../../src/client/element-client.ts';
import type { Address } from '../../src/replication/node-transport.ts';
import { type NodeProcess, freePort, runCliAsync, spawnNode, tempDir, writeSecret } from './processes.ts';

export type NodeName = 'a' | 'b';
export const NODE_NAMES: readonly NodeName[] = ['a', 'b'];

export interface NodePairOptions {
  /** Flags for both nodes: timings, --min-replicas. */
  readonly common?: readonly string[];
  /** Ports to listen on (default: free ones). Known in advance, so proxies can be put in front. */
  readonly ports?: Record<NodeName, number>;
  /** What node a (started as primary) names as its `--peer` (default b's address): a proxy in front of b. */
  readonly aPeer?: string;
  /** What node b (started as secondary) names as its `--primary` (default a's address): a proxy in front of a. */
  readonly bPrimary?: string;
  /** Flags for one node only. */
  readonly only?: Partial<Record<NodeName, readonly string[]>>;
}

export class NodePair {
  readonly processes: Record<NodeName, NodeProcess | undefined> = { a: undefined, b: undefined };

  private constructor(
    readonly secretFile: string,
    readonly secret: Uint8Array,
    readonly ports: Record<NodeName, number>,
    /** The command line of each node, as first started: a restart repeats it. */
    readonly commands: Record<NodeName, { readonly role: 'primary' | 'secondary'; readonly args: readonly string[] }>,
  ) {}

  static async freePorts(): Promise<Record<NodeName, number>> {
    return { a: await freePort(), b: await freePort() };
  }

  /** Starts a as primary and b as its secondary, and waits until b is in sync. */
  static async start(options: NodePairOptions = {}): Promise<NodePair> {
    const dir = tempDir();
    const { path: secretFile, secret } = writeSecret(dir);
    const ports = options.ports ?? (await NodePair.freePorts());
    // The conference API on a free port too, so pairs in parallel test files never collide on its default.
    const common = ['--secret-file', secretFile, '--sync-check-interval-ms', '0', '--api-listen', '127.0.0.1:0', ...(options.common ?? [])];
    const pair = new NodePair(secretFile, secret, ports, {
      a: { role: 'primary', args: ['--listen', `127.0.0.1:${ports.a}`, '--peer', options.aPeer ?? `127.0.0.1:${ports.b}`, '--node-id', '1', ...common, ...(options.only?.a ?? [])] },
      b: { role: 'secondary', args: ['--listen', `127.0.0.1:${ports.b}`, '--primary', options.bPrimary ?? `127.0.0.1:${ports.a}`, '--node-id', '2', ...common, ...(options.only?.b ?? [])] },
    });
    await pair.restart('a');
    await pair.restart('b');
    await pair.process('b').waitFor('in sync with the primary');
    return pair;
  }

  process(name: NodeName): NodeProcess {
    const node = this.processes[name];
    if (node === undefined) throw new Error(`node ${name} is not running`);
    return node;
  }

  address(name: NodeName): Address {
    return { host: '127.0.0.1', port: this.ports[name] };
  }

  /** Both nodes' direct addresses, a first. */
  addresses(): Address[] {
    return NODE_NAMES.map((name) => this.address(name));
  }

  other(name: NodeName): NodeName {
    return name === 'a' ? 'b' : 'a';
  }

  /** What `name` says it is in a handshake now; undefined if it does not answer. */
  async identity(name: NodeName): Promise<ServerIdentity | undefined> {
    try {
      const client = await ElementClient.connect({ ...this.address(name), secret: this.secret, connectTimeoutMs: 2000 });
      client.close();
      return client.server;
    } catch {
      return undefined;
    }
  }

  /** The node that says it is primary (at the higher epoch if both do); throws if none does. */
  async primary(): Promise<NodeName> {
    const [a, b] = await Promise.all([this.identity('a'), this.identity('b')]);
    const candidates = ([['a', a], ['b', b]] as const).filter(([, identity]) => identity?.role === 'primary');
    if (candidates.length === 0) throw new Error(`no node is primary: a=${JSON.stringify(a)} b=${JSON.stringify(b)}`);
    return candidates.reduce((x, y) => (y[1]!.epoch > x[1]!.epoch ? y : x))[0];
  }

  async kill(name: NodeName): Promise<void> {
    await this.processes[name]?.kill('SIGKILL');
    this.processes[name] = undefined;
  }

  /** Starts `name` (again) with its first command line and waits until it listens. */
  async restart(name: NodeName): Promise<NodeProcess> {
    await this.kill(name);
    const command = this.commands[name];
    const node = spawnNode(command.role, command.args);
    this.processes[name] = node;
    await node.waitFor(`${command.role} listening`);
    return node;
  }

  /** `confstate check` against `primary`, run as its own process while this one goes on. */
  check(primary: NodeName, ...extra: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runCliAsync(['check', '--primary', `127.0.0.1:${this.ports[primary]}`, '--secret-file', this.secretFile, ...extra]);
  }

  /** The last `count` log lines of both nodes, for a failure message. */
  logTail(count = 15): string {
    return NODE_NAMES.map((name) => {
      const lines = this.processes[name]?.lines.slice(-count) ?? [];
      return `--- ${name} (${this.processes[name] === undefined ? 'down' : 'up'}):\n${lines.map((line) => JSON.stringify(line)).join('\n')}`;
    }).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(NODE_NAMES.map((name) => this.kill(name)));
  }
}
