/** The load generator shared by the replication and API benchmarks: N workers,
 *  each with one request outstanding, for a fixed time after a warm-up;
 *  latency percentiles from every sample; CPU share of each process. */

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  readonly acked: number;
  readonly failed: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** CPU time / wall time, per process (1.0 = one full core). */
  readonly cpu: Record<string, number>;
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // Fields 14 and 15 of stat (utime, stime), in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Runs `workers` loops of `op` for warmupMs + durationMs; counts and times
 * only the requests that start and end inside the measured window.
 * `op` resolves true when the update was acknowledged.
 */
export async function runLoad(
  workers: number,
  warmupMs: number,
  durationMs: number,
  op: (worker: number, n: number) => Promise<boolean>,
  pids: Record<string, number>,
): Promise<LoadResult> {
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let latencies = new Float64Array(1 << 16);
  let samples = 0;
  let acked = 0;
  let failed = 0;
  let cpuBefore: Record<string, number> | undefined;
  let selfBefore: NodeJS.CpuUsage | undefined;
  let marked = false;
  const mark = (): void => {
    if (marked) return;
    marked = true;
    cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
    selfBefore = process.cpuUsage();
  };
  const timer = setTimeout(mark, warmupMs);
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let n = 0; ; n++) {
        const began = performance.now();
        if (began >= end) return;
        const ok = await op(worker, n);
        const finished = performance.now();
        if (began < measureFrom || finished > end) continue;
        if (!ok) {
          failed++;
          continue;
        }
        acked++;
        if (samples === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[samples++] = finished - began;
      }
    }),
  );
  clearTimeout(timer);
  mark();
  const seconds = durationMs / 1000;
  const cpu: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) cpu[name] = (processCpuSeconds(pid) - cpuBefore![name]!) / ((performance.now() - measureFrom) / 1000);
  const self = process.cpuUsage(selfBefore);
  cpu['load generator'] = (self.user + self.system) / 1e6 / ((performance.now() - measureFrom) / 1000);
  const sorted = latencies.slice(0, samples).sort();
  return { acked, failed, seconds, perSecond: acked / seconds, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), p999Ms: percentile(sorted, 0.999), cpu };
}

/** A participant element of ~100 bytes of JSON. */
export function participantValue(session: number, participant: number, n: number): { name: string; role: string; muted: boolean; hand: null; video: boolean; n: number } {
  return { name: `participant-${session}-${participant}`, role: 'participant', muted: n % 2 === 0, hand: null, video: true, n };
}
