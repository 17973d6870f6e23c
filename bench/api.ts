/** `npm run bench -- api`: the conference API on a real primary + secondary
 *  (replication on, minReplicas 1) driven by a forked load generator
 *  (bench/api-load.ts): acknowledged commands/s and latency at 64 and 256
 *  WebSocket clients, CPU share per process; then memory per participant per
 *  store, per idle WebSocket, and one primary holding 100,000 participants with
 *  5,000 clients connected. Optionally a CPU profile of the primary. */

import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ElementClient } from '../src/client/element-client.ts';
import { planCommand } from '../src/conference/commands.ts';
import { SessionMirror } from '../src/conference/mirror.ts';
import type { Actor, Command, ElementUpdate } from '../src/conference/model.ts';
import type { JsonValue } from '../src/core/value.ts';
import { type ApiPair, startApiPair } from '../test/support/api-pair.ts';
import type { NodeProcess } from '../test/support/processes.ts';
import type { LoadAnswer, LoadJob, Member } from './api-load.ts';
import type { LoadResult } from './load.ts';
import { Inspector } from './inspector.ts';
import { formatNumber, inTurns, machine, median, saveProfile, saveResults, table } from './support.ts';

const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '64,256').split(',').map(Number);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 700);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Clients per session in the throughput runs: several people of one meeting toggling at once, each following the session. */
const CLIENTS_PER_SESSION = Number(process.env.BENCH_API_PER_SESSION ?? 4);
/** The capacity goal: 100,000 participants across 10,000 sessions, 5,000 WebSocket clients. */
const MEMORY_SESSIONS = Number(process.env.BENCH_API_SESSIONS ?? 10_000);
const MEMORY_PER_SESSION = 10;
const MEMORY_CLIENTS = Number(process.env.BENCH_API_CLIENTS ?? 5_000);
/** BENCH_API_PHASES: which parts to run, of `throughput,floor,memory`. */
const PHASES = (process.env.BENCH_API_PHASES ?? 'throughput,floor,memory').split(',');
/** BENCH_API_PROFILE=1: one extra run at the highest concurrency with `node --cpu-prof` on the primary. */
const PROFILE = process.env.BENCH_API_PROFILE === '1';
/** A load generator sends far more than a browser: the per-connection bucket is raised; presence never times out mid-run. */
const API_LIMITS = JSON.stringify({ messagesPerSecond: 1_000_000, messageBurst: 1_000_000, presenceGraceMs: 3_600_000 });
/**
 * Every bench node: raised API limits, a 20 s link timeout and no failover
 * (defaults 1 s / 600 ms). On this shared 2-core machine a starved primary
 * once went silent long enough during the bulk load for the secondary to
 * promote itself; a failover mid-measurement measures something else.
 * Steady-state costs do not depend on these timings (heartbeats only fill quiet links).
 */
const NODE_ARGS = ['--api-limits', API_LIMITS, '--link-timeout-ms', '20000', '--failover-timeout-ms', '0'];

const LOAD_ENTRY = fileURLToPath(new URL('./api-load.ts', import.meta.url));
const FLOOR_ENTRY = fileURLToPath(new URL('./api-floor.ts', import.meta.url));

/** The forked load generator: one job at a time over IPC. */
class LoadGenerator {
  private constructor(readonly child: ChildProcess) {}

  static start(): LoadGenerator {
    return new LoadGenerator(fork(LOAD_ENTRY, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' }));
  }

  run(job: LoadJob): Promise<Extract<LoadAnswer, { kind: 'done' }>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`the load generator exited (${code}) during ${job.kind}`));
      this.child.once('exit', onExit);
      this.child.once('message', (answer: LoadAnswer) => {
        this.child.off('exit', onExit);
        if (answer.kind === 'error') reject(new Error(`load generator, ${job.kind}: ${answer.message}`));
        else resolve(answer);
      });
      this.child.send(job);
    });
  }

  stop(): void {
    this.child.kill();
  }
}

function pidsOf(pair: ApiPair): Record<string, number> {
  return { primary: pair.primary.child.pid!, secondary: pair.secondary.child.pid! };
}

