/** The write gate: DESIGN.md §2 at the core level. It decides which update of
 *  an element is replicated next and applies it to the primary's store only
 *  after the replication completed. It does not know how replication happens
 *  (units go out through pollUnit, outcomes come back through complete), nor
 *  who asked (answers go out through pollAnswered).
 *
 *  - One unit in flight per element; later requests wait in that element's
 *    queue, sorted by (ts, arrival), never by arrival alone.
 *  - When the in-flight unit completes, the waiting requests are taken in ts
 *    order as one group: those not newer than the store are answered stale, the
 *    longest run of strictly increasing ts becomes the next unit (replicated
 *    once, as its last member's state), and each member is answered applied.
 *  - Requests for different elements never wait on each other (W4).
 *  - Every request gets exactly one answer (W6); nothing is applied to the
 *    store before its unit was replicated (W3).
 */

import { assert } from './assert.ts';
import { type Timestamp, formatTimestamp } from './clock.ts';
import type { ElementHandle, ElementStore } from './element-store.ts';
import type { StoredValue } from './json-text.ts';

/** An answer to one update request. */
export type Answer =
  /** Applied at the request's own ts, on both stores. */
  | { readonly code: 'applied' }
  | { readonly code: 'stale'; readonly key: string; readonly ts: Timestamp; readonly currentTs: Timestamp; readonly message: string }
  | {
      readonly code: 'queue_full';
      readonly key: string;
      readonly scope: 'element' | 'node';
      readonly limit: number;
      readonly message: string;
    }
  /** Not acknowledged: the update may or may not take effect; a retry with the same request id is safe. */
  | { readonly code: 'unavailable'; readonly key: string; readonly reason: string; readonly message: string }
  | { readonly code: 'rejected'; readonly key: string; readonly reason: 'store_full'; readonly message: string };

export type AnswerCode = Answer['code'];

/** An update request as the gate sees it. The gate sets `seq` and `answer`. */
export interface WriteRequest {
  readonly key: string;
  readonly value: StoredValue;
  readonly deleted: boolean;
  readonly ts: Timestamp;
  /** Arrival order at this gate: the tie-break between equal timestamps. */
  seq: number;
  /** Set exactly once, when the request is answered. */
  answer: Answer | undefined;
}

/** What the gate asks to be replicated: one element's new state, for one or more requests. */
export interface ReplicationUnit<R extends WriteRequest = WriteRequest> {
  readonly key: string;
  readonly value: StoredValue;
  readonly deleted: boolean;
  readonly ts: Timestamp;
  /** The requests this unit answers, in ts order; the unit carries the last one's state. */
  readonly requests: readonly R[];
  /** The element did not exist when the unit was formed: it holds a slot of elementsMax. */
  readonly newElement: boolean;
}

class Unit<R extends WriteRequest> implements ReplicationUnit<R> {
  constructor(
    readonly key: string,
    readonly value: StoredValue,
    readonly deleted: boolean,
    readonly ts: Timestamp,
    readonly requests: readonly R[],
    readonly newElement: boolean,
    /** The element state this unit is in flight for: `complete` needs no lookup. */
    readonly owner: ElementState<R>,
  ) {}
}

export interface WriteGateLimits {
  /** Requests that may wait behind one element's in-flight unit. */
  readonly queueLengthMax: number;
  /** Requests that may wait across all elements of this gate. */
  readonly queuedMax: number;
  /** Requests one unit may answer (the size of a group). */
  readonly groupSizeMax: number;
}

export const WRITE_GATE_LIMITS_DEFAULT: WriteGateLimits = { queueLengthMax: 1024, queuedMax: 1_000_000, groupSizeMax: 256 };

/** The gate's bookkeeping for one busy element: kept in the store entry's
 *  `writer` slot once the element exists, in `#creating` until then. */
class ElementState<R extends WriteRequest> {
  inFlight: Unit<R> | undefined = undefined;
  /** Waiting requests sorted by (ts, seq); allocated when the first one waits. */
  queue: R[] | undefined = undefined;
  constructor(
    public key: string,
    public handle: ElementHandle | undefined,
  ) {}
}

/** Released states kept for reuse: a write then allocates one object fewer. */
const STATE_POOL_MAX = 1024;

