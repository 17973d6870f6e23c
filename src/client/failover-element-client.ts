/** An element-API client that follows the primary across failovers (DESIGN.md
 *  §4, "clients follow"). It knows every node's address, moves on when a
 *  connection closes or a node answers not_primary or unavailable, and
 *  re-sends each update whose outcome it never learned with the same
 *  timestamp — a node applies only newer timestamps, so an update is applied at
 *  most once. Every caller hears exactly one answer, by a deadline.
 *
 *  - Timestamps: an update without `ts` is stamped by this client's own hybrid
 *    clock (its node id: 3..14, as 1 and 2 are the nodes' and 15 is `check`'s).
 *  - A retry answered `stale` at exactly its own ts found the element holding
 *    this very update (an earlier attempt applied it): it is answered `applied`
 *    with `confirmedByRetry`.
 *  - Limits: at most `pendingMax` updates wait (more are refused queue_full at
 *    once); each is answered `timeout` at `updateDeadlineMs` (outcome unknown);
 *    a connection that leaves an update unanswered for `attemptTimeoutMs` is
 *    given up as dead (a hung or partitioned node); after each round of
 *    addresses that all failed, reconnects pause from `reconnectDelayMsMin`
 *    doubling to `reconnectDelayMsMax`, less a random share (`reconnectJitter`)
 *    so that many clients do not dial a promoted node all at once. */

import { performance } from 'node:perf_hooks';
import { HybridClock, NODE_ID_MAX, type Timestamp } from '../core/clock.ts';
import { type Random, SeededRandom } from '../core/random.ts';
import type { JsonValue } from '../core/value.ts';
import type { Address, TlsFiles } from '../replication/node-transport.ts';
import { type BackoffSettings, checkBackoffSettings, reconnectDelayMs } from './backoff.ts';
import { ElementClient, type GetResult, type UpdateResult } from './element-client.ts';

export interface FailoverElementClientOptions {
  /** Every node of the pair (at least one), tried in this order, round and round. */
  readonly addresses: readonly Address[];
  readonly secret: Uint8Array;
  readonly tls?: TlsFiles;
  /** Node id of this client's hybrid clock, 0..15; distinct from the nodes' (1, 2) and from every other writer's. */
  readonly nodeId: number;
  /** The clock that stamps updates given without a ts (default: the wall clock with `nodeId`). */
  readonly clock?: HybridClock;
  /** Every update is answered by then, `timeout` if nothing else (default 5000). */
  readonly updateDeadlineMs?: number;
  /** An update unanswered this long on one connection gives that connection up (default 2000). */
  readonly attemptTimeoutMs?: number;
  /** Updates waiting for an answer; beyond it, queue_full at once (default 1024). */
  readonly pendingMax?: number;
  /** First pause after a round of addresses that all failed; doubles per such round in a row (default 10). */
  readonly reconnectDelayMsMin?: number;
  /** Longest pause between rounds (default 100: a promoted node is found within a tenth of a second). */
  readonly reconnectDelayMsMax?: number;
  /**
   * 0..1: the share of each pause that is random (default 0.5: between half and
   * all of it), so many gateways that lost the same primary do not all dial
   * its successor in the same millisecond.
   */
  readonly reconnectJitter?: number;
  /** Seeds the jitter, for tests that need the same pauses every run. Default: Math.random. */
  readonly randomSeed?: number;
  /** TCP connect plus handshake, per address tried (default 1000). */
  readonly connectTimeoutMs?: number;
  readonly maxClockSkewMs?: number;
}

/** The one answer to an update. */
export interface FailoverUpdateResult extends UpdateResult {
  readonly key: string;
  /** The update's own timestamp: every attempt carried it. */
  readonly updateTs: Timestamp;
  /** Times the update was sent (re-sends after a lost outcome included). */
  readonly attempts: number;
  /** `host:port` of the node that gave this answer, and its epoch; '' and 0 when no node did (timeout, closed, queue_full). */
  readonly answeredBy: string;
  readonly epoch: number;
  /** A re-send found the element already at this update's ts: an earlier attempt applied it. */
  readonly confirmedByRetry: boolean;
}

export interface FailoverGetResult extends GetResult {
  readonly answeredBy: string;
  readonly epoch: number;
}

/** What the client did, for tests and benchmarks. */
export interface FailoverStats {
  /** Connections to a primary, the first one included. */
  connections: number;
  /** Updates sent again after an attempt whose outcome was lost. */
  resent: number;
  confirmedByRetry: number;
  timeouts: number;
}

