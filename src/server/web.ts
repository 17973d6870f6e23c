/** Serves the conference page (web/dist, built by Vite) from the API port:
 *  GET and HEAD of `/`, of the files under the page's root and of
 *  `/config.json` (which servers the page fails over between). It knows
 *  nothing of conferences, and never reads a path outside its root. */

import { createHash } from 'node:crypto';
import { realpath, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** What `registerWeb` serves. The CLI builds it; tests point `root` at a directory of their own. */
export interface WebOptions {
  /** Directory of the built page (web/dist): index.html, assets/… */
  readonly root: string;
  /** Public API URLs of this node and its peer: what the page's SDK fails over between. */
  readonly servers: readonly string[];
  /** The node runs the DEMO token issuer: the page offers joining by name. */
  readonly demo: boolean;
}

/** What the page reads from `/config.json` (web/src/page-config.ts has the same shape). */
export interface PageConfig {
  readonly servers: readonly string[];
  readonly demo: boolean;
  /** Above this many present participants the page warns that its mesh will struggle (docs/WEB.md). */
  readonly meshParticipantsMax: number;
}

/** A full mesh sends one copy of each track per peer: about 6 is what a laptop uplink and CPU carry (docs/WEB.md). */
export const MESH_PARTICIPANTS_MAX = 6;

/** Vite names every file under assets/ by its content hash, so a browser may keep it forever. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html and config.json name the current assets: always revalidated (cheap with the ETag). */
const REVALIDATE = 'no-cache';
/** Other files of the root (a favicon): an hour. */
const SHORT = 'public, max-age=3600';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** The content type of a file by its extension; unknown ones are served as bytes (and `nosniff`). */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file a URL path names under `root`, or undefined when it names none it
 * may serve: malformed escapes, NUL, backslashes, `.` or `..` segments, and
 * dot-files are refused before the file system is asked. `/` is index.html.
 */
export function webPathOf(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.slice(1).split('/');
  if (segments.at(-1) === '') segments[segments.length - 1] = 'index.html';
  if (segments.some((segment) => segment === '' || segment.startsWith('.'))) return undefined;
  const file = path.resolve(root, ...segments);
  return file.startsWith(path.resolve(root) + path.sep) ? file : undefined;
}

/** The page's Content-Security-Policy: its own scripts and styles only, and connections to the servers it fails over between. */
export function contentSecurityPolicy(servers: readonly string[]): string {
  const origins = new Set<string>();
  for (const server of servers) {
    const url = new URL(server);
    origins.add(url.origin);
    origins.add(`${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}`);
  }
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    `connect-src 'self' ${[...origins].join(' ')}`.trim(),
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ].join('; ');
}

/** Registers `/`, `/config.json` and the files of the root on `app` (GET; Fastify adds HEAD). */
export function registerWeb(app: FastifyInstance, options: WebOptions): void {
  const config: PageConfig = { servers: [...options.servers], demo: options.demo, meshParticipantsMax: MESH_PARTICIPANTS_MAX };
  const configText = JSON.stringify(config);
  const configTag = `"${createHash('sha256').update(configText).digest('base64url').slice(0, 22)}"`;
  const csp = contentSecurityPolicy(options.servers);
  app.get('/config.json', (request, reply) => {
    reply.header('cache-control', REVALIDATE).header('etag', configTag).header('x-content-type-options', 'nosniff');
    if (request.headers['if-none-match'] === configTag) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(configText);
  });
  const serve = (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => serveFile(request, reply, options.root, csp);
  app.get('/', serve);
  app.get('/*', serve);
}

async function serveFile(request: FastifyRequest, reply: FastifyReply, root: string, csp: string): Promise<FastifyReply> {
  const urlPath = (request.url.split('?')[0] ?? '/').split('#')[0]!;
  // The API's paths keep the API's own 404 (route_not_found, JSON).
  if (urlPath.startsWith('/v1/')) return notFound(reply);
  const file = webPathOf(root, urlPath);
  const found = file === undefined ? undefined : await regularFileInside(root, file);
  if (found === undefined) {
    if (urlPath === '/' || urlPath === '/index.html') {
      return reply.code(503).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send('The conference page is not built: run `npm run build:web` (npm start builds it).\n');
    }
    return notFound(reply);
  }
  const etag = `W/"${found.size.toString(16)}-${Math.floor(found.mtimeMs).toString(16)}"`;
  const isHtml = path.extname(found.file) === '.html';
  reply
    .header('cache-control', isHtml ? REVALIDATE : found.file.includes(`${path.sep}assets${path.sep}`) ? IMMUTABLE : SHORT)
    .header('etag', etag)
    .header('last-modified', new Date(found.mtimeMs).toUTCString())
    .header('x-content-type-options', 'nosniff');
  if (isHtml) {
    reply.header('content-security-policy', csp).header('referrer-policy', 'no-referrer').header('permissions-policy', 'camera=(self), microphone=(self), display-capture=(self)');
  }
  if (request.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.type(contentTypeOf(found.file)).send(await readFile(found.file));
}

/** Hands the request to the app's not-found handler: the API's one 404 body (route_not_found). */
function notFound(reply: FastifyReply): FastifyReply {
  reply.callNotFound();
  return reply;
}

/** The file with its size and mtime when it is a regular file whose real path (symlinks followed) is inside `root`. */
async function regularFileInside(root: string, file: string): Promise<{ file: string; size: number; mtimeMs: number } | undefined> {
  try {
    const [realRoot, realFile] = await Promise.all([realpath(root), realpath(file)]);
    if (!realFile.startsWith(realRoot + path.sep)) return undefined;
    const info = await stat(realFile);
    return info.isFile() ? { file: realFile, size: info.size, mtimeMs: info.mtimeMs } : undefined;
  } catch {
    return undefined;
  }
}
