/** Hybrid logical clock (HLC) timestamps: physical milliseconds, a logical
 *  counter and a node id packed into one JS safe integer, so every compare on
 *  the hot path is a plain `<` on numbers. Pure: the wall clock is a parameter.
 *
 *  Bit budget (53 bits, Number.MAX_SAFE_INTEGER):
 *
 *    | physical ms since 2025-01-01T00:00Z | logical | node |
 *    |              41 bits                |  8 bits | 4 b  |
 *
 *  - 41 bits of milliseconds last 69.7 years, until 2094-09.
 *  - 8 logical bits give 256 timestamps per millisecond per node (256,000/s
 *    sustained). A node that issues more borrows the next millisecond: its clock
 *    runs ahead of the wall clock only while the burst lasts, and stays monotonic.
 *  - 4 node bits (0–15) break ties between nodes, so two nodes never issue the
 *    same timestamp and "newer wins" is a total order. Every node and every
 *    caller that brings its own timestamps needs a distinct node id.
 */

/** A packed HLC timestamp; 0 means "never written". */
export type Timestamp = number;

/** 2025-01-01T00:00:00Z in Unix milliseconds: the zero of the physical field. */
export const TIMESTAMP_EPOCH_UNIX_MS = 1_735_689_600_000;
export const TIMESTAMP_PHYSICAL_BITS = 41;
export const TIMESTAMP_LOGICAL_BITS = 8;
export const TIMESTAMP_NODE_BITS = 4;
export const NODE_ID_MAX = (1 << TIMESTAMP_NODE_BITS) - 1;
export const LOGICAL_MAX = (1 << TIMESTAMP_LOGICAL_BITS) - 1;
export const PHYSICAL_MS_MAX = 2 ** TIMESTAMP_PHYSICAL_BITS - 1;

const LOW_BITS = TIMESTAMP_LOGICAL_BITS + TIMESTAMP_NODE_BITS;
const LOW_SCALE = 2 ** LOW_BITS; // 4096: one physical millisecond
const NODE_SCALE = 2 ** TIMESTAMP_NODE_BITS; // 16: one logical step

/** The wall clock a node reads. Only src/cli builds the real one. */
export interface Clock {
  /** Unix time in milliseconds; may step backward or forward. */
  nowMs(): number;
}

/** Packs the three fields. Guarantees: the result orders first by `physicalMs`,
 *  then `logical`, then `nodeId`; throws if a field is out of range (a bug). */
export function packTimestamp(physicalMs: number, logical: number, nodeId: number): Timestamp {
  if (!(Number.isInteger(physicalMs) && physicalMs >= 0 && physicalMs <= PHYSICAL_MS_MAX)) {
    throw new RangeError(`physical ms ${physicalMs} is outside 0..${PHYSICAL_MS_MAX}`);
  }
  if (!(Number.isInteger(logical) && logical >= 0 && logical <= LOGICAL_MAX)) {
    throw new RangeError(`logical ${logical} is outside 0..${LOGICAL_MAX}`);
  }
  if (!(Number.isInteger(nodeId) && nodeId >= 0 && nodeId <= NODE_ID_MAX)) {
    throw new RangeError(`node id ${nodeId} is outside 0..${NODE_ID_MAX}`);
  }
  return physicalMs * LOW_SCALE + logical * NODE_SCALE + nodeId;
}

/** The physical field of `ts`, in milliseconds since TIMESTAMP_EPOCH_UNIX_MS. */
export function physicalMsOf(ts: Timestamp): number {
  return Math.floor(ts / LOW_SCALE);
}

/** The logical counter of `ts`. */
export function logicalOf(ts: Timestamp): number {
  return Math.floor(ts / NODE_SCALE) % (LOGICAL_MAX + 1);
}

/** The node id of `ts`. */
export function nodeIdOf(ts: Timestamp): number {
  return ts % NODE_SCALE;
}

/** The Unix millisecond `ts` was issued at (by its issuer's HLC). */
export function unixMsOf(ts: Timestamp): number {
  return physicalMsOf(ts) + TIMESTAMP_EPOCH_UNIX_MS;
}

/** True when `ts` is a well-formed timestamp: a safe non-negative integer. */
export function isTimestamp(ts: unknown): ts is Timestamp {
  return typeof ts === 'number' && Number.isSafeInteger(ts) && ts >= 0;
}

/** A readable form for logs and error messages: `unixMs.logical@node`. */
export function formatTimestamp(ts: Timestamp): string {
  if (ts === 0) return '0';
  return `${unixMsOf(ts)}.${logicalOf(ts)}@${nodeIdOf(ts)}`;
}

/** Why a remote timestamp was refused by `HybridClock.observe`. */
export type ObserveError =
  | { readonly code: 'invalid_timestamp'; readonly ts: unknown; readonly message: string }
  | {
      readonly code: 'clock_skew';
      readonly ts: Timestamp;
      readonly aheadMs: number;
      readonly maxClockSkewMs: number;
      readonly message: string;
    };

