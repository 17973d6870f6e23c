/** Server addresses as the SDK dials them: `ws(s)://host[:port]/v1/ws`, from
 *  whatever form a user or a server's `primaryUrl` gives (http(s) base URL or
 *  ws(s) URL). Pure string work; knows nothing of connections. */

/** The WebSocket endpoint's path (api.ts). */
export const SOCKET_PATH = '/v1/ws';

/**
 * The WebSocket URL for `url`: `http:` becomes `ws:` and `https:` becomes
 * `wss:`; an empty path or `/` becomes `/v1/ws`; any other path is kept.
 * Returns undefined for anything that is not an absolute http(s) or ws(s) URL.
 *
 * @example
 * ```ts
 * assert.equal(toSocketUrl('http://127.0.0.1:8080'), 'ws://127.0.0.1:8080/v1/ws');
 * assert.equal(toSocketUrl('https://conf.example.com/'), 'wss://conf.example.com/v1/ws');
 * assert.equal(toSocketUrl('ws://[::1]:9000/v1/ws'), 'ws://[::1]:9000/v1/ws');
 * assert.equal(toSocketUrl('ftp://example.com'), undefined);
 * assert.equal(toSocketUrl('not a url'), undefined);
 * ```
 */
export function toSocketUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const scheme = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[parsed.protocol];
  if (scheme === undefined) return undefined;
  parsed.protocol = scheme;
  if (parsed.pathname === '' || parsed.pathname === '/') parsed.pathname = SOCKET_PATH;
  parsed.hash = '';
  return parsed.toString();
}

/**
 * Whether a client connected over `fromUrl` may follow a server's redirect to
 * `toUrl`: never from `wss:` down to `ws:`, which would send the token in clear text.
 *
 * @example
 * ```ts
 * assert.equal(mayRedirect('wss://a.example/v1/ws', 'ws://b.example/v1/ws'), false);
 * assert.equal(mayRedirect('ws://127.0.0.1:1/v1/ws', 'ws://127.0.0.1:2/v1/ws'), true);
 * assert.equal(mayRedirect('ws://127.0.0.1:1/v1/ws', 'wss://b.example/v1/ws'), true);
 * ```
 */
export function mayRedirect(fromUrl: string, toUrl: string): boolean {
  return !(fromUrl.startsWith('wss:') && !toUrl.startsWith('wss:'));
}
