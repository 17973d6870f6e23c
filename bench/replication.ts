/** `npm run bench -- replication`: confstate primary+secondary against Redis
 *  primary+replica with WAIT 1 0, same load generator, same workload, same
 *  machine, one run (the spread rows update participants loaded beforehand).
 *  Also the replication-off ceiling, a bare relay → echo transport floor
 *  (bench/replication-floor.ts), the same updates into an empty store, a hot
 *  element, and the catch-up of an empty secondary from 1,000,000 elements
 *  while writes go on. The setups compared at one concurrency take turns
 *  round by round, so the machine's drift falls on all of them alike.
 *  `--only catch-up` runs the catch-up rounds alone (no Redis needed),
 *  `--only throughput` everything else. */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { ElementClient } from '../src/client/element-client.ts';
import { type NodeProcess, spawnNode, startPrimary, startSecondary, tempDir, writeSecret } from '../test/support/processes.ts';
import { type LoadResult, participantValue, processCpuSeconds, runLoad } from './load.ts';
import { Inspector } from './inspector.ts';
import { FloorClient, startFloor } from './replication-floor.ts';
import { formatNumber, inTurns, machine, median, saveResults, table } from './support.ts';

const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16,64,256').split(',').map(Number);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 700);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CATCH_UP_ELEMENTS = Number(process.env.BENCH_CATCH_UP_ELEMENTS ?? 1_000_000);
/** Catch-up rounds (each loads a fresh primary); the median is reported. */
const CATCH_UP_ROUNDS = Number(process.env.BENCH_CATCH_UP_ROUNDS ?? 3);
/** BENCH_CATCH_UP_PROFILE=dir: CPU profiles of both nodes from the secondary's start to its being in sync, written there. */
const CATCH_UP_PROFILE_DIR = process.env.BENCH_CATCH_UP_PROFILE;
const SESSIONS = 10_000;
const PARTICIPANTS = 10;

interface Row {
  readonly system: string;
  readonly workload: Workload;
  readonly concurrency: number;
  readonly rounds: LoadResult[];
}

/**
 * `spread`: every client updates participants of the 10,000 sessions × 10, which the
 * store already holds (loaded before the clock starts, the same way on both systems):
 * a conference state layer's steady state, where a participant joins once and then
 * mutes, raises hands and publishes many times. `fresh store`: the same updates
 * into an empty store, so most of them create their element (a join storm).
 * `hot element`: every client updates one element.
 */
type Workload = 'spread' | 'fresh store' | 'hot element';

function elementOf(worker: number, n: number, workload: Workload): { session: number; participant: number } {
  if (workload === 'hot element') return { session: 0, participant: 0 };
  const i = (worker * 7919 + n * 104_729) % (SESSIONS * PARTICIPANTS);
  return { session: Math.floor(i / PARTICIPANTS), participant: i % PARTICIPANTS };
}

async function confstateSystem(replicated: boolean): Promise<{ pids: Record<string, number>; port: number; secret: Uint8Array; stop: () => Promise<void> }> {
  const dir = tempDir();
  const { path, secret } = writeSecret(dir);
  const quiet = ['--log-level', 'info', '--sync-check-interval-ms', '0'];
  const primary = await startPrimary(path, replicated ? quiet : [...quiet, '--min-replicas', '0']);
  const nodes: NodeProcess[] = [primary.node];
  const pids: Record<string, number> = { 'confstate primary': primary.node.child.pid! };
  if (replicated) {
    const secondary = await startSecondary(path, primary.port, ['--log-level', 'info']);
    nodes.push(secondary.node);
    pids['confstate secondary'] = secondary.node.child.pid!;
  }
  return { pids, port: primary.port, secret, stop: async () => void (await Promise.all(nodes.map((n) => n.kill('SIGTERM')))) };
}

/** Client setups, the same for both systems: a connection per client, or a few shared, auto-pipelined connections. */
type Setup = 'connection per client' | 'auto-pipelining';
const SHARED_CONNECTIONS = 4;
/** The row of bench/replication-floor.ts: the same hops with nothing but the transport. */
const FLOOR = 'transport floor (relay → echo)';

/** Elements of the spread workload: 10,000 sessions × 10 participants. */
const ELEMENTS = SESSIONS * PARTICIPANTS;
/** Updates in flight while loading them. */
const LOAD_PARALLEL = 256;

