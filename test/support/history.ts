/** Jepsen-style workload and checker for real processes: writers that record
 *  every update as a history (invoke, then ok / stale / fail / unknown), a
 *  reader that polls elements, and the checks run on those records after a
 *  run. It knows the element API, not how the nodes fail over. */

import { performance } from 'node:perf_hooks';
import { HybridClock, type Timestamp } from '../../src/core/clock.ts';
import { SeededRandom } from '../../src/core/random.ts';
import type { JsonValue } from '../../src/core/value.ts';
import { ElementClient } from '../../src/client/element-client.ts';
import { FailoverElementClient, type FailoverElementClientOptions, type FailoverUpdateResult } from '../../src/client/failover-element-client.ts';
import type { Address } from '../../src/replication/node-transport.ts';

/**
 * - ok: applied (or a re-send found it applied);
 * - stale: the element was already newer — never applied, or applied and overwritten;
 * - fail: refused before anything could apply it (rejected, or never sent);
 * - unknown: no answer by the deadline, or an answer that does not say (unavailable after a lost link).
 */
export type Outcome = 'pending' | 'ok' | 'stale' | 'fail' | 'unknown';

export interface Operation {
  readonly writer: number;
  readonly key: string;
  readonly value: JsonValue;
  /** Chosen by the writer's clock: the update's identity across re-sends. */
  readonly ts: Timestamp;
  readonly invokedMs: number;
  completedMs?: number;
  outcome: Outcome;
  code?: string;
  detail?: string;
  /** For ok: the node (`host:port`) that acknowledged it, and its epoch. */
  node?: string;
  epoch?: number;
  attempts?: number;
  confirmedByRetry?: boolean;
}

export interface Read {
  readonly key: string;
  readonly ts: Timestamp;
  readonly value: JsonValue;
  readonly node: string;
  readonly epoch: number;
  readonly atMs: number;
}

export function outcomeOf(result: FailoverUpdateResult): Outcome {
  if (result.code === 'applied') return 'ok';
  if (result.code === 'stale') return 'stale';
  if (result.code === 'rejected' || result.attempts === 0) return 'fail';
  return 'unknown';
}

export interface WorkloadOptions {
  readonly addresses: readonly Address[];
  readonly secret: Uint8Array;
  readonly writers: number;
  /** Keys shared by all writers, so their updates contend per element. */
  readonly keys: readonly string[];
  /** Updates each writer keeps in flight. */
  readonly inFlightMax?: number;
  /** Pause between one writer's invocations: keeps the 2-core machine responsive. */
  readonly pauseMs?: number;
  readonly seed?: number;
  readonly client?: Partial<FailoverElementClientOptions>;
}

/** Writers (node ids 3, 4, …) and one reader, each with its own FailoverElementClient, until stop(). */
export class Workload {
  readonly history: Operation[] = [];
  readonly reads: Read[] = [];
  readonly clients: FailoverElementClient[] = [];
  /** Every acknowledgement, in the order they arrived: for time-to-first-write after a kill. */
  readonly acks: { readonly atMs: number; readonly node: string; readonly epoch: number }[] = [];
  #running = true;
  readonly #loops: Promise<void>[] = [];
  readonly #options: WorkloadOptions;

  constructor(options: WorkloadOptions) {
    this.#options = options;
    if (options.writers > 11) throw new RangeError('writers use node ids 3..13; 14 is the reader’s');
    for (let w = 0; w < options.writers; w++) this.#loops.push(this.#write(w, this.#client(3 + w)));
    this.#loops.push(this.#read(this.#client(14)));
  }