/** An update waiting for its answer. */
class PendingUpdate {
  attempts = 0;
  /** The connection of the attempt in flight; undefined while waiting to be (re-)sent. */
  sentOn: ElementClient | undefined = undefined;
  sentAtMs = 0;
  lastProblem = 'not sent yet';
  constructor(
    readonly key: string,
    readonly value: JsonValue,
    readonly deleted: boolean,
    readonly ts: Timestamp,
    readonly deadlineMs: number,
    readonly resolve: (result: FailoverUpdateResult) => void,
  ) {}
}

/**
 * The reconnect pauses of `options` as backoff settings (defaults filled in);
 * throws a RangeError naming the option that makes no sense.
 */
export function failoverBackoff(options: Pick<FailoverElementClientOptions, 'reconnectDelayMsMin' | 'reconnectDelayMsMax' | 'reconnectJitter'>): BackoffSettings {
  const settings: BackoffSettings = { backoffMsInitial: options.reconnectDelayMsMin ?? 10, backoffMsMax: options.reconnectDelayMsMax ?? 100, backoffJitter: options.reconnectJitter ?? 0.5 };
  try {
    checkBackoffSettings(settings);
  } catch (error) {
    const names: Record<string, string> = { backoffMsInitial: 'reconnectDelayMsMin', backoffMsMax: 'reconnectDelayMsMax', backoffJitter: 'reconnectJitter' };
    throw new RangeError((error as Error).message.replace(/backoff(MsInitial|MsMax|Jitter)/g, (name) => names[name]!));
  }
  return settings;
}

/** Deadlines are checked this often: they are met within this many ms. */
const TICK_MS = 20;

export class FailoverElementClient {
  readonly stats: FailoverStats = { connections: 0, resent: 0, confirmedByRetry: 0, timeouts: 0 };
  readonly #options: FailoverElementClientOptions;
  readonly #clock: HybridClock;
  readonly #backoff: BackoffSettings;
  readonly #random: Random;
  readonly #pending = new Set<PendingUpdate>();
  /** Readers waiting for a connection; bounded by pendingMax with the updates. */
  readonly #connectionWaiters = new Set<(connection: ElementClient | undefined) => void>();
  #current: ElementClient | undefined = undefined;
  #currentAddress = '';
  #connecting = false;
  #addressIndex = 0;
  /** Connections failed or given up in a row: the reconnect backoff. Reset by an answer that shows progress. */
  #failures = 0;
  #lastConnectProblem = '';
  #ticker: NodeJS.Timeout | undefined = undefined;
  #closed = false;

  /** Connects lazily, on the first request. */
  constructor(options: FailoverElementClientOptions) {
    if (options.addresses.length === 0) throw new RangeError('FailoverElementClient needs at least one address');
    if (!Number.isInteger(options.nodeId) || options.nodeId < 0 || options.nodeId > NODE_ID_MAX) throw new RangeError(`nodeId must be 0..${NODE_ID_MAX}, got ${options.nodeId}`);
    this.#options = options;
    this.#backoff = failoverBackoff(options);
    this.#random = options.randomSeed === undefined ? { nextUint32: () => Math.floor(Math.random() * 4294967296) } : new SeededRandom(options.randomSeed);
    this.#clock = options.clock ?? new HybridClock({ nowMs: () => Date.now() }, { nodeId: options.nodeId, maxClockSkewMs: options.maxClockSkewMs ?? 5000 });
  }

  /** Updates waiting for their answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** `host:port` of the node this client is connected to now, '' when none. */
  get connectedTo(): string {
    return this.#current === undefined ? '' : this.#currentAddress;
  }