/** Writes every participant of the spread workload once (through `update`, which must succeed), before a measurement. */
async function loadElements(update: (session: number, participant: number) => Promise<boolean>): Promise<void> {
  for (let from = 0; from < ELEMENTS; from += LOAD_PARALLEL) {
    const batch: Promise<boolean>[] = [];
    for (let i = from; i < Math.min(ELEMENTS, from + LOAD_PARALLEL); i++) batch.push(update(Math.floor(i / PARTICIPANTS), i % PARTICIPANTS));
    if (!(await Promise.all(batch)).every(Boolean)) throw new Error('loading the spread workload: an update was not acknowledged');
  }
}

async function benchConfstate(setup: Setup, replicated: boolean, concurrency: number, workload: Workload): Promise<LoadResult> {
  const cs = await confstateSystem(replicated);
  const connections = setup === 'connection per client' ? concurrency : Math.min(concurrency, SHARED_CONNECTIONS);
  const clients = await Promise.all(Array.from({ length: connections }, () => ElementClient.connect({ host: '127.0.0.1', port: cs.port, secret: cs.secret })));
  try {
    if (workload === 'spread') {
      let next = 0;
      await loadElements(async (session, participant) => (await clients[next++ % connections]!.update(`s/${session}/p/${participant}`, participantValue(session, participant, 0))).code === 'applied');
    }
    return await runLoad(
      concurrency,
      WARMUP_MS,
      DURATION_MS,
      async (worker, n) => {
        const { session, participant } = elementOf(worker, n, workload);
        const result = await clients[worker % connections]!.update(`s/${session}/p/${participant}`, participantValue(session, participant, n));
        return result.code === 'applied';
      },
      cs.pids,
    );
  } finally {
    for (const client of clients) client.close();
    await cs.stop();
  }
}

/** The same load against the bare relay → echo chain of bench/replication-floor.ts, auto-pipelined like confstate's row. */
async function benchFloor(concurrency: number, workload: Workload): Promise<LoadResult> {
  const floor = await startFloor();
  const connections = Math.min(concurrency, SHARED_CONNECTIONS);
  const clients = await Promise.all(Array.from({ length: connections }, () => FloorClient.connect(floor.port)));
  try {
    return await runLoad(
      concurrency,
      WARMUP_MS,
      DURATION_MS,
      (worker, n) => {
        const { session, participant } = elementOf(worker, n, workload);
        return clients[worker % connections]!.update(`s/${session}/p/${participant}`, participantValue(session, participant, n));
      },
      floor.pids,
    );
  } finally {
    for (const client of clients) client.close();
    floor.stop();
  }
}

function startRedis(port: number, replicaOf?: number): ChildProcess {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'];
  // Diskless replication in a temporary directory: nothing is written into the checkout.
  args.push('--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', '--dir', tempDir());
  if (replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(replicaOf));
  return spawn('redis-server', args, { stdio: 'ignore' });
}

async function waitForRedisReplica(primary: Redis): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const info = await primary.info('replication');
    if (/connected_slaves:1/.test(info) && /state=online/.test(info)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the Redis replica never came online');
}

async function benchRedis(mode: 'pipeline per update' | 'auto-pipelining', concurrency: number, workload: Workload): Promise<LoadResult> {
  const port = 17_600 + Math.floor(Math.random() * 300);
  const primary = startRedis(port);
  const replica = startRedis(port + 1, port);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: false });
  await waitForRedisReplica(admin);
  // One connection per client for per-update pipelines (WAIT blocks its connection);
  // a few shared connections for auto-pipelining, which batches across clients.
  const connections = mode === 'pipeline per update' ? concurrency : Math.min(concurrency, SHARED_CONNECTIONS);
  const clients = Array.from({ length: connections }, () => new Redis({ port, host: '127.0.0.1', enableAutoPipelining: mode === 'auto-pipelining' }));
  await Promise.all(clients.map((c) => c.ping()));
  try {
    if (workload === 'spread') {
      // Loaded on one auto-pipelined connection; one WAIT at the end covers every write made on it.
      const loader = new Redis({ port, host: '127.0.0.1', enableAutoPipelining: true });
      try {
        await loadElements(async (session, participant) => (await loader.hset(`s:${session}`, `p:${participant}`, JSON.stringify(participantValue(session, participant, 0)))) >= 0);
        if (Number(await loader.wait(1, 0)) < 1) throw new Error('loading the spread workload: the Redis replica did not acknowledge it');
      } finally {
        loader.disconnect();
      }
    }
    return await runLoad(
      concurrency,
      WARMUP_MS,
      DURATION_MS,
      async (worker, n) => {
        const { session, participant } = elementOf(worker, n, workload);
        const client = clients[worker % connections]!;
        const value = JSON.stringify(participantValue(session, participant, n));
        if (mode === 'pipeline per update') {
          const replies = await client.pipeline().hset(`s:${session}`, `p:${participant}`, value).wait(1, 0).exec();
          return replies !== null && replies[1]![0] === null && Number(replies[1]![1]) >= 1;
        }
        const [, replicas] = await Promise.all([client.hset(`s:${session}`, `p:${participant}`, value), client.wait(1, 0)]);
        return Number(replicas) >= 1;
      },
      { 'redis primary': primary.pid!, 'redis replica': replica.pid! },
    );
  } finally {
    for (const c of [...clients, admin]) c.disconnect();
    primary.kill('SIGKILL');
    replica.kill('SIGKILL');
  }
}