/**
 * The gate over one store. Guarantees (each proven by test/core/write-gate.property.test.ts):
 * W1 per element, the store applies strictly increasing timestamps;
 * W3 a unit reaches the store only through `complete(unit, true)`;
 * W4 a request for an element with nothing in flight is dispatched at once;
 * W5 a request not newer than the element's applied ts is answered stale with that ts;
 * W6 every request is answered exactly once (after `abortAll` too).
 */
export class WriteGate<R extends WriteRequest = WriteRequest> {
  readonly store: ElementStore;
  readonly limits: WriteGateLimits;
  /** Busy elements that the store does not hold yet. */
  readonly #creating = new Map<string, ElementState<R>>();
  /** Every busy element: small (bounded by requests in flight), so cheap to keep. */
  readonly #busy = new Set<ElementState<R>>();
  readonly #statePool: ElementState<R>[] = [];
  readonly #units: Unit<R>[] = [];
  #unitsHead = 0;
  readonly #answered: R[] = [];
  #answeredHead = 0;
  #seq = 0;
  #queued = 0;
  #inFlight = 0;
  #reservedNewElements = 0;

  constructor(store: ElementStore, limits: WriteGateLimits = WRITE_GATE_LIMITS_DEFAULT) {
    for (const [name, value] of Object.entries(limits)) {
      assert(Number.isInteger(value) && value >= 1, `write gate limit ${name} = ${value} must be a positive integer`);
    }
    this.store = store;
    this.limits = limits;
  }

  /** Requests waiting behind an in-flight unit, across all elements. */
  get queuedCount(): number {
    return this.#queued;
  }

  /** Units handed out for replication and not yet completed. */
  get inFlightCount(): number {
    return this.#inFlight;
  }

  /** Elements with a unit in flight or requests waiting. */
  get busyElementCount(): number {
    return this.#busy.size;
  }

  /** True while `key` has a unit in flight or requests waiting: a sync check leaves it alone. */
  isBusy(key: string): boolean {
    return this.#stateOf(key, this.store.handle(key)) !== undefined;
  }

