/** Shared settings for fast-check property tests. CI runs the default (at
 *  least 1,000 cases per property); FC_NUM_RUNS overrides it for quick local
 *  runs or long soak runs. */

import type { Parameters } from 'fast-check';

export const numRuns = Number(process.env.FC_NUM_RUNS ?? 1000);

if (!(Number.isInteger(numRuns) && numRuns > 0)) {
  throw new RangeError(`FC_NUM_RUNS must be a positive integer, got ${JSON.stringify(process.env.FC_NUM_RUNS)}`);
}

/** Options for `fc.assert`: the shared case count plus anything test-specific. */
export function propertyOptions<T>(extra?: Parameters<T>): Parameters<T> {
  return { numRuns, ...extra };
}