interface ThroughputRow {
  readonly concurrency: number;
  readonly rounds: LoadResult[];
  /** The machine's 1-minute load average before and after: other work on a shared machine shows here. */
  readonly loadAverage: readonly number[];
}

/** One setup of a throughput comparison, started once per concurrency, run round by round. */
interface Contender {
  run(round: number): Promise<LoadResult>;
  stop(): Promise<void>;
}

/** confstate: a fresh pair per concurrency; each round uses new sessions and new clients on it. */
async function startConfstate(concurrency: number): Promise<Contender> {
  const pair = await startApiPair({ minReplicas: 1, nodeArgs: NODE_ARGS });
  const generator = LoadGenerator.start();
  return {
    async run(round) {
      const job: LoadJob = { kind: 'throughput', url: pair.primaryUrl, jwtSecret: pair.jwtSecret, clients: concurrency, perSession: CLIENTS_PER_SESSION, sessionPrefix: `r${round}`, warmupMs: WARMUP_MS, durationMs: DURATION_MS, pids: pidsOf(pair) };
      const answer = await generator.run(job);
      console.error(`  ${concurrency} clients, round ${round + 1}: ${formatNumber(answer.result!.perSecond)} commands/s, p99 ${answer.result!.p99Ms.toFixed(1)} ms, failed ${answer.result!.failed}`);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the closed clients' presence writes settle
      return answer.result!;
    },
    async stop() {
      generator.stop();
      await pair.stop();
    },
  };
}

/**
 * The same load against the bare WebSocket server of bench/api-floor.ts: what
 * reading a command and sending its result and deltas costs on this machine
 * with nothing else — the most any server on this stack could do here.
 */
async function startFloor(concurrency: number): Promise<Contender> {
  const server = fork(FLOOR_ENTRY, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    server.once('message', (m) => resolve(m as { port: number }));
    server.once('exit', (code) => reject(new Error(`the floor server exited (${code})`)));
  });
  const generator = LoadGenerator.start();
  return {
    async run(round) {
      const job: LoadJob = { kind: 'throughput', url: `http://127.0.0.1:${port}`, jwtSecret: 'floor', clients: concurrency, perSession: CLIENTS_PER_SESSION, sessionPrefix: `f${round}`, warmupMs: WARMUP_MS, durationMs: DURATION_MS, pids: { 'floor server': server.pid! } };
      const answer = await generator.run(job);
      console.error(`  floor, ${concurrency} clients, round ${round + 1}: ${formatNumber(answer.result!.perSecond)} commands/s, p99 ${answer.result!.p99Ms.toFixed(1)} ms`);
      return answer.result!;
    },
    async stop() {
      generator.stop();
      server.kill();
    },
  };
}

/**
 * Starts the contenders of one concurrency and measures them taking turns, round by round
 * (inTurns), so the floor's drift does not go into "confstate as a share of it"; a contender
 * waiting for its turn is idle. Rows come back in the contenders' order.
 */
async function takeTurns(concurrency: number, starts: readonly (() => Promise<Contender>)[], rounds: number): Promise<ThroughputRow[]> {
  const loadBefore = loadavg()[0]!;
  const contenders: Contender[] = [];
  let results: LoadResult[][];
  try {
    for (const start of starts) contenders.push(await start());
    results = await inTurns(rounds, contenders.map((contender) => (round: number) => contender.run(round)));
  } finally {
    for (const contender of contenders) await contender.stop();
  }
  const loadAverage = [loadBefore, loadavg()[0]!];
  return results.map((rounds) => ({ concurrency, rounds, loadAverage }));
}

function floorRow(floor: ThroughputRow, confstate: ThroughputRow | undefined): string[] {
  const pick = (row: ThroughputRow, f: (x: LoadResult) => number): number => median(row.rounds.map(f));
  const perCommandUs = ['floor server', 'load generator'].map((name) => formatNumber(pick(floor, (x) => (x.cpu[name]! * 1e6) / x.perSecond))).join(' / ');
  const share = confstate === undefined ? '—' : `${Math.round((pick(confstate, (x) => x.perSecond) / pick(floor, (x) => x.perSecond)) * 100)}%`;
  return [String(floor.concurrency), formatNumber(pick(floor, (x) => x.perSecond)), perCommandUs, milliseconds(pick(floor, (x) => x.p50Ms)), milliseconds(pick(floor, (x) => x.p99Ms)), share, floor.loadAverage.map((x) => x.toFixed(1)).join(' → ')];
}