  /**
   * The least ts of a unit in flight that creates an element (its key is not
   * in the store yet); +Infinity if none. A tombstone collection must keep
   * collectedTsMax below it: that unit may already be on the secondary, and
   * the store would refuse it here as stale once the bound passed its ts.
   */
  creatingInFlightTsMin(): Timestamp {
    let min = Number.POSITIVE_INFINITY;
    for (const state of this.#creating.values()) if (state.inFlight !== undefined && state.inFlight.ts < min) min = state.inFlight.ts;
    return min;
  }

  /** Requests waiting behind `key`'s in-flight unit. */
  queueLength(key: string): number {
    return this.#stateOf(key, this.store.handle(key))?.queue?.length ?? 0;
  }

  /**
   * Takes one request. Its answer, now or later, comes out of `pollAnswered`;
   * a unit to replicate may come out of `pollUnit`. The caller has validated
   * key, value and ts.
   */
  submit(request: R): void {
    request.seq = ++this.#seq;
    request.answer = undefined;
    const handle = this.store.handle(request.key);
    const currentTs = handle === undefined ? this.store.collectedTsMax : handle.ts;
    if (request.ts <= currentTs) {
      this.#answer(request, staleAnswer(request, currentTs));
      return;
    }
    const state = this.#stateOf(request.key, handle);
    if (state === undefined) {
      const fresh = this.#newState(request.key, handle);
      if (handle === undefined) this.#creating.set(request.key, fresh);
      else handle.writer = fresh;
      this.#busy.add(fresh);
      this.#dispatch(fresh, [request], handle === undefined);
      return;
    }
    const queue = (state.queue ??= []);
    if (queue.length >= this.limits.queueLengthMax) {
      this.#answer(request, queueFullAnswer(request.key, 'element', this.limits.queueLengthMax));
      return;
    }
    if (this.#queued >= this.limits.queuedMax) {
      this.#answer(request, queueFullAnswer(request.key, 'node', this.limits.queuedMax));
      return;
    }
    insertSorted(queue, request);
    this.#queued++;
  }

  /**
   * Reports the outcome of replicating `unit`: `replicated` true when the
   * secondary holds it, false when it could not be replicated. On true the unit
   * is applied to the store and its requests are answered applied; on false they
   * are answered unavailable with `reason`. Then the element's waiting requests are processed.
   * Returns false, changing nothing, for a unit the gate no longer tracks
   * (completed already, or dropped by `abortAll`).
   */
  complete(unit: ReplicationUnit<R>, replicated: boolean, reason = 'replication_failed'): boolean {
    const state = unit instanceof Unit ? unit.owner : undefined;
    if (state === undefined || state.inFlight !== unit) return false;
    state.inFlight = undefined;
    this.#inFlight--;
    if (unit.newElement) this.#reservedNewElements--;
    let appliedTs: Timestamp;
    if (!replicated) {
      for (const request of unit.requests) this.#answer(request, unavailableAnswer(unit.key, reason));
      appliedTs = this.store.currentTs(unit.key);
    } else {
      let outcome =
        state.handle === undefined
          ? this.store.apply(unit.key, unit.value, unit.ts, unit.deleted)
          : this.store.applyToHandle(state.handle, unit.value, unit.ts, unit.deleted);
      appliedTs = outcome === 'applied' ? unit.ts : this.store.currentTs(unit.key);
      // A repair copied this very unit from the secondary first: timestamps are unique, so it is applied.
      if (outcome === 'stale' && appliedTs === unit.ts) outcome = 'applied';
      if (state.handle === undefined && this.store.has(unit.key)) this.#adopt(state);
      // 'stale' is possible only if a repair raised the element meanwhile.
      for (const request of unit.requests) {
        if (outcome === 'applied') this.#answer(request, APPLIED);
        else if (outcome === 'stale') this.#answer(request, staleAnswer(request, appliedTs));
        else this.#answer(request, storeFullAnswer(unit.key, this.store.elementsMax));
      }
    }
    this.#dispatchNext(state, appliedTs);
    return true;
  }

  /**
   * Answers every waiting and in-flight request `unavailable` with `reason` and
   * forgets them (the node stopped being primary, or is shutting down). Units
   * already handed out may still reach the secondary: replication is
   * state-based, so that is harmless; their `complete` then returns false.
   */
  abortAll(reason: string): void {
    for (const state of this.#busy) {
      if (state.inFlight !== undefined) {
        for (const request of state.inFlight.requests) this.#answer(request, unavailableAnswer(state.key, reason));
        state.inFlight = undefined;
      }
      for (const request of state.queue ?? []) this.#answer(request, unavailableAnswer(state.key, reason));
      state.queue = undefined;
      if (state.handle !== undefined) state.handle.writer = undefined;
    }
    this.#busy.clear();
    this.#creating.clear();
    this.#units.length = this.#unitsHead = 0;
    this.#queued = this.#inFlight = this.#reservedNewElements = 0;
  }

  /** The next unit to replicate, oldest first; undefined when none. */
  pollUnit(): ReplicationUnit<R> | undefined {
    if (this.#unitsHead === this.#units.length) return undefined;
    const unit = this.#units[this.#unitsHead++];
    if (this.#unitsHead === this.#units.length) this.#units.length = this.#unitsHead = 0;
    return unit;
  }

  /** The next answered request (its `answer` is set), in answer order; undefined when none. */
  pollAnswered(): R | undefined {
    if (this.#answeredHead === this.#answered.length) return undefined;
    const request = this.#answered[this.#answeredHead++];
    if (this.#answeredHead === this.#answered.length) this.#answered.length = this.#answeredHead = 0;
    return request;
  }

  /** Takes the next group from the element's queue, or forgets the element when nothing waits. */
  #dispatchNext(state: ElementState<R>, appliedTs: Timestamp): void {
    const queue = state.queue;
    if (queue === undefined || queue.length === 0) {
      this.#release(state);
      return;
    }
    const group: R[] = [];
    let lastTs = appliedTs;
    let taken = 0;
    for (; taken < queue.length && group.length < this.limits.groupSizeMax; taken++) {
      const request = queue[taken]!;
      if (request.ts <= appliedTs) {
        this.#answer(request, staleAnswer(request, appliedTs));
        continue;
      }
      // An equal ts cannot join: whether it is stale depends on this group's fate.
      if (request.ts === lastTs) break;
      group.push(request);
      lastTs = request.ts;
    }
    queue.splice(0, taken);
    this.#queued -= taken;
    if (group.length > 0) this.#dispatch(state, group, !this.store.has(state.key));
    else this.#dispatchNext(state, appliedTs);
  }

  #dispatch(state: ElementState<R>, group: R[], newElement: boolean): void {
    if (newElement && this.store.size + this.#reservedNewElements >= this.store.elementsMax) {
      for (const request of group) this.#answer(request, storeFullAnswer(state.key, this.store.elementsMax));
      this.#dispatchNext(state, this.store.currentTs(state.key));
      return;
    }
    if (newElement) this.#reservedNewElements++;
    const last = group[group.length - 1]!;
    const unit = new Unit(state.key, last.value, last.deleted, last.ts, group, newElement, state);
    state.inFlight = unit;
    this.#inFlight++;
    this.#units.push(unit);
  }

  #stateOf(key: string, handle: ElementHandle | undefined): ElementState<R> | undefined {
    if (handle !== undefined && handle.writer !== undefined) return handle.writer as ElementState<R>;
    // A repair may have created the element while its first write was in flight.
    return this.#creating.size === 0 ? undefined : this.#creating.get(key);
  }

  /** The element now exists in the store: move its state into the entry's slot. */
  #adopt(state: ElementState<R>): void {
    const handle = this.store.handle(state.key);
    assert(handle !== undefined, `element ${state.key} was applied but is not in the store`);
    this.#creating.delete(state.key);
    state.handle = handle;
    handle.writer = state;
  }

  #newState(key: string, handle: ElementHandle | undefined): ElementState<R> {
    const state = this.#statePool.pop();
    if (state === undefined) return new ElementState<R>(key, handle);
    state.key = key;
    state.handle = handle;
    return state;
  }

