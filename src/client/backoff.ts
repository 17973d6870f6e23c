/** How long the SDK waits before its next connection attempt: exponential
 *  backoff with jitter, so thousands of clients that lost the same server do
 *  not all dial its successor in the same millisecond. Pure: randomness is a parameter. */

import type { Random } from '../core/random.ts';

export interface BackoffSettings {
  /** Delay before the first retry, before jitter. */
  readonly backoffMsInitial: number;
  /** Ceiling of the delay, before jitter. */
  readonly backoffMsMax: number;
  /** 0..1: the share of the delay that is random (0 = none, 0.5 = between half and all of it). */
  readonly backoffJitter: number;
}

/**
 * The delay before retry number `attempt` (0 = the first retry):
 * `min(max, initial · 2^attempt)`, less a random share of up to `jitter` of it.
 *
 * @example
 * ```ts
 * const noJitter = { backoffMsInitial: 100, backoffMsMax: 1_000, backoffJitter: 0 };
 * const random = { nextUint32: () => 0 };
 * assert.deepEqual([0, 1, 2, 3, 4, 10].map((attempt) => reconnectDelayMs(attempt, noJitter, random)), [100, 200, 400, 800, 1_000, 1_000]);
 * const halfJitter = { ...noJitter, backoffJitter: 0.5 };
 * const delay = reconnectDelayMs(0, halfJitter, { nextUint32: () => 2 ** 31 });
 * assert.equal(delay, 75); // 100 less half of half of it
 * ```
 */
export function reconnectDelayMs(attempt: number, settings: BackoffSettings, random: Random): number {
  // 2^attempt overflows to Infinity long after min() has capped it; cap the exponent anyway for clarity.
  const baseMs = Math.min(settings.backoffMsMax, settings.backoffMsInitial * 2 ** Math.min(attempt, 30));
  const share = random.nextUint32() / 4294967296;
  return Math.round(baseMs * (1 - settings.backoffJitter * share));
}

/**
 * Throws a RangeError naming the setting unless the backoff settings make sense
 * (non-negative, initial ≤ max, jitter within 0..1): a programmer's error, caught at construction.
 *
 * @example
 * ```ts
 * checkBackoffSettings({ backoffMsInitial: 100, backoffMsMax: 5_000, backoffJitter: 0.5 });
 * assert.throws(() => checkBackoffSettings({ backoffMsInitial: 100, backoffMsMax: 50, backoffJitter: 0 }), /backoffMsMax/);
 * ```
 */
export function checkBackoffSettings(settings: BackoffSettings): void {
  const { backoffMsInitial, backoffMsMax, backoffJitter } = settings;
  if (!(Number.isFinite(backoffMsInitial) && backoffMsInitial >= 0)) throw new RangeError(`backoffMsInitial ${backoffMsInitial} must be a finite number ≥ 0`);
  if (!(Number.isFinite(backoffMsMax) && backoffMsMax >= backoffMsInitial)) {
    throw new RangeError(`backoffMsMax ${backoffMsMax} must be a finite number ≥ backoffMsInitial ${backoffMsInitial}`);
  }
  if (!(backoffJitter >= 0 && backoffJitter <= 1)) throw new RangeError(`backoffJitter ${backoffJitter} must be within 0..1`);
}