/** Milliseconds with two decimals; a dash when nothing was measured. */
function milliseconds(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : '—';
}

function throughputRow(row: ThroughputRow): string[] {
  const pick = (f: (x: LoadResult) => number): number => median(row.rounds.map(f));
  const cpu = Object.keys(row.rounds[0]!.cpu)
    .map((name) => `${name} ${Math.round(median(row.rounds.map((x) => x.cpu[name]!)) * 100)}%`)
    .join(', ');
  const load = row.loadAverage.map((x) => x.toFixed(1)).join(' → ');
  // CPU time per acknowledged command depends far less on other work on the machine than the rate does.
  const perCommandUs = ['primary', 'secondary', 'load generator'].map((name) => formatNumber(pick((x) => (x.cpu[name]! * 1e6) / x.perSecond))).join(' / ');
  return [String(row.concurrency), formatNumber(pick((x) => x.perSecond)), perCommandUs, milliseconds(pick((x) => x.p50Ms)), milliseconds(pick((x) => x.p99Ms)), milliseconds(pick((x) => x.p999Ms)), String(pick((x) => x.failed)), cpu, load];
}

// ---------------------------------------------------------------------------
// Memory: a node's heap and RSS after a full GC, read through its inspector.
// ---------------------------------------------------------------------------

interface Memory {
  readonly heapUsedBytes: number;
  readonly rssBytes: number;
}