  /**
   * Writes `value` to `key` (or deletes it) with `ts`, or a fresh ts of this
   * client's clock. Resolves once with the answer; never rejects.
   * @example
   * const client = new FailoverElementClient({ addresses: [{ host: '127.0.0.1', port: 7400 }, { host: '127.0.0.1', port: 7401 }], secret, nodeId: 3 });
   * const result = await client.update('s/42/p/7', { role: 'host' });
   * if (result.code === 'applied') console.log(`applied at ${result.ts} by ${result.answeredBy}`);
   */
  update(key: string, value: JsonValue, options: { ts?: Timestamp; deleted?: boolean } = {}): Promise<FailoverUpdateResult> {
    const ts = options.ts ?? this.#clock.now();
    const refuse = (code: string, detail: string): Promise<FailoverUpdateResult> =>
      Promise.resolve({ code, ts: 0, detail, key, updateTs: ts, attempts: 0, answeredBy: '', epoch: 0, confirmedByRetry: false });
    if (this.#closed) return refuse('closed', 'this client is closed');
    const pendingMax = this.#options.pendingMax ?? 1024;
    if (this.#pending.size + this.#connectionWaiters.size >= pendingMax) return refuse('queue_full', `this client has ${pendingMax} requests pending (its pendingMax)`);
    return new Promise((resolve) => {
      const deadlineMs = performance.now() + (this.#options.updateDeadlineMs ?? 5000);
      const update = new PendingUpdate(key, options.deleted ? null : value, options.deleted ?? false, ts, deadlineMs, resolve);
      this.#pending.add(update);
      this.#startTicker();
      if (this.#current !== undefined) this.#send(update, this.#current);
      else void this.#connectLoop();
    });
  }

  /** Reads `key` from the primary, following it like updates do; rejects at the deadline. */
  async get(key: string): Promise<FailoverGetResult> {
    const deadlineMs = performance.now() + (this.#options.updateDeadlineMs ?? 5000);
    for (;;) {
      const connection = this.#current ?? (await this.#nextConnection(deadlineMs));
      if (connection === undefined) throw new Error(`get ${key}: no primary reachable by the deadline (${this.#lastConnectProblem || 'closed'})`);
      const address = this.#currentAddress;
      try {
        const result = await withTimeout(connection.get(key), this.#options.attemptTimeoutMs ?? 2000);
        return { ...result, answeredBy: address, epoch: connection.server.epoch };
      } catch (error) {
        this.#abandon(connection, `get ${key}: ${(error as Error).message}`);
      }
    }
  }

  /** Answers every pending update `closed` (outcome unknown if it was sent) and closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const update of [...this.#pending]) this.#finishLocal(update, 'closed', `the client was closed after ${update.attempts} attempts; outcome unknown`);
    for (const waiter of [...this.#connectionWaiters]) waiter(undefined);
    this.#connectionWaiters.clear();
    this.#current?.close();
    this.#current = undefined;
    this.#stopTickerIfIdle();
  }

  #send(update: PendingUpdate, connection: ElementClient): void {
    if (update.attempts > 0) this.stats.resent++;
    update.attempts++;
    update.sentOn = connection;
    update.sentAtMs = performance.now();
    const address = this.#currentAddress;
    update.lastProblem = `sent to ${address}, no answer yet`;
    connection.update(update.key, update.value, { ts: update.ts, deleted: update.deleted }).then(
      (result) => this.#onResult(update, connection, address, result),
      (error: Error) => this.#onLost(update, connection, `connection to ${address} lost: ${error.message}`),
    );
  }

  #onResult(update: PendingUpdate, connection: ElementClient, address: string, result: UpdateResult): void {
    if (!this.#pending.has(update)) return; // answered already (deadline, close, or an earlier attempt)
    const answer = (code: string, confirmedByRetry: boolean, detail: string): void => {
      this.#pending.delete(update);
      this.#stopTickerIfIdle();
      update.resolve({ code, ts: result.ts, detail, key: update.key, updateTs: update.ts, attempts: update.attempts, answeredBy: address, epoch: connection.server.epoch, confirmedByRetry });
    };
    switch (result.code) {
      case 'applied':
        this.#failures = 0;
        return answer('applied', false, result.detail);
      case 'stale':
        this.#failures = 0;
        if (result.ts !== update.ts) return answer('stale', false, result.detail);
        this.stats.confirmedByRetry++;
        return answer('applied', true, `the element already holds this update (ts ${update.ts}): an earlier attempt applied it`);
      case 'not_primary':
      case 'unavailable':
        // Only the attempt in flight decides: an older one's refusal says nothing about the newer.
        if (update.sentOn !== connection) return;
        update.sentOn = undefined;
        update.lastProblem = `${result.code} from ${address}: ${result.detail}`;
        return this.#abandon(connection, update.lastProblem);
      default:
        return answer(result.code, false, result.detail);
    }
  }

  #onLost(update: PendingUpdate, connection: ElementClient, problem: string): void {
    if (!this.#pending.has(update) || update.sentOn !== connection) return;
    update.sentOn = undefined;
    update.lastProblem = problem;
    this.#abandon(connection, problem);
  }

  /** Gives `connection` up: what was in flight on it waits to be re-sent on the next primary found. */
  #abandon(connection: ElementClient, problem: string): void {
    for (const update of this.#pending) {
      if (update.sentOn !== connection) continue;
      update.sentOn = undefined;
      update.lastProblem = problem;
    }
    if (connection !== this.#current) return;
    this.#current = undefined;
    connection.close();
    this.#lastConnectProblem = problem;
    this.#failures++;
    this.#addressIndex = (this.#addressIndex + 1) % this.#options.addresses.length;
    if (this.#pending.size > 0 || this.#connectionWaiters.size > 0) void this.#connectLoop();
  }

  /** Tries the addresses in turn, with backoff, until one is a primary; then sends what waits. */
  async #connectLoop(): Promise<void> {
    if (this.#connecting) return;
    this.#connecting = true;
    try {
      while (this.#wantsConnection()) {
        // A pause after each round of failures, not after each address: a node just promoted is found at once.
        const rounds = this.#failures / this.#options.addresses.length;
        if (rounds > 0 && Number.isInteger(rounds)) await sleep(this.#backoffMs(rounds));
        if (!this.#wantsConnection()) break;
        const address = this.#options.addresses[this.#addressIndex]!;
        const text = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
        const problem = await this.#tryConnect(address, text);
        if (problem === undefined) break;
        this.#lastConnectProblem = problem;
        this.#failures++;
        this.#addressIndex = (this.#addressIndex + 1) % this.#options.addresses.length;
      }
    } finally {
      this.#connecting = false;
    }
    // The connection just adopted may have failed already, while this loop still held the flag.
    if (this.#wantsConnection()) void this.#connectLoop();
  }

  #wantsConnection(): boolean {
    return !this.#closed && this.#current === undefined && (this.#pending.size > 0 || this.#connectionWaiters.size > 0);
  }

  /** Connects to one address; returns why it is not usable, or undefined once adopted. */
  async #tryConnect(address: Address, text: string): Promise<string | undefined> {
    let connection: ElementClient;
    try {
      connection = await ElementClient.connect({
        host: address.host,
        port: address.port,
        secret: this.#options.secret,
        nodeId: this.#options.nodeId,
        connectTimeoutMs: this.#options.connectTimeoutMs ?? 1000,
        ...(this.#options.tls ? { tls: this.#options.tls } : {}),
      });
    } catch (error) {
      return `${text}: ${(error as Error).message}`;
    }
    if (this.#closed || connection.server.role !== 'primary') {
      connection.close();
      return `${text} is ${connection.server.role} at epoch ${connection.server.epoch}`;
    }
    this.#current = connection;
    this.#currentAddress = text;
    this.stats.connections++;
    void connection.closed.then((error) => this.#abandon(connection, `connection to ${text} closed: ${error.message}`));
    for (const waiter of [...this.#connectionWaiters]) waiter(connection);
    this.#connectionWaiters.clear();
    for (const update of this.#pending) if (update.sentOn === undefined) this.#send(update, connection);
    return undefined;
  }

  /** The pause after `rounds` rounds of failed connections in a row: doubling from the minimum to the maximum, less a random share. */
  #backoffMs(rounds: number): number {
    return reconnectDelayMs(rounds - 1, this.#backoff, this.#random);
  }

  /** Resolves with the next primary connection, or undefined at `deadlineMs` or on close. */
  #nextConnection(deadlineMs: number): Promise<ElementClient | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    const pendingMax = this.#options.pendingMax ?? 1024;
    if (this.#pending.size + this.#connectionWaiters.size >= pendingMax) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), Math.max(0, deadlineMs - performance.now()));
      const done = (connection: ElementClient | undefined): void => {
        clearTimeout(timer);
        this.#connectionWaiters.delete(done);
        resolve(connection);
      };
      this.#connectionWaiters.add(done);
      void this.#connectLoop();
    });
  }

  /** Answers updates past their deadline, and gives up a connection that leaves one unanswered too long. */
  #tick(): void {
    const nowMs = performance.now();
    const attemptTimeoutMs = this.#options.attemptTimeoutMs ?? 2000;
    let stuck = false;
    for (const update of [...this.#pending]) {
      if (nowMs >= update.deadlineMs) {
        this.stats.timeouts++;
        const connecting = update.sentOn === undefined && this.#lastConnectProblem !== '' ? `; connecting: ${this.#lastConnectProblem}` : '';
        this.#finishLocal(update, 'timeout', `no answer within the deadline after ${update.attempts} attempts; outcome unknown (last: ${update.lastProblem}${connecting})`);
      } else if (update.sentOn !== undefined && update.sentOn === this.#current && nowMs - update.sentAtMs > attemptTimeoutMs) stuck = true;
    }
    if (stuck && this.#current !== undefined) this.#abandon(this.#current, `${this.#currentAddress} left an update unanswered for ${attemptTimeoutMs} ms`);
  }

  #finishLocal(update: PendingUpdate, code: string, detail: string): void {
    this.#pending.delete(update);
    update.resolve({ code, ts: 0, detail, key: update.key, updateTs: update.ts, attempts: update.attempts, answeredBy: '', epoch: 0, confirmedByRetry: false });
    this.#stopTickerIfIdle();
  }

  #startTicker(): void {
    this.#ticker ??= setInterval(() => this.#tick(), TICK_MS);
  }

  #stopTickerIfIdle(): void {
    if (this.#pending.size > 0 || this.#ticker === undefined) return;
    clearInterval(this.#ticker);
    this.#ticker = undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error as Error)),
    );
  });
}
