/** Assertions for programmer errors (STYLE.md): a failed one is a bug, so it
 *  throws and is never caught. Operating errors are returned values, not these. */

export class AssertionError extends Error {
  override name = 'AssertionError';
}

/** Throws an AssertionError with `message` unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