/** Collects garbage in the node (twice: the first may leave weakly held objects for the second), then reads process.memoryUsage(). */
async function memoryOf(node: NodeProcess): Promise<Memory> {
  const inspector = await Inspector.open(node);
  try {
    await inspector.call('HeapProfiler.collectGarbage');
    await inspector.call('HeapProfiler.collectGarbage');
    const answer = await inspector.call<{ result: { value: string } }>('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    const usage = JSON.parse(answer.result.value) as { heapUsed: number; rss: number };
    return { heapUsedBytes: usage.heapUsed, rssBytes: usage.rss };
  } finally {
    inspector.close();
  }
}

/**
 * The element updates of one session of `perSession` participants, planned by
 * the domain's own planner: create, then per participant join, publish audio
 * and video, raise the hand. Keys name session `TEMPLATE`, replaced per session.
 */
function templateSession(perSession: number): ElementUpdate[] {
  const session = 'TEMPLATE';
  const mirror = new SessionMirror(session);
  const updates: ElementUpdate[] = [];
  let ts = 1;
  const run = (actor: Actor, command: Command): void => {
    const plan = planCommand(mirror.view(), session, actor, command, 1_700_000_000_000 + ts);
    if (!plan.ok) throw new Error(`template: ${command.type} by ${actor.id}: ${plan.error.message}`);
    for (const update of plan.updates) {
      mirror.apply({ key: update.key, ts: ts++, value: update.value });
      updates.push(update);
    }
  };
  run({ kind: 'service', id: 'bench', tokenRole: 'host' }, { type: 'create', title: 'A meeting of the memory benchmark', settings: { lobby: false } });
  for (let p = 0; p < perSession; p++) {
    const actor: Actor = { kind: 'participant', id: `u${p}`, tokenRole: 'participant' };
    run(actor, { type: 'join', name: `Participant number ${p}` });
    run(actor, { type: 'publish_track', kind: 'audio' });
    run(actor, { type: 'publish_track', kind: 'video' });
    run(actor, { type: 'raise_hand' });
  }
  return updates;
}

/** Writes every session's elements through the element API (the replicated write path), pipelined over a few connections. */
async function loadSessions(pair: ApiPair, sessions: number, template: readonly ElementUpdate[]): Promise<number> {
  const clients = await Promise.all(Array.from({ length: 8 }, () => ElementClient.connect({ host: '127.0.0.1', port: pair.replicationPort, secret: pair.secret })));
  const lastLines = (): string => [...pair.primary.lines.slice(-5), ...pair.secondary.lines.slice(-5)].map((l) => JSON.stringify(l)).join('\n');
  let next = 0;
  const total = sessions * template.length;
  let failed = 0;
  await Promise.all(clients.map(async (client) => {
    const inFlight = new Set<Promise<unknown>>();
    for (let i = next++; i < total; i = next++) {
      const update = template[i % template.length]!;
      const key = update.key.replace('s/TEMPLATE/', `s/m-${Math.floor(i / template.length)}/`);
      const p = client.update(key, update.value as JsonValue).then(
        (r) => void (r.code === 'applied' || failed++),
        (error: unknown) => {
          throw new Error(`loading ${key}: ${(error as Error).message}; the nodes' last log lines:\n${lastLines()}`);
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= 256) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }));
  for (const client of clients) client.close();
  if (failed > 0) throw new Error(`${failed} of ${total} element updates were not applied`);
  return total;
}

interface MemoryReport {
  readonly sessions: number;
  readonly participants: number;
  readonly elements: number;
  readonly elementsPerParticipant: number;
  readonly elementsPerSession: number;
  readonly primary: { readonly empty: Memory; readonly loaded: Memory; readonly idleClients: Memory; readonly subscribedClients: Memory };
  readonly secondary: { readonly empty: Memory; readonly loaded: Memory };
  readonly clients: number;
  readonly connectedAtEnd: number;
  /** Commands from the connected clients while the primary holds everything. */
  readonly probe: LoadResult;
  readonly fileDescriptorsMax: string;
  readonly loadAverage: readonly number[];
}

/** Loads the participants, then connects the clients (idle, then subscribed), measuring after each step; then drives commands. */
async function benchMemory(): Promise<MemoryReport> {
  const inspect = ['--inspect=127.0.0.1:0'];
  const pair = await startApiPair({ minReplicas: 1, nodeArgs: NODE_ARGS, primaryNodeFlags: inspect, secondaryNodeFlags: inspect });
  const generator = LoadGenerator.start();
  const loadAverage = [loadavg()[0]!];
  try {
    const empty = { primary: await memoryOf(pair.primary), secondary: await memoryOf(pair.secondary) };
    const template = templateSession(MEMORY_PER_SESSION);
    console.error(`  loading ${MEMORY_SESSIONS.toLocaleString('en-US')} sessions x ${MEMORY_PER_SESSION} participants (${(MEMORY_SESSIONS * template.length).toLocaleString('en-US')} elements) through the element API...`);
    const elements = await loadSessions(pair, MEMORY_SESSIONS, template);
    const loaded = { primary: await memoryOf(pair.primary), secondary: await memoryOf(pair.secondary) };
    // Client i is participant u{i % 10} of session m-{i / 10}: 500 meetings with everyone connected.
    const members: Member[] = Array.from({ length: MEMORY_CLIENTS }, (_, i) => ({ session: `m-${Math.floor(i / MEMORY_PER_SESSION)}`, participant: `u${i % MEMORY_PER_SESSION}` }));
    console.error(`  connecting ${MEMORY_CLIENTS.toLocaleString('en-US')} WebSocket clients...`);
    await generator.run({ kind: 'connect', url: pair.primaryUrl, jwtSecret: pair.jwtSecret, members });
    const idleClients = await memoryOf(pair.primary);
    await generator.run({ kind: 'subscribe' });
    const subscribedClients = await memoryOf(pair.primary);
    const probe = await generator.run({ kind: 'probe', workers: Math.min(256, MEMORY_CLIENTS), warmupMs: WARMUP_MS, durationMs: DURATION_MS, pids: pidsOf(pair) });
    console.error(`  with ${probe.connected} clients connected: ${formatNumber(probe.result!.perSecond)} commands/s, p99 ${milliseconds(probe.result!.p99Ms)} ms`);
    await generator.run({ kind: 'close' });
    const participantElements = (template.length - elementsOfCreate(template)) / MEMORY_PER_SESSION;
    return {
      sessions: MEMORY_SESSIONS,
      participants: MEMORY_SESSIONS * MEMORY_PER_SESSION,
      elements,
      elementsPerParticipant: participantElements,
      elementsPerSession: elementsOfCreate(template),
      primary: { empty: empty.primary, loaded: loaded.primary, idleClients, subscribedClients },
      secondary: { empty: empty.secondary, loaded: loaded.secondary },
      clients: MEMORY_CLIENTS,
      connectedAtEnd: probe.connected!,
      probe: probe.result!,
      fileDescriptorsMax: spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim(),
      loadAverage: [...loadAverage, loadavg()[0]!],
    };
  } finally {
    generator.stop();
    await pair.stop();
  }
}

/** Elements a session has before anyone joins (meta, settings, phase…): the template's keys outside p/role/track/hand. */
function elementsOfCreate(template: readonly ElementUpdate[]): number {
  return template.filter((u) => !/^s\/TEMPLATE\/(p|role|track|hand)\//.test(u.key)).length;
}

function memoryLines(m: MemoryReport): string[] {
  const per = (after: Memory, before: Memory, count: number, field: keyof Memory): string => formatNumber((after[field] - before[field]) / count);
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const perParticipant = (node: { empty: Memory; loaded: Memory }): string[] => [per(node.loaded, node.empty, m.participants, 'heapUsedBytes'), per(node.loaded, node.empty, m.participants, 'rssBytes')];
  return [
    table(
      ['measure', 'heap bytes', 'RSS bytes'],
      [
        ['per participant, primary (its ' + m.elementsPerParticipant + ' elements + 1/' + MEMORY_PER_SESSION + ' of its session\'s ' + m.elementsPerSession + ')', ...perParticipant(m.primary)],
        ['per participant, secondary (same)', ...perParticipant(m.secondary)],
        ['per idle WebSocket connection (hello done), primary', per(m.primary.idleClients, m.primary.loaded, m.clients, 'heapUsedBytes'), per(m.primary.idleClients, m.primary.loaded, m.clients, 'rssBytes')],
        ['per connection, subscribing added (snapshot sent, presence, stream)', per(m.primary.subscribedClients, m.primary.idleClients, m.clients, 'heapUsedBytes'), per(m.primary.subscribedClients, m.primary.idleClients, m.clients, 'rssBytes')],
      ],
    ),
    '',
    `primary holding ${m.participants.toLocaleString('en-US')} participants in ${m.sessions.toLocaleString('en-US')} sessions (${m.elements.toLocaleString('en-US')} elements) with ${m.clients.toLocaleString('en-US')} subscribed WebSocket clients: heap ${mib(m.primary.subscribedClients.heapUsedBytes)}, RSS ${mib(m.primary.subscribedClients.rssBytes)} (secondary: heap ${mib(m.secondary.loaded.heapUsedBytes)}, RSS ${mib(m.secondary.loaded.rssBytes)}); ulimit -n ${m.fileDescriptorsMax}`,
    `meanwhile ${Math.min(256, m.clients)} of them sending commands in closed loops (each session's 10 members follow it: a command's delta goes to 10 clients): ${formatNumber(m.probe.perSecond)} acknowledged commands/s, p50 ${milliseconds(m.probe.p50Ms)} ms, p99 ${milliseconds(m.probe.p99Ms)} ms, ${m.probe.failed} failed; ${m.connectedAtEnd.toLocaleString('en-US')} of ${m.clients.toLocaleString('en-US')} still connected at the end`,
    `machine load average (1 min) during the memory phase: ${m.loadAverage.map((x) => x.toFixed(1)).join(' → ')}`,
  ];
}

// ---------------------------------------------------------------------------
// Profile: self time per function from a .cpuprofile.
// ---------------------------------------------------------------------------

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

/** A CPU profile as the DevTools protocol returns it. */
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** The functions with the most self time, as shares of the busy (not idle) samples. */
function topFunctions(profile: CpuProfile, count: number): { readonly name: string; readonly selfPercent: number }[] {
  const nameOf = new Map(profile.nodes.map((n) => [n.id, `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`]));
  const self = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const name = nameOf.get(id) ?? '?';
    if (name.startsWith('(idle)')) return;
    const delta = profile.timeDeltas[i] ?? 0;
    busy += delta;
    self.set(name, (self.get(name) ?? 0) + delta);
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, time]) => ({ name, selfPercent: (time / busy) * 100 }));
}

/** One throughput round with the primary's CPU profiled from the job's start to its end (not the process start). */
async function profilePrimary(concurrency: number): Promise<{ name: string; selfPercent: number }[]> {
  const pair = await startApiPair({ minReplicas: 1, nodeArgs: NODE_ARGS, primaryNodeFlags: ['--inspect=127.0.0.1:0'] });
  const generator = LoadGenerator.start();
  const inspector = await Inspector.open(pair.primary);
  try {
    await inspector.call('Profiler.enable');
    await inspector.call('Profiler.start');
    const job: LoadJob = { kind: 'throughput', url: pair.primaryUrl, jwtSecret: pair.jwtSecret, clients: concurrency, perSession: CLIENTS_PER_SESSION, sessionPrefix: 'profiled', warmupMs: WARMUP_MS, durationMs: DURATION_MS, pids: pidsOf(pair) };
    const answer = await generator.run(job);
    const { profile } = await inspector.call<{ profile: CpuProfile }>('Profiler.stop');
    console.error(`  profiled round, ${concurrency} clients: ${formatNumber(answer.result!.perSecond)} commands/s`);
    const saved = saveProfile('api-primary', profile);
    console.error(`  the whole profile (open in Chrome DevTools): ${saved}`);
    return topFunctions(profile, 25);
  } finally {
    inspector.close();
    generator.stop();
    await pair.stop();
  }
}

export async function runApiBench(): Promise<void> {
  console.error(`bench/api: ${ROUNDS} rounds of ${DURATION_MS} ms after ${WARMUP_MS} ms warm-up per concurrency; ${CLIENTS_PER_SESSION} clients per session; medians`);
  const rows: ThroughputRow[] = [];
  const floors: ThroughputRow[] = [];
  const withThroughput = PHASES.includes('throughput');
  const withFloor = PHASES.includes('floor');
  for (const concurrency of CONCURRENCY) {
    const starts = [...(withThroughput ? [() => startConfstate(concurrency)] : []), ...(withFloor ? [() => startFloor(concurrency)] : [])];
    if (starts.length === 0) continue;
    const measured = await takeTurns(concurrency, starts, ROUNDS);
    if (withThroughput) rows.push(measured.shift()!);
    if (withFloor) floors.push(measured.shift()!);
  }
  const profile = PROFILE ? await profilePrimary(Math.max(...CONCURRENCY)) : undefined;
  const memory = PHASES.includes('memory') ? await benchMemory() : undefined;
  const host = machine();
  console.log(`\nbench/api on ${host.cpu} (${host.cores} cores, ${host.memoryGiB} GiB), Node ${host.node}; primary, secondary and load generator share the machine\n`);
  if (rows.length > 0) console.log(table(['clients', 'acked commands/s', 'CPU µs per command: primary / secondary / load generator', 'p50 ms', 'p99 ms', 'p99.9 ms', 'failed', 'CPU share (1 core = 100%)', 'load average'], rows.map(throughputRow)));
  if (floors.length > 0) {
    console.log('\nthe floor: the same load against a bare WebSocket server (bench/api-floor.ts: result and deltas only, no confstate)\n');
    console.log(table(['clients', 'commands/s', 'CPU µs per command: server / load generator', 'p50 ms', 'p99 ms', 'confstate as a share of it', 'load average'], floors.map((f) => floorRow(f, rows.find((r) => r.concurrency === f.concurrency)))));
  }
  if (memory !== undefined) console.log(['', ...memoryLines(memory)].join('\n'));
  if (profile !== undefined) {
    console.log(`\nprimary CPU profile during one round at ${Math.max(...CONCURRENCY)} clients, self time as a share of its busy time:\n`);
    console.log(table(['function', 'self %'], profile.map((p) => [p.name, p.selfPercent.toFixed(1)])));
  }
  const path = saveResults('api', { machine: host, durationMs: DURATION_MS, warmupMs: WARMUP_MS, clientsPerSession: CLIENTS_PER_SESSION, rows, floors, memory, profile });
  console.log(`saved ${path}`);
}
