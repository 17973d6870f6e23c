/** `npm run bench -- failover`: kill -9 of the primary under steady load,
 *  BENCH_FAILOVER_TRIALS times (20): how long from the kill until the other
 *  node is promoted and until a writer's update is acknowledged by it, and
 *  how many acknowledged updates were lost (the history checker of the
 *  process tests; it must print 0). Default node timings, min-replicas 0. */

import { performance } from 'node:perf_hooks';
import { REPLICATION_TIMINGS_DEFAULT } from '../src/replication/config.ts';
import { Workload, checkHistory, readAll } from '../test/support/history.ts';
import { NodePair } from '../test/support/node-pair.ts';
import { machine, saveResults, table } from './support.ts';

const TRIALS = Number(process.env.BENCH_FAILOVER_TRIALS ?? 20);
const WRITERS = 4;
/** Load before each kill, so the kill lands in steady traffic. */
const STEADY_MS = 1_000;
const KEYS = Array.from({ length: 64 }, (_, i) => `s/bench-${i % 8}/p/${i}`);

interface Trial {
  readonly killed: string;
  /** kill → the survivor's "promoted to primary" log line (its wall clock; same machine). */
  readonly promotedMs: number;
  /** kill → the first acknowledgement by the survivor, as a writer saw it. */
  readonly firstAckMs: number;
  /** kill → the killed node restarted, rejoined as secondary and in sync. */
  readonly rejoinedMs: number;
}

/** Nearest-rank percentile: with 20 samples, p99 is the largest. */
function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const endMs = performance.now() + timeoutMs;
  for (let value = probe(); ; value = probe()) {
    if (value !== undefined) return value;
    if (performance.now() > endMs) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function runTrial(pair: NodePair, load: Workload): Promise<Trial> {
  const victim = await pair.primary();
  const survivor = pair.other(victim);
  const survivorAddress = `127.0.0.1:${pair.ports[survivor]}`;
  const fromLine = pair.process(survivor).lines.length;
  await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
  const killedWallMs = Date.now();
  const killedMs = performance.now();
  await pair.kill(victim);
  const promoted = await pair.process(survivor).waitFor('promoted to primary', 10_000, fromLine);
  const ack = await waitFor('acknowledgement by the new primary', () => load.acks.find((a) => a.atMs > killedMs && a.node === survivorAddress), 10_000);
  const restarted = await pair.restart(victim);
  await restarted.waitFor('in sync with the primary', 30_000);
  const rejoinedMs = performance.now() - killedMs;
  const check = await pair.check(survivor);
  if (!check.stdout.includes('in-sync')) throw new Error(`check after the trial: ${check.stdout}${check.stderr}`);
  return { killed: victim, promotedMs: Number(promoted.time) - killedWallMs, firstAckMs: ack.atMs - killedMs, rejoinedMs };
}

export async function runFailoverBench(): Promise<void> {
  const timings = REPLICATION_TIMINGS_DEFAULT;
  const settings = { minReplicas: 0, failoverTimeoutMs: timings.failoverTimeoutMs, heartbeatIntervalMs: timings.heartbeatIntervalMs, linkTimeoutMs: timings.linkTimeoutMs, probeIntervalMs: timings.probeIntervalMs };
  console.error(`bench/failover: ${TRIALS} kills of the primary under ${WRITERS} writers; min-replicas 0, failover timeout ${settings.failoverTimeoutMs} ms, heartbeat ${settings.heartbeatIntervalMs} ms`);
  const pair = await NodePair.start({ common: ['--min-replicas', '0', '--log-level', 'info'] });
  const load = new Workload({ addresses: pair.addresses(), secret: pair.secret, writers: WRITERS, keys: KEYS, pauseMs: 1 });
  const trials: Trial[] = [];
  try {
    for (let i = 1; i <= TRIALS; i++) {
      const trial = await runTrial(pair, load);
      trials.push(trial);
      console.error(`  trial ${i}: killed ${trial.killed}; promoted after ${Math.round(trial.promotedMs)} ms, first acknowledged write after ${Math.round(trial.firstAckMs)} ms, rejoined after ${Math.round(trial.rejoinedMs)} ms`);
    }
    await load.stop();
    const primary = await pair.primary();
    const held = await readAll(pair.address(primary), pair.secret, KEYS);
    const violations = checkHistory(load.history, load.reads, held, Number.POSITIVE_INFINITY);
    const lost = violations.filter((v) => v.kind === 'lost').length;
    const ok = load.count('ok');
    report(trials, settings, { ok, unknown: load.count('unknown'), lost, violations: violations.length, confirmedByRetry: load.history.filter((op) => op.confirmedByRetry).length });
    if (violations.length > 0) {
      for (const v of violations.slice(0, 10)) console.error(`  ${v.kind}: ${v.message}`);
      process.exitCode = 1;
    }
  } finally {
    await load.stop();
    await pair.stop();
  }
}

function report(trials: readonly Trial[], settings: Record<string, number>, outcome: { ok: number; unknown: number; lost: number; violations: number; confirmedByRetry: number }): void {
  const stats = (pick: (t: Trial) => number): number[] => [0.5, 0.99, 1].map((q) => Math.round(percentile(trials.map(pick), q)));
  const [promoted, firstAck, rejoined] = [stats((t) => t.promotedMs), stats((t) => t.firstAckMs), stats((t) => t.rejoinedMs)];
  const host = machine();
  console.log(`\nbench/failover on ${host.cpu} (${host.cores} cores), Node ${host.node}; writers, both nodes and the checker share the machine`);
  console.log(`settings: min-replicas ${settings.minReplicas}, failover timeout ${settings.failoverTimeoutMs} ms, heartbeat ${settings.heartbeatIntervalMs} ms, link timeout ${settings.linkTimeoutMs} ms, probe interval ${settings.probeIntervalMs} ms; ${WRITERS} writers (FailoverElementClient, 4 in flight each)\n`);
  console.log(
    table(
      ['kill -9 of the primary → …', 'p50 ms', 'p99 ms', 'max ms'],
      [
        ['the other node promoted (its log)', ...promoted.map(String)],
        ['first acknowledged write on the new primary', ...firstAck.map(String)],
        ['killed node restarted, rejoined, in sync', ...rejoined.map(String)],
      ],
    ),
  );
  console.log(`\n${trials.length} trials; ${outcome.ok} updates acknowledged, ${outcome.unknown} with unknown outcome; acknowledged updates lost: ${outcome.lost}; other violations: ${outcome.violations - outcome.lost}; re-sends that found their update applied: ${outcome.confirmedByRetry}`);
  const path = saveResults('failover', { machine: host, settings, writers: WRITERS, trials, outcome, percentilesMs: { promoted, firstAck, rejoined } });
  console.log(`saved ${path}`);
}
