/** Element keys: structured strings such as `s/{session}/p/{participant}`.
 *  Owns their grammar and limits, and how a key names its session. Pure. */

/** Default longest key, in characters (all key characters are ASCII). */
export const KEY_LENGTH_MAX_DEFAULT = 256;
/** Longest single segment between slashes. */
export const KEY_SEGMENT_LENGTH_MAX = 64;

// Segments are 1–64 characters of unreserved URL characters plus ':', so a key
// can be used in a URL path, a log line or a metric label without escaping.
const KEY_PATTERN = /^[A-Za-z0-9_.:~-]{1,64}(?:\/[A-Za-z0-9_.:~-]{1,64})*$/;

export type KeyError = { readonly code: 'invalid_key'; readonly key: unknown; readonly message: string };

/**
 * Checks a key against the grammar `segment ('/' segment)*`, each segment 1–64
 * of `[A-Za-z0-9_.:~-]`, the whole at most `keyLengthMax` characters; a key
 * starting `s/` must name a session (`s/{session}/…`). Returns undefined when
 * valid, otherwise an error that names the problem.
 */
export function checkKey(key: unknown, keyLengthMax = KEY_LENGTH_MAX_DEFAULT): KeyError | undefined {
  if (typeof key !== 'string') {
    return { code: 'invalid_key', key, message: `key must be a string, got ${typeof key}` };
  }
  if (key.length > keyLengthMax) {
    return { code: 'invalid_key', key: `${key.slice(0, 32)}…`, message: `key is ${key.length} characters; the limit is ${keyLengthMax}` };
  }
  if (!KEY_PATTERN.test(key)) {
    return {
      code: 'invalid_key',
      key,
      message: `key ${JSON.stringify(key)} is not segments of [A-Za-z0-9_.:~-] (1-${KEY_SEGMENT_LENGTH_MAX} each) joined by '/'`,
    };
  }
  if (key === 's' || (key.startsWith('s/') && key.indexOf('/', 2) === -1)) {
    return { code: 'invalid_key', key, message: `key ${JSON.stringify(key)} names no element inside a session: use s/{session}/…` };
  }
  return undefined;
}

/** 1 for the bytes a key segment may hold: [A-Za-z0-9_.:~-] (KEY_PATTERN). */
const SEGMENT_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:~-') SEGMENT_BYTE[c.charCodeAt(0)] = 1;

/**
 * True when `bytes[start, start + length)` is a key `checkKey` accepts with the
 * default length limit, checked on the bytes themselves: a decoder can then
 * build the string directly (every key byte is ASCII). False means "not
 * shown valid here": the caller falls back to decoding and `checkKey`, which
 * names the problem.
 */
export function isKeyBytes(bytes: Uint8Array, start: number, length: number): boolean {
  if (length === 0 || length > KEY_LENGTH_MAX_DEFAULT) return false;
  let segment = 0;
  let slashes = 0;
  for (let i = start, end = start + length; i < end; i++) {
    const c = bytes[i]!;
    if (c === 0x2f /* / */) {
      if (segment === 0) return false;
      segment = 0;
      slashes++;
    } else if (SEGMENT_BYTE[c] === 1 && segment < KEY_SEGMENT_LENGTH_MAX) segment++;
    else return false;
  }
  if (segment === 0) return false;
  // `s` and `s/{session}` name no element inside a session.
  const sessionKey = bytes[start] === 0x73 /* s */ && (length === 1 || bytes[start + 1] === 0x2f);
  return !(sessionKey && slashes < 2);
}

/**
 * The session id a key belongs to: `abc` for `s/abc/p/7`, undefined for keys
 * outside any session. Assumes a key that passed `checkKey`.
 */
export function sessionOfKey(key: string): string | undefined {
  if (key.charCodeAt(0) !== 115 /* s */ || key.charCodeAt(1) !== 47 /* / */) return undefined;
  const end = key.indexOf('/', 2);
  return end === -1 ? undefined : key.slice(2, end);
}

/** The key prefix shared by every element of `session`: `s/{session}/`. */
export function sessionPrefix(session: string): string {
  return `s/${session}/`;
}
