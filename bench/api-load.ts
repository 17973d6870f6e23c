/** The load generator of `npm run bench -- api`, in its own process (forked by
 *  bench/api.ts so it does not share an event loop with the orchestrator):
 *  WebSocket clients of the conference API, one participant each, driven by
 *  jobs that arrive over IPC. It knows the wire protocol (docs/API.md), not the servers. */

import { WebSocket } from 'ws';
import type { Command } from '../src/conference/model.ts';
import { signHs256 } from '../test/support/api-pair.ts';
import { type LoadResult, runLoad } from './load.ts';

export interface Member {
  readonly session: string;
  readonly participant: string;
}

/** Which commands a client cycles through: each one changes the participant's state, so each writes. */
export type Cycle = 'fresh' | 'loaded';

export type LoadJob =
  | { readonly kind: 'throughput'; readonly url: string; readonly jwtSecret: string; readonly clients: number; readonly perSession: number; readonly sessionPrefix: string; readonly warmupMs: number; readonly durationMs: number; readonly pids: Record<string, number> }
  | { readonly kind: 'connect'; readonly url: string; readonly jwtSecret: string; readonly members: readonly Member[] }
  | { readonly kind: 'subscribe' }
  | { readonly kind: 'probe'; readonly workers: number; readonly warmupMs: number; readonly durationMs: number; readonly pids: Record<string, number> }
  | { readonly kind: 'close' };

export type LoadAnswer = { readonly kind: 'done'; readonly result?: LoadResult; readonly connected?: number } | { readonly kind: 'error'; readonly message: string };

/** Setup waits (welcome, snapshot, a join's result) give up after this long. */
const SETUP_TIMEOUT_MS = 60_000;
/** Connections opened at once: stays under the server's listen backlog (511). */
const CONNECT_PARALLEL = 200;

const CYCLES: Record<Cycle, readonly ((self: string) => Command)[]> = {
  // After a join: no audio track, no hand.
  fresh: [(p) => ({ type: 'mute', participant: p }), () => ({ type: 'raise_hand' }), (p) => ({ type: 'unmute', participant: p }), () => ({ type: 'lower_hand' })],
  // Loaded by bench/api.ts: audio published unmuted, hand raised.
  loaded: [(p) => ({ type: 'mute', participant: p }), () => ({ type: 'lower_hand' }), (p) => ({ type: 'unmute', participant: p }), () => ({ type: 'raise_hand' })],
};

/**
 * One participant's WebSocket. Only `result` frames are parsed once set up:
 * deltas are counted by the server's cost, not the generator's, so they are
 * received and dropped (a real client would apply them).
 */
class BenchClient {
  readonly #results = new Map<string, (ok: boolean) => void>();
  #waiter: { readonly test: (message: Record<string, unknown>) => boolean; readonly resolve: () => void; readonly reject: (error: Error) => void } | undefined;
  #step = 0;

  private constructor(
    readonly socket: WebSocket,
    readonly member: Member,
  ) {
    socket.on('message', (data) => this.#onMessage(String(data)));
    // A dropped connection fails what it had outstanding, so a closed loop never waits forever.
    socket.on('close', () => {
      for (const resolve of this.#results.values()) resolve(false);
      this.#results.clear();
      this.#waiter?.reject(new Error(`${member.participant}'s connection closed`));
    });
    socket.on('error', () => undefined); // 'close' follows
  }

  /** Connects and says hello; resolves after `welcome`. */
  static async open(wsUrl: string, token: string, member: Member): Promise<BenchClient> {
    const socket = new WebSocket(wsUrl);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const client = new BenchClient(socket, member);
    await client.#exchange({ type: 'hello', token, protocol: 1 }, (m) => m.type === 'welcome');
    return client;
  }

  subscribe(): Promise<void> {
    return this.#exchange({ type: 'subscribe', session: this.member.session }, (m) => m.type === 'snapshot' && m.session === this.member.session);
  }

  /** Sends one command and resolves with its result's `ok`. */
  command(id: string, command: Command): Promise<boolean> {
    return new Promise((resolve) => {
      this.#results.set(id, resolve);
      this.socket.send(JSON.stringify({ type: 'command', id, session: this.member.session, command }));
    });
  }

  /** The next command of the cycle, with a fresh request id. */
  nextCommand(cycle: Cycle): Promise<boolean> {
    const step = this.#step++;
    const commands = CYCLES[cycle];
    return this.command(`b${step}`, commands[step % commands.length]!(this.member.participant));
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }

  #exchange(message: object, test: (message: Record<string, unknown>) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(message).slice(0, 80)} within ${SETUP_TIMEOUT_MS} ms`)), SETUP_TIMEOUT_MS);
      this.#waiter = { test, resolve: () => (clearTimeout(timer), resolve()), reject: (error) => (clearTimeout(timer), reject(error)) };
      this.socket.send(JSON.stringify(message));
    });
  }

  #onMessage(text: string): void {
    if (text.startsWith('{"type":"result"')) {
      const result = JSON.parse(text) as { id: string; ok: boolean };
      const resolve = this.#results.get(result.id);
      this.#results.delete(result.id);
      resolve?.(result.ok);
      return;
    }
    if (this.#waiter === undefined || text.startsWith('{"type":"delta"')) return;
    const message = JSON.parse(text) as Record<string, unknown>;
    const waiter = this.#waiter;
    if (message.type === 'error' && message.fatal === true) {
      this.#waiter = undefined;
      waiter.reject(new Error(`the server closed a bench client: ${text}`));
    } else if (waiter.test(message)) {
      this.#waiter = undefined;
      waiter.resolve();
    }
  }
}