interface CatchUpResult {
  readonly loadMs: number;
  /** From the secondary's connection to the primary to its being in sync (its own log times). */
  readonly catchUpMs: number;
  /** The same, including the secondary's process start. */
  readonly withStartMs: number;
  /** Writes (one at a time) acknowledged while the secondary caught up: each one held by the secondary first (W2). */
  readonly writesDuring: number;
  /** The slowest of them: a live write waits behind the catch-up elements already sent. */
  readonly slowestWriteDuringMs: number;
  /** The machine's 1-minute load average when the round started: on a shared machine the time alone misleads. */
  readonly loadAverage: number;
  /** CPU time (user + system, all threads) each node used during the catch-up: steadier than the time on a busy machine. */
  readonly primaryCpuMs: number;
  readonly secondaryCpuMs: number;
}


/** BENCH_CATCH_UP_PROFILE: both nodes open an inspector on a loopback port, so the bench can profile the catch-up alone. */
const PROFILE_FLAGS = CATCH_UP_PROFILE_DIR === undefined ? [] : ['--inspect=127.0.0.1:0'];


/** Profiles `nodes` from now until `stop()`, which writes one .cpuprofile per node into CATCH_UP_PROFILE_DIR. */
async function startProfiles(nodes: readonly NodeProcess[]): Promise<{ stop: (label: string) => Promise<void> }> {
  if (CATCH_UP_PROFILE_DIR === undefined) return { stop: async () => {} };
  const inspectors = await Promise.all(nodes.map((node) => Inspector.open(node)));
  for (const inspector of inspectors) {
    await inspector.call('Profiler.enable');
    await inspector.call('Profiler.start');
  }
  return {
    stop: async (label) => {
      mkdirSync(CATCH_UP_PROFILE_DIR, { recursive: true });
      for (const [i, inspector] of inspectors.entries()) {
        const { profile } = await inspector.call<{ profile: unknown }>('Profiler.stop');
        const path = join(CATCH_UP_PROFILE_DIR, `catch-up-${label}-${nodes[i]!.role}.cpuprofile`);
        writeFileSync(path, JSON.stringify(profile));
        console.error(`  wrote ${path}`);
        inspector.socket.close(); // a node with a debugger attached would wait for it at exit
      }
    },
  };
}

/** Fills a primary with `count` elements, then times an empty secondary's catch-up while a writer keeps writing. */
async function benchCatchUp(count: number): Promise<CatchUpResult> {
  // Every process this round starts is stopped however it ends: a timed-out round must not leave
  // a node spinning on a machine others share.
  const nodes: NodeProcess[] = [];
  const clients: ElementClient[] = [];
  let writer: Promise<void> | undefined;
  let writing = true;
  try {
    return await catchUpRound(count, nodes, clients, (w) => (writer = w), () => writing);
  } finally {
    writing = false;
    for (const client of clients) client.close(); // an update still waiting ends with its connection
    await writer?.catch(() => undefined);
    await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
  }
}