  /** Nothing in flight or waiting: forget the element. */
  #release(state: ElementState<R>): void {
    if (state.handle === undefined) this.#creating.delete(state.key);
    else state.handle.writer = undefined;
    this.#busy.delete(state);
    // Units keep a reference to their owner: reuse is safe because a completed
    // unit is recognised by `owner.inFlight !== unit`, and inFlight is cleared.
    state.handle = undefined;
    if (this.#statePool.length < STATE_POOL_MAX) this.#statePool.push(state);
  }

  #answer(request: R, answer: Answer): void {
    assert(request.answer === undefined, `request ${request.seq} for ${request.key} answered twice`);
    request.answer = answer;
    this.#answered.push(request);
  }
}

const APPLIED: Answer = Object.freeze({ code: 'applied' });

/** Inserts by (ts, seq); the newest request usually lands at the end. */
function insertSorted<R extends WriteRequest>(queue: R[], request: R): void {
  let low = 0;
  let high = queue.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const other = queue[mid]!;
    if (other.ts < request.ts || (other.ts === request.ts && other.seq < request.seq)) low = mid + 1;
    else high = mid;
  }
  if (low === queue.length) queue.push(request);
  else queue.splice(low, 0, request);
}

function staleAnswer(request: WriteRequest, currentTs: Timestamp): Answer {
  return {
    code: 'stale',
    key: request.key,
    ts: request.ts,
    currentTs,
    message: `element ${request.key} is at ts ${formatTimestamp(currentTs)}; update ts ${formatTimestamp(request.ts)} is stale`,
  };
}

function queueFullAnswer(key: string, scope: 'element' | 'node', limit: number): Answer {
  const where = scope === 'element' ? `element ${key} has` : 'this node has';
  return { code: 'queue_full', key, scope, limit, message: `${where} ${limit} updates waiting (the limit); retry later` };
}

function unavailableAnswer(key: string, reason: string): Answer {
  const message = `update of ${key} was not acknowledged (${reason}); it may or may not take effect, so retry with the same request id`;
  return { code: 'unavailable', key, reason, message };
}

function storeFullAnswer(key: string, elementsMax: number): Answer {
  return { code: 'rejected', key, reason: 'store_full', message: `store holds ${elementsMax} elements (the limit); cannot create ${key}` };
}