export interface HybridClockOptions {
  /** This node's id, 0..15, unique among everything that issues timestamps. */
  readonly nodeId: number;
  /** A remote timestamp further than this ahead of the local wall clock is refused. */
  readonly maxClockSkewMs: number;
}

/**
 * A node's hybrid logical clock.
 *
 * Guarantees: `now()` returns strictly increasing timestamps on this node, even
 * when the wall clock steps back; after `observe(t)` succeeds, every later
 * `now()` is greater than `t`. A remote timestamp more than `maxClockSkewMs`
 * ahead of the wall clock is refused and changes nothing, so one bad clock
 * cannot drag this node into the future.
 */
export class HybridClock {
  readonly nodeId: number;
  readonly maxClockSkewMs: number;
  readonly #wall: Clock;
  /** Last issued or observed (physical, logical), without the node id. */
  #physicalMs = 0;
  #logical = 0;

  constructor(wall: Clock, options: HybridClockOptions) {
    if (!(Number.isInteger(options.nodeId) && options.nodeId >= 0 && options.nodeId <= NODE_ID_MAX)) {
      throw new RangeError(`node id ${options.nodeId} is outside 0..${NODE_ID_MAX}`);
    }
    if (!(Number.isFinite(options.maxClockSkewMs) && options.maxClockSkewMs >= 0)) {
      throw new RangeError(`maxClockSkewMs ${options.maxClockSkewMs} must be a non-negative number`);
    }
    this.#wall = wall;
    this.nodeId = options.nodeId;
    this.maxClockSkewMs = options.maxClockSkewMs;
  }

  /**
   * Issues a new timestamp, greater than every one issued or observed before.
   * Throws RangeError only when the 41-bit physical range is used up (year 2094).
   */
  now(): Timestamp {
    const wallMs = this.#wallPhysicalMs();
    if (wallMs > this.#physicalMs) {
      this.#physicalMs = wallMs;
      this.#logical = 0;
    } else if (this.#logical < LOGICAL_MAX) {
      this.#logical += 1;
    } else {
      // 256 timestamps in one millisecond: borrow the next millisecond.
      if (this.#physicalMs >= PHYSICAL_MS_MAX) {
        throw new RangeError(`timestamp space exhausted: physical time reached ${PHYSICAL_MS_MAX} ms after 2025-01-01 (year 2094)`);
      }
      this.#physicalMs += 1;
      this.#logical = 0;
    }
    return this.#physicalMs * LOW_SCALE + this.#logical * NODE_SCALE + this.nodeId;
  }

  /** The greatest timestamp issued or observed so far, with this node's id (0 before any). */
  last(): Timestamp {
    if (this.#physicalMs === 0 && this.#logical === 0) return 0;
    return this.#physicalMs * LOW_SCALE + this.#logical * NODE_SCALE + this.nodeId;
  }

  /**
   * Merges a timestamp from outside (a caller or a peer) into the clock.
   * Returns undefined on success; afterwards `now()` exceeds `ts`. Returns an
   * error, and changes nothing, when `ts` is malformed or too far ahead.
   */
  observe(ts: unknown): ObserveError | undefined {
    if (!isTimestamp(ts) || physicalMsOf(ts) >= PHYSICAL_MS_MAX) {
      return { code: 'invalid_timestamp', ts, message: `timestamp ${String(ts)} is not a non-negative safe integer below the last millisecond of the range` };
    }
    const remoteMs = physicalMsOf(ts);
    const aheadMs = remoteMs - this.#wallPhysicalMs();
    if (aheadMs > this.maxClockSkewMs) {
      return {
        code: 'clock_skew',
        ts,
        aheadMs,
        maxClockSkewMs: this.maxClockSkewMs,
        message: `timestamp ${formatTimestamp(ts)} is ${aheadMs} ms ahead of this node's clock (max ${this.maxClockSkewMs} ms)`,
      };
    }
    this.#advanceTo(remoteMs, logicalOf(ts));
    return undefined;
  }

  /**
   * Merges a timestamp from a trusted replication peer. No skew check: the
   * stream already carries timestamps that this pair issued, and refusing one
   * would stall replication. Malformed input is still refused.
   */
  observeTrusted(ts: Timestamp): ObserveError | undefined {
    // The last millisecond of the range stays free, so `now()` can always move past what it observed.
    if (!isTimestamp(ts) || physicalMsOf(ts) >= PHYSICAL_MS_MAX) {
      return { code: 'invalid_timestamp', ts, message: `timestamp ${String(ts)} is not a non-negative safe integer below the last millisecond of the range` };
    }
    this.#advanceTo(physicalMsOf(ts), logicalOf(ts));
    return undefined;
  }

  #advanceTo(physicalMs: number, logical: number): void {
    if (physicalMs > this.#physicalMs || (physicalMs === this.#physicalMs && logical > this.#logical)) {
      this.#physicalMs = physicalMs;
      this.#logical = logical;
    }
  }

  #wallPhysicalMs(): number {
    const ms = Math.floor(this.#wall.nowMs()) - TIMESTAMP_EPOCH_UNIX_MS;
    return ms < 0 ? 0 : ms > PHYSICAL_MS_MAX ? PHYSICAL_MS_MAX : ms;
  }
}
