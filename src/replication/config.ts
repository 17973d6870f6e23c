/** Limits and timings shared by the replication state machines, with the
 *  defaults the CLI starts from. Every queue, window and frame has a maximum. */

import { LIST_LENGTH_MAX } from './messages.ts';

export interface ReplicationLimits {
  /** Largest frame body accepted or sent, in bytes. */
  readonly frameBytesMax: number;
  /** Elements sent to the secondary and not yet acknowledged: the backpressure window. */
  readonly windowElementsMax: number;
  /**
   * Bytes (estimated from keys and value sizes) sent and not yet acknowledged. Kept well
   * under the transport's 16 MiB write-buffer limit, past which it stops reading a socket.
   */
  readonly windowBytesMax: number;
  /** Units waiting for window space; beyond this, new client updates get queue_full. */
  readonly pendingUnitsMax: number;
  /** Requests one client connection may have outstanding. */
  readonly clientOutstandingMax: number;
  /** Largest JSON value, in UTF-8 bytes. */
  readonly valueBytesMax: number;
  /** Longest key, in characters. */
  readonly keyLengthMax: number;
  /** Differences listed in one sync-check result (the count is always exact). */
  readonly differencesReportMax: number;
}

export interface ReplicationTimings {
  /** The primary sends a heartbeat when the link has been quiet this long. */
  readonly heartbeatIntervalMs: number;
  /** A link silent this long is dropped (and, on a secondary, redialled). */
  readonly linkTimeoutMs: number;
  /** A connection that has not finished its handshake by then is closed. */
  readonly handshakeTimeoutMs: number;
  /** Periodic sync check; 0 turns it off (on-demand checks still run). */
  readonly syncCheckIntervalMs: number;
  /** Secondary: wait before redialling a lost primary. */
  readonly reconnectDelayMs: number;
  /**
   * A secondary that was in sync promotes itself to primary (epoch + 1) once
   * it has heard nothing from the primary for this long; 0 = never. Six
   * heartbeats: a primary that is merely busy for a moment is not replaced,
   * and writes resume well within a second of a crash.
   */
  readonly failoverTimeoutMs: number;
  /** A primary without an attached secondary asks its peer's role and epoch this often (it demotes itself to a higher epoch). */
  readonly probeIntervalMs: number;
  /**
   * A tombstone is kept at least this long (by its timestamp) before it may be
   * collected. Until then a late write of the key older than the delete is
   * answered stale with the tombstone's own ts; afterwards with the node's
   * collectedTsMax, which also refuses writes that create a new key at or below it.
   */
  readonly tombstoneRetentionMs: number;
  /** The primary runs a tombstone collection round this often; 0 = never. */
  readonly tombstoneCollectIntervalMs: number;
}

export const REPLICATION_LIMITS_DEFAULT: ReplicationLimits = {
  frameBytesMax: 4 * 1024 * 1024,
  windowElementsMax: 65_536,
  windowBytesMax: 8 * 1024 * 1024,
  pendingUnitsMax: 262_144,
  clientOutstandingMax: 4096,
  valueBytesMax: 16 * 1024,
  keyLengthMax: 256,
  differencesReportMax: 1000,
};

export const REPLICATION_TIMINGS_DEFAULT: ReplicationTimings = {
  heartbeatIntervalMs: 100,
  linkTimeoutMs: 1000,
  handshakeTimeoutMs: 5000,
  syncCheckIntervalMs: 60_000,
  reconnectDelayMs: 200,
  failoverTimeoutMs: 600,
  probeIntervalMs: 1000,
  tombstoneRetentionMs: 3_600_000,
  tombstoneCollectIntervalMs: 60_000,
};

/**
 * Tombstones one collection round takes at most: a round costs a scan of the
 * tombstones held and a sort of the due ones, and its collect entries share the
 * window with live units; 10,000 entries are about 400 KB of frames and a few
 * ms of work, and a round a minute still collects 600,000 an hour.
 */
export const TOMBSTONES_PER_ROUND = 10_000;

/** Collect entries (key and ts) that fit in one frame whatever the keys. */
export function collectEntriesPerFrame(limits: ReplicationLimits): number {
  // Keys are ASCII (keys.ts): a key of keyLengthMax characters is that many bytes.
  return Math.max(1, Math.min(LIST_LENGTH_MAX, Math.floor((limits.frameBytesMax - 64) / (2 + limits.keyLengthMax + 8))));
}

/**
 * Elements that fit in one frame whatever their values: the frame limit
 * divided by the largest element (key, ts, flags, lengths and the largest value).
 */
export function elementsPerFrame(limits: ReplicationLimits): number {
  const largestElement = 2 + limits.keyLengthMax + 8 + 1 + 4 + limits.valueBytesMax;
  return Math.max(1, Math.floor((limits.frameBytesMax - 64) / largestElement));
}

/**
 * Share of the window (windowElementsMax and windowBytesMax) that catch-up and
 * repair elements may fill. A quarter of the default 8 MiB is about 16,000
 * typical elements, tens of milliseconds of the secondary's work: enough to
 * keep it busy between acknowledgements, while a live unit sent during a
 * catch-up waits behind at most that much.
 */
export const CATCH_UP_WINDOW_SHARE = 0.25;

/**
 * During a catch-up, a secondary acknowledges reads that brought catch-up
 * elements only once this many elements or bytes have gathered: a quarter of
 * what the primary may have in flight of them (so it never waits for room),
 * instead of once per 64 KiB read. Anything live is acknowledged at once.
 */
export function catchUpAckEvery(limits: ReplicationLimits): { readonly elements: number; readonly bytes: number } {
  return {
    elements: Math.max(1, Math.floor((limits.windowElementsMax * CATCH_UP_WINDOW_SHARE) / 4)),
    bytes: Math.max(1, Math.floor((limits.windowBytesMax * CATCH_UP_WINDOW_SHARE) / 4)),
  };
}

/** Bucket indexes asked for in one request, so the answer fits a frame. */
export const BUCKETS_PER_REQUEST = 128;