async function catchUpRound(count: number, nodes: NodeProcess[], clients: ElementClient[], setWriter: (writer: Promise<void>) => void, writing: () => boolean): Promise<CatchUpResult> {
  const loadAverage = loadavg()[0]!;
  const dir = tempDir();
  const { path, secret } = writeSecret(dir);
  const primaryNode = spawnNode('primary', ['--listen', '127.0.0.1:0', '--secret-file', path, '--sync-check-interval-ms', '0', '--min-replicas', '0', '--log-level', 'info', '--elements-max', String(count * 2)], PROFILE_FLAGS);
  nodes.push(primaryNode);
  const primary = { node: primaryNode, port: Number(String((await primaryNode.waitFor('primary listening')).listen).split(':').pop()) };
  clients.push(...(await Promise.all(Array.from({ length: 8 }, () => ElementClient.connect({ host: '127.0.0.1', port: primary.port, secret })))));
  const loadStart = performance.now();
  let next = 0;
  await Promise.all(
    clients.map(async (client) => {
      const inFlight = new Set<Promise<unknown>>();
      while (next < count) {
        const i = next++;
        const p = client.update(`s/${Math.floor(i / PARTICIPANTS)}/p/${i % PARTICIPANTS}`, participantValue(Math.floor(i / PARTICIPANTS), i % PARTICIPANTS, i));
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        if (inFlight.size >= 256) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }),
  );
  const loadMs = performance.now() - loadStart;
  let writesApplied = 0;
  /** Slowest write acknowledged while the secondary caught up (set once it connected). */
  let slowestWriteMs: number | undefined;
  setWriter(
    (async () => {
      for (let i = 0; writing(); i++) {
        const startMs = performance.now();
        const result = await clients[0]!.update(`s/during-${i % 1000}/p/0`, participantValue(i, 0, i));
        if (result.code === 'applied') writesApplied++;
        if (slowestWriteMs !== undefined) slowestWriteMs = Math.max(slowestWriteMs, performance.now() - startMs);
      }
    })(),
  );
  const catchUpStart = performance.now();
  const secondary = { node: spawnNode('secondary', ['--listen', '127.0.0.1:0', '--primary', `127.0.0.1:${primary.port}`, '--secret-file', path, '--log-level', 'info', '--elements-max', String(count * 2)], PROFILE_FLAGS) };
  nodes.push(secondary.node);
  const profiles = await startProfiles([primary.node, secondary.node]);
  // The catch-up itself: from the secondary's connection to the primary to its being in sync (its own log times).
  const connected = await secondary.node.waitFor('connected to the primary', 60_000);
  const cpuBefore = [processCpuSeconds(primary.node.child.pid!), processCpuSeconds(secondary.node.child.pid!)];
  const writesBefore = writesApplied;
  slowestWriteMs = 0;
  const inSync = await secondary.node.waitFor('in sync with the primary', 300_000);
  const cpuAfter = [processCpuSeconds(primary.node.child.pid!), processCpuSeconds(secondary.node.child.pid!)];
  await profiles.stop(String(Date.now()));
  const withStartMs = performance.now() - catchUpStart;
  const writesDuring = writesApplied - writesBefore;
  const slowestWriteDuringMs = slowestWriteMs;
  const catchUpMs = Number(inSync.time) - Number(connected.time);
  // /proc counts in 10 ms ticks.
  const primaryCpuMs = Math.round((cpuAfter[0]! - cpuBefore[0]!) * 1000);
  const secondaryCpuMs = Math.round((cpuAfter[1]! - cpuBefore[1]!) * 1000);
  return { loadMs, catchUpMs, withStartMs, writesDuring, slowestWriteDuringMs, loadAverage, primaryCpuMs, secondaryCpuMs };
}

async function catchUpRounds(): Promise<CatchUpResult[]> {
  const rounds: CatchUpResult[] = [];
  for (let i = 0; i < CATCH_UP_ROUNDS; i++) {
    const round = await benchCatchUp(CATCH_UP_ELEMENTS);
    console.error(`  catch-up round ${i + 1}: ${Math.round(round.catchUpMs)} ms after connecting (${Math.round(round.withStartMs)} ms with process start), ${round.writesDuring} writes acknowledged meanwhile (slowest ${Math.round(round.slowestWriteDuringMs)} ms), CPU primary ${Math.round(round.primaryCpuMs)} ms / secondary ${Math.round(round.secondaryCpuMs)} ms, load average ${round.loadAverage.toFixed(2)}`);
    rounds.push(round);
  }
  return rounds;
}

function catchUpSummary(rounds: readonly CatchUpResult[]): string {
  const ms = (f: (r: CatchUpResult) => number): number => Math.round(median(rounds.map(f)));
  return (
    `catch-up: an empty secondary was in sync with ${CATCH_UP_ELEMENTS.toLocaleString('en-US')} elements ${ms((r) => r.catchUpMs)} ms after connecting ` +
    `(median of ${rounds.length}: ${rounds.map((r) => Math.round(r.catchUpMs)).join(', ')} ms; ${ms((r) => r.withStartMs)} ms including its process start), ` +
    `while ${ms((r) => r.writesDuring)} writes were acknowledged meanwhile (slowest ${ms((r) => r.slowestWriteDuringMs)} ms); CPU used meanwhile: primary ${ms((r) => r.primaryCpuMs)} ms, secondary ${ms((r) => r.secondaryCpuMs)} ms; loading the primary took ${ms((r) => r.loadMs)} ms; ` +
    `load average at the start ${rounds.map((r) => r.loadAverage.toFixed(2)).join(', ')}`
  );
}

async function runCatchUpOnly(): Promise<void> {
  console.error(`bench/replication --only catch-up: ${CATCH_UP_ROUNDS} rounds of ${CATCH_UP_ELEMENTS.toLocaleString('en-US')} elements`);
  const rounds = await catchUpRounds();
  const host = machine();
  console.log(`\nbench/replication on ${host.cpu} (${host.cores} cores), Node ${host.node}\n${catchUpSummary(rounds)}`);
  const path = saveResults('replication-catch-up', { machine: host, elements: CATCH_UP_ELEMENTS, catchUp: rounds });
  console.log(`saved ${path}`);
}

function row(r: Row): string[] {
  const pick = (f: (x: LoadResult) => number): number => median(r.rounds.map(f));
  const cpu = Object.keys(r.rounds[0]!.cpu)
    .map((name) => `${name} ${Math.round(median(r.rounds.map((x) => x.cpu[name]!)) * 100)}%`)
    .join(', ');
  return [r.system, r.workload, String(r.concurrency), formatNumber(pick((x) => x.perSecond)), pick((x) => x.p50Ms).toFixed(2), pick((x) => x.p99Ms).toFixed(2), pick((x) => x.p999Ms).toFixed(2), cpu];
}

export async function runReplicationBench(only?: string): Promise<void> {
  if (only !== undefined && only !== 'catch-up' && only !== 'throughput') {
    console.error(`bench replication --only ${only}: choose catch-up or throughput`);
    process.exit(2);
  }
  if (only === 'catch-up') return runCatchUpOnly();
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    console.error('bench replication needs redis-server (Debian: apt-get install -y redis-server)');
    process.exit(2);
  }
  const rows: Row[] = [];
  /** The setups compared at one concurrency take turns, round by round (inTurns). */
  type Contender = { system: string; workload: Row['workload']; concurrency: number; run: () => Promise<LoadResult> };
  const group = async (setups: Contender[]): Promise<void> => {
    const rounds = await inTurns(ROUNDS, setups.map((setup) => setup.run));
    for (const [k, { system, workload, concurrency }] of setups.entries()) {
      const r = { system, workload, concurrency, rounds: rounds[k]! };
      rows.push(r);
      console.error(`  ${row(r).slice(0, 7).join('  ')}`);
    }
  };
  console.error(`bench/replication: ${ROUNDS} rounds of ${DURATION_MS} ms after ${WARMUP_MS} ms warm-up, the setups of each group taking turns; medians`);
  for (const concurrency of CONCURRENCY) {
    await group([
      { system: 'confstate, connection per client', workload: 'spread', concurrency, run: () => benchConfstate('connection per client', true, concurrency, 'spread') },
      { system: 'confstate, auto-pipelining', workload: 'spread', concurrency, run: () => benchConfstate('auto-pipelining', true, concurrency, 'spread') },
      { system: 'redis + WAIT, pipeline per update', workload: 'spread', concurrency, run: () => benchRedis('pipeline per update', concurrency, 'spread') },
      { system: 'redis + WAIT, auto-pipelining', workload: 'spread', concurrency, run: () => benchRedis('auto-pipelining', concurrency, 'spread') },
      { system: 'confstate, replication off (ceiling)', workload: 'spread', concurrency, run: () => benchConfstate('auto-pipelining', false, concurrency, 'spread') },
      { system: FLOOR, workload: 'spread', concurrency, run: () => benchFloor(concurrency, 'spread') },
    ]);
  }
  for (const concurrency of CONCURRENCY.filter((c) => c >= 64)) {
    await group([
      { system: 'confstate, auto-pipelining', workload: 'fresh store', concurrency, run: () => benchConfstate('auto-pipelining', true, concurrency, 'fresh store') },
      { system: 'redis + WAIT, auto-pipelining', workload: 'fresh store', concurrency, run: () => benchRedis('auto-pipelining', concurrency, 'fresh store') },
    ]);
    await group([
      { system: 'confstate, connection per client', workload: 'hot element', concurrency, run: () => benchConfstate('connection per client', true, concurrency, 'hot element') },
      { system: 'confstate, auto-pipelining', workload: 'hot element', concurrency, run: () => benchConfstate('auto-pipelining', true, concurrency, 'hot element') },
      { system: 'redis + WAIT, pipeline per update', workload: 'hot element', concurrency, run: () => benchRedis('pipeline per update', concurrency, 'hot element') },
      { system: 'redis + WAIT, auto-pipelining', workload: 'hot element', concurrency, run: () => benchRedis('auto-pipelining', concurrency, 'hot element') },
    ]);
  }
  let catchUp: CatchUpResult[] = [];
  if (only !== 'throughput') {
    console.error(`  catch-up of an empty secondary from ${CATCH_UP_ELEMENTS.toLocaleString('en-US')} elements...`);
    catchUp = await catchUpRounds();
  }
  const host = machine();
  console.log(`\nbench/replication on ${host.cpu} (${host.cores} cores), Node ${host.node}; load generator, servers and replicas share the machine\n`);
  console.log(table(['system', 'workload', 'clients', 'acked updates/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU share (1 core = 100%)'], rows.map(row)));
  if (catchUp.length > 0) console.log(`\n${catchUpSummary(catchUp)}`);
  const ratios: string[] = [];
  for (const workload of ['spread', 'fresh store', 'hot element'] as const) {
    for (const concurrency of CONCURRENCY) {
      const get = (system: string): Row | undefined => rows.find((x) => x.system === system && x.concurrency === concurrency && x.workload === workload);
      const rate = (r: Row | undefined): number => (r === undefined ? Number.NaN : median(r.rounds.map((x) => x.perSecond)));
      const p99 = (r: Row | undefined): number => (r === undefined ? Number.NaN : median(r.rounds.map((x) => x.p99Ms)));
      const csRows = [get('confstate, connection per client'), get('confstate, auto-pipelining')].filter((r) => r !== undefined);
      const redisRows = [get('redis + WAIT, pipeline per update'), get('redis + WAIT, auto-pipelining')].filter((r) => r !== undefined);
      if (csRows.length === 0 || redisRows.length === 0) continue;
      const bestCs = csRows.reduce((a, b) => (rate(a) >= rate(b) ? a : b));
      const bestRedis = redisRows.reduce((a, b) => (rate(a) >= rate(b) ? a : b));
      const ceiling = rate(get('confstate, replication off (ceiling)'));
      const share = (of: number): string => (Number.isNaN(of) ? '—' : `${Math.round((rate(get('confstate, auto-pipelining')) / of) * 100)}%`);
      ratios.push(`| ${workload} | ${concurrency} | ${(rate(bestCs) / rate(bestRedis)).toFixed(2)}× (${bestCs.system.replace('confstate, ', '')} vs ${bestRedis.system.replace('redis + WAIT, ', '')}) | ${p99(bestCs).toFixed(1)} vs ${p99(bestRedis).toFixed(1)} | ${share(ceiling)} | ${share(rate(get(FLOOR)))} |`);
    }
  }
  console.log(`\n| workload | clients | best confstate ÷ best Redis | p99 ms, confstate vs Redis | auto-pipelined confstate ÷ its ceiling | auto-pipelined confstate ÷ transport floor |\n| --- | --- | --- | --- | --- | --- |\n${ratios.join('\n')}`);
  const path = saveResults('replication', { machine: host, durationMs: DURATION_MS, warmupMs: WARMUP_MS, rows, catchUp });
  console.log(`saved ${path}`);
}