/** Runs `work` over `items` with at most `parallel` at once. */
async function inBatches<T, R>(items: readonly T[], parallel: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await work(items[i]!, i);
  }));
  return out;
}

function wsUrl(url: string): string {
  return `${url.replace(/^http/, 'ws')}/v1/ws`;
}

async function connect(url: string, jwtSecret: string, members: readonly Member[]): Promise<BenchClient[]> {
  return inBatches(members, CONNECT_PARALLEL, (member) => BenchClient.open(wsUrl(url), signHs256(jwtSecret, { sub: member.participant, session: member.session, role: 'participant' }), member));
}

/** Creates the sessions (REST, service token), then connects, subscribes and joins every client. */
async function setUpThroughput(job: Extract<LoadJob, { kind: 'throughput' }>): Promise<BenchClient[]> {
  const sessionCount = Math.ceil(job.clients / job.perSession);
  const service = signHs256(job.jwtSecret, { sub: 'bench', session: '*', role: 'host' });
  for (let s = 0; s < sessionCount; s++) {
    const response = await fetch(`${job.url}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: `${job.sessionPrefix}-${s}`, settings: { lobby: false } }) });
    if (response.status !== 201) throw new Error(`creating session ${job.sessionPrefix}-${s}: ${response.status} ${await response.text()}`);
  }
  const members = Array.from({ length: job.clients }, (_, i) => ({ session: `${job.sessionPrefix}-${Math.floor(i / job.perSession)}`, participant: `c${i}` }));
  const clients = await connect(job.url, job.jwtSecret, members);
  await inBatches(clients, CONNECT_PARALLEL, async (client) => {
    await client.subscribe();
    if (!(await client.command('join', { type: 'join', name: client.member.participant }))) throw new Error(`${client.member.participant} could not join ${client.member.session}`);
  });
  return clients;
}

let held: BenchClient[] = [];

async function handle(job: LoadJob): Promise<LoadAnswer> {
  switch (job.kind) {
    case 'throughput': {
      const clients = await setUpThroughput(job);
      const result = await runLoad(clients.length, job.warmupMs, job.durationMs, (worker) => clients[worker]!.nextCommand('fresh'), job.pids);
      await Promise.all(clients.map((c) => c.close()));
      return { kind: 'done', result };
    }
    case 'connect':
      held = await connect(job.url, job.jwtSecret, job.members);
      return { kind: 'done', connected: held.length };
    case 'subscribe':
      await inBatches(held, CONNECT_PARALLEL, (client) => client.subscribe());
      return { kind: 'done', connected: held.filter((c) => c.socket.readyState === WebSocket.OPEN).length };
    case 'probe': {
      // Worker w drives clients w, w + workers, …, one command at a time, round robin.
      const result = await runLoad(job.workers, job.warmupMs, job.durationMs, (worker, n) => {
        const own = Math.ceil((held.length - worker) / job.workers);
        return held[worker + (n % own) * job.workers]!.nextCommand('loaded');
      }, job.pids);
      return { kind: 'done', result, connected: held.filter((c) => c.socket.readyState === WebSocket.OPEN).length };
    }
    case 'close':
      await Promise.all(held.map((c) => c.close()));
      held = [];
      return { kind: 'done' };
  }
}

process.on('message', (job: LoadJob) => {
  handle(job).then(
    (answer) => process.send!(answer),
    (error: unknown) => process.send!({ kind: 'error', message: (error as Error).stack ?? String(error) } satisfies LoadAnswer),
  );
});
