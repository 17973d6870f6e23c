/** The static handler of the conference page (src/server/web.ts): what it
 *  serves, with which headers, and every way of asking for a file outside
 *  its root that it must refuse — through inject and over a raw socket. */

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltServer, buildServer, type StartedServer, startServer } from '../../src/server/app.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { contentSecurityPolicy, contentTypeOf, type WebOptions, webPathOf } from '../../src/server/web.ts';
import { testConfig } from './support.ts';

const base = mkdtempSync(path.join(os.tmpdir(), 'confstate-web-'));
const root = path.join(base, 'dist');
const SERVERS = ['http://127.0.0.1:7480', 'http://127.0.0.1:7481'];
const INDEX = '<!doctype html><title>confstate</title><script type="module" src="/assets/index-abc123.js"></script>';

beforeAll(() => {
  mkdirSync(path.join(root, 'assets'), { recursive: true });
  writeFileSync(path.join(root, 'index.html'), INDEX);
  writeFileSync(path.join(root, 'assets', 'index-abc123.js'), 'console.log("page")');
  writeFileSync(path.join(root, 'assets', 'index-abc123.css'), 'body{}');
  writeFileSync(path.join(root, 'favicon.svg'), '<svg/>');
  writeFileSync(path.join(root, 'data.bin'), Buffer.from([1, 2, 3]));
  writeFileSync(path.join(root, '.build-inputs'), 'hash');
  writeFileSync(path.join(base, 'secret.txt'), 'outside the root');
  symlinkSync(path.join(base, 'secret.txt'), path.join(root, 'link.txt'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

function server(web: Partial<WebOptions> = {}): BuiltServer {
  return buildServer({ node: new MemoryStateNode(), config: testConfig(), web: { root, servers: SERVERS, demo: true, ...web } });
}

describe('web: what the page handler serves', () => {
  it('web: / is index.html, as HTML, revalidated, with a CSP naming both servers and an ETag', async () => {
    const app = server();
    const response = await app.app.inject({ method: 'GET', url: '/?session=standup' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe(INDEX);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain("connect-src 'self' http://127.0.0.1:7480 ws://127.0.0.1:7480 http://127.0.0.1:7481 ws://127.0.0.1:7481");
    expect(response.headers['etag']).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    const again = await app.app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': String(response.headers['etag']) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    await app.close();
  });

  it('web: hashed assets are cached for a year as immutable, with their content types', async () => {
    const app = server();
    const js = await app.app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect([js.statusCode, js.headers['content-type'], js.headers['cache-control'], js.body]).toEqual([200, 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable', 'console.log("page")']);
    const css = await app.app.inject({ method: 'GET', url: '/assets/index-abc123.css' });
    expect([css.statusCode, css.headers['content-type']]).toEqual([200, 'text/css; charset=utf-8']);
    const icon = await app.app.inject({ method: 'GET', url: '/favicon.svg' });
    expect([icon.statusCode, icon.headers['content-type'], icon.headers['cache-control']]).toEqual([200, 'image/svg+xml', 'public, max-age=3600']);
    const bytes = await app.app.inject({ method: 'GET', url: '/data.bin' });
    expect(bytes.headers['content-type']).toBe('application/octet-stream');
    expect(bytes.headers['content-security-policy']).toBeUndefined(); // only the HTML carries the page's policy
    await app.close();
  });

  it('web: HEAD answers the headers without the body', async () => {
    const app = server();
    const response = await app.app.inject({ method: 'HEAD', url: '/assets/index-abc123.js' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(response.body).toBe('');
    await app.close();
  });

  it('web: /config.json names the servers to fail over between and demo mode, revalidated', async () => {
    const app = server({ demo: false });
    const response = await app.app.inject({ method: 'GET', url: '/config.json' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ servers: SERVERS, demo: false, meshParticipantsMax: 6 });
    expect(response.headers['cache-control']).toBe('no-cache');
    const again = await app.app.inject({ method: 'GET', url: '/config.json', headers: { 'if-none-match': String(response.headers['etag']) } });
    expect(again.statusCode).toBe(304);
    await app.close();
  });

  it('web: missing files, directories and dot-files are 404 with the API error body; /v1 paths keep route_not_found', async () => {
    const app = server();
    for (const url of ['/nope.js', '/assets', '/assets/', '/.build-inputs', '/assets/.hidden', '/v1/nope']) {
      const response = await app.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.json(), url).toMatchObject({ error: { code: 'route_not_found' } });
    }
    const post = await app.app.inject({ method: 'POST', url: '/', payload: {} });
    expect(post.statusCode).toBe(404);
    await app.close();
  });

  it('web: a page that is not built answers 503 at / saying how to build it', async () => {
    const app = server({ root: path.join(base, 'not-built') });
    const response = await app.app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(503);
    expect(response.body).toContain('npm run build:web');
    expect((await app.app.inject({ method: 'GET', url: '/assets/x.js' })).statusCode).toBe(404);
    await app.close();
  });

  it('web: without web options the server serves no page (tests and embedders keep the bare API)', async () => {
    const app = buildServer({ node: new MemoryStateNode(), config: testConfig() });
    const response = await app.app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(404);
    await app.close();
  });
});

describe('web: nothing outside the root', () => {
  const attempts = ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/assets%2f..%2f..%2fsecret.txt', '/index.html%00.js', '/%E0%A4%A', '/link.txt'];

  it('web: traversal, encoded traversal, backslashes, NUL, bad escapes and symlinks out of the root are 404 (inject)', async () => {
    const app = server();
    for (const url of attempts) {
      const response = await app.app.inject({ method: 'GET', url });
      expect([400, 404], url).toContain(response.statusCode); // Fastify itself refuses a malformed escape (400)
      expect(response.body, url).not.toContain('outside the root');
    }
    await app.close();
  });

  let listening: StartedServer;
  beforeAll(async () => {
    listening = await startServer({ node: new MemoryStateNode(), config: testConfig(), listen: { host: '127.0.0.1', port: 0 }, web: { root, servers: SERVERS, demo: true } });
  });
  afterAll(() => listening.close());

  /** Sends the request line as written, without a client library normalising the path (and keeps its side open: a half-closed socket may be dropped before the answer). */
  function rawGet(target: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(listening.port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
  }

  it('web: the same requests sent raw over a socket are refused too', async () => {
    for (const target of [...attempts, '/assets/../../secret.txt', '/./secret.txt']) {
      const text = await rawGet(target);
      expect(text, target).toMatch(/^HTTP\/1\.1 (400|404) /);
      expect(text, target).not.toContain('outside the root');
    }
    expect(await rawGet('/assets/index-abc123.js')).toMatch(/^HTTP\/1\.1 200 [\s\S]*console\.log/);
  });
});

describe('web: path and type rules', () => {
  it('web: webPathOf maps / to index.html and keeps every answer inside the root', () => {
    expect(webPathOf('/srv/dist', '/')).toBe('/srv/dist/index.html');
    expect(webPathOf('/srv/dist', '/assets/a-1.js')).toBe('/srv/dist/assets/a-1.js');
    expect(webPathOf('/srv/dist', '/assets/')).toBe('/srv/dist/assets/index.html');
    for (const bad of ['/../x', '/a/../../x', '/%2e%2e/x', '/a//b', '/.env', '/a\\b', '/a%00b', '/%zz', 'relative']) expect(webPathOf('/srv/dist', bad), bad).toBeUndefined();
  });

  it('web: content types by extension, bytes for unknown ones', () => {
    expect(contentTypeOf('a/index.html')).toBe('text/html; charset=utf-8');
    expect(contentTypeOf('a/x.MJS')).toBe('text/javascript; charset=utf-8');
    expect(contentTypeOf('a/x.js.map')).toBe('application/json; charset=utf-8');
    expect(contentTypeOf('a/x.woff2')).toBe('font/woff2');
    expect(contentTypeOf('a/Makefile')).toBe('application/octet-stream');
  });

  it('web: the CSP allows wss for https servers and no inline script', () => {
    const csp = contentSecurityPolicy(['https://conf-a.example.com', 'https://conf-b.example.com:8443']);
    expect(csp).toContain('wss://conf-a.example.com');
    expect(csp).toContain('wss://conf-b.example.com:8443');
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toContain('unsafe-inline');
  });
});