  #client(nodeId: number): FailoverElementClient {
    const client = new FailoverElementClient({ addresses: this.#options.addresses, secret: this.#options.secret, nodeId, updateDeadlineMs: 5000, attemptTimeoutMs: 1500, ...this.#options.client });
    this.clients.push(client);
    return client;
  }

  async #write(writer: number, client: FailoverElementClient): Promise<void> {
    const clock = new HybridClock({ nowMs: () => Date.now() }, { nodeId: 3 + writer, maxClockSkewMs: 5000 });
    const random = new SeededRandom((this.#options.seed ?? 1) * 100 + writer);
    const keys = this.#options.keys;
    const inFlight = new Set<Promise<void>>();
    for (let n = 0; this.#running; n++) {
      const op: Operation = { writer, key: keys[random.below(keys.length)]!, value: { w: writer, n }, ts: clock.now(), invokedMs: performance.now(), outcome: 'pending' };
      this.history.push(op);
      const done = client.update(op.key, op.value, { ts: op.ts }).then((result) => this.#complete(op, result));
      inFlight.add(done);
      void done.then(() => inFlight.delete(done));
      if (inFlight.size >= (this.#options.inFlightMax ?? 4)) await Promise.race(inFlight);
      await sleep(this.#options.pauseMs ?? 2);
    }
    await Promise.all(inFlight);
  }

  #complete(op: Operation, result: FailoverUpdateResult): void {
    op.completedMs = performance.now();
    op.outcome = outcomeOf(result);
    op.code = result.code;
    op.detail = result.detail;
    op.attempts = result.attempts;
    op.confirmedByRetry = result.confirmedByRetry;
    if (op.outcome === 'ok') {
      op.node = result.answeredBy;
      op.epoch = result.epoch;
      this.acks.push({ atMs: op.completedMs, node: result.answeredBy, epoch: result.epoch });
    }
  }

  /** Reads keys in turn from the primary, one at a time, so its reads of one key are in real-time order. */
  async #read(client: FailoverElementClient): Promise<void> {
    const keys = this.#options.keys;
    for (let i = 0; this.#running; i++) {
      const key = keys[i % keys.length]!;
      try {
        const result = await client.get(key);
        // Not found reads as ts 0: an element that vanishes after being read went backwards too.
        const found = result.found && !result.deleted;
        this.reads.push({ key, ts: found ? result.ts : 0, value: found ? result.value : null, node: result.answeredBy, epoch: result.epoch, atMs: performance.now() });
      } catch {
        // No primary by the deadline: nothing read, nothing to check.
      }
      await sleep(this.#options.pauseMs ?? 2);
    }
  }

  /** Stops invoking, waits for every answer, closes the clients. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    for (const client of this.clients) client.close();
  }

  count(outcome: Outcome): number {
    return this.history.filter((op) => op.outcome === outcome).length;
  }
}

export interface Violation {
  readonly kind: 'lost' | 'phantom' | 'backwards' | 'split_brain' | 'pending';
  readonly message: string;
}

/** What a store holds for a key, read after the run. */
export type Holding = { readonly ts: Timestamp; readonly value: JsonValue } | undefined;

/**
 * The checks after a run:
 * - lost: every ok update is held at its ts with its value, or overwritten by a newer ts;
 * - phantom: what is held (and what was read) is an update some writer invoked, with that value;
 * - backwards: the reader never saw an element's ts go down;
 * - split_brain: every epoch's acknowledgements came from one node;
 * - pending: every invocation got its answer.
 */
export function checkHistory(history: readonly Operation[], reads: readonly Read[], held: ReadonlyMap<string, Holding>, limit = 10): Violation[] {
  const out: Violation[] = [];
  const byTs = new Map<string, Operation>();
  for (const op of history) byTs.set(`${op.key}@${op.ts}`, op);
  for (const op of history) {
    if (op.outcome === 'pending') out.push({ kind: 'pending', message: `${op.key}@${op.ts} (writer ${op.writer}) never got an answer` });
    if (op.outcome !== 'ok') continue;
    const holding = held.get(op.key);
    if (holding === undefined || holding.ts < op.ts) {
      out.push({ kind: 'lost', message: `acknowledged ${op.key}@${op.ts} (writer ${op.writer}, by ${op.node} at epoch ${op.epoch}) is missing: held ${holding === undefined ? 'nothing' : `ts ${holding.ts}`}` });
    } else if (holding.ts === op.ts && JSON.stringify(holding.value) !== JSON.stringify(op.value)) {
      out.push({ kind: 'lost', message: `${op.key}@${op.ts} holds ${JSON.stringify(holding.value)}, acknowledged ${JSON.stringify(op.value)}` });
    }
  }
  for (const [key, holding] of held) if (holding !== undefined) out.push(...phantom(byTs, key, holding.ts, holding.value, 'held'));
  const lastRead = new Map<string, Read>();
  for (const read of reads) {
    if (read.ts !== 0) out.push(...phantom(byTs, read.key, read.ts, read.value, `read from ${read.node}`));
    const before = lastRead.get(read.key);
    if (before !== undefined && read.ts < before.ts) {
      out.push({ kind: 'backwards', message: `${read.key} was read at ts ${before.ts} (from ${before.node}, epoch ${before.epoch}), later at ts ${read.ts} (from ${read.node}, epoch ${read.epoch})` });
    }
    lastRead.set(read.key, read);
  }
  out.push(...checkSplitBrain(history));
  return out.slice(0, limit);
}

function phantom(byTs: ReadonlyMap<string, Operation>, key: string, ts: Timestamp, value: JsonValue, where: string): Violation[] {
  const op = byTs.get(`${key}@${ts}`);
  if (op === undefined) return [{ kind: 'phantom', message: `${key}@${ts} ${where}: no writer invoked an update with that ts` }];
  if (JSON.stringify(op.value) !== JSON.stringify(value)) return [{ kind: 'phantom', message: `${key}@${ts} ${where} holds ${JSON.stringify(value)}; the update with that ts wrote ${JSON.stringify(op.value)}` }];
  return [];
}

/** At most one node acknowledges writes per epoch. */
export function checkSplitBrain(history: readonly Operation[]): Violation[] {
  const nodeOfEpoch = new Map<number, string>();
  for (const op of history) {
    if (op.outcome !== 'ok') continue;
    const holder = nodeOfEpoch.get(op.epoch!);
    if (holder === undefined) nodeOfEpoch.set(op.epoch!, op.node!);
    else if (holder !== op.node) return [{ kind: 'split_brain', message: `both ${holder} and ${op.node} acknowledged writes at epoch ${op.epoch}` }];
  }
  return [];
}

/** Every key's element on the node at `address`, read directly (not through failover). */
export async function readAll(address: Address, secret: Uint8Array, keys: readonly string[]): Promise<Map<string, Holding>> {
  const client = await ElementClient.connect({ ...address, secret });
  try {
    const held = new Map<string, Holding>();
    for (const key of keys) {
      const result = await client.get(key);
      held.set(key, result.found && !result.deleted ? { ts: result.ts, value: result.value } : undefined);
    }
    return held;
  } finally {
    client.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
