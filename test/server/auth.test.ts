/** Authentication: which tokens the verifier accepts (only the configured
 *  algorithms and keys, with our claims, unexpired), the admin credential,
 *  the config checks that keep weak setups from starting, and what REST
 *  answers for each kind of bad credential. */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminCredential, TokenVerifier, actorOf, bearerOf, checkSessionAccess } from '../../src/server/auth.ts';
import { DEDUPE_SLOTS_MAX, ServerConfigError, serverConfig } from '../../src/server/config.ts';
import { ADMIN, ADMIN_HEADERS, SECRET, bearer, createSession, testServer, token } from './support.ts';

const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowS = (): number => Math.floor(Date.now() / 1000);
const hsVerifier = (): TokenVerifier => new TokenVerifier(serverConfig({ auth: { hs256Secret: SECRET } }).auth);

async function signed(payload: Record<string, unknown>, secret = SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
}

describe('auth: token verification', () => {
  it('auth: an HS256 token with sub, session, role and exp gives a participant principal and actor', async () => {
    const check = await hsVerifier().verify(await token({ sub: 'alice', session: 's1', role: 'moderator' }));
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.principal).toMatchObject({ participant: 'alice', session: 's1', role: 'moderator', service: false });
    expect(actorOf(check.principal)).toEqual({ kind: 'participant', id: 'alice', tokenRole: 'moderator' });
  });

  it('auth: a token with session "*" is a service token, valid in every session', async () => {
    const check = await hsVerifier().verify(await token({ sub: 'sfu-1', session: '*', role: 'host' }));
    if (!check.ok) throw new Error(check.error.message);
    expect(actorOf(check.principal)).toEqual({ kind: 'service', id: 'sfu-1', tokenRole: 'host' });
    expect(checkSessionAccess(check.principal, 'any-session')).toBeUndefined();
  });

  it('auth: a token for one session gives nothing in another', async () => {
    const check = await hsVerifier().verify(await token({ sub: 'alice', session: 's1' }));
    if (!check.ok) throw new Error(check.error.message);
    expect(checkSessionAccess(check.principal, 's1')).toBeUndefined();
    expect(checkSessionAccess(check.principal, 's2')?.code).toBe('wrong_session');
  });

  it('auth: an expired token is refused token_expired', async () => {
    const check = await hsVerifier().verify(await token({ sub: 'alice', session: 's1', expiresInS: -60 }));
    expect(check).toMatchObject({ ok: false, error: { code: 'token_expired' } });
  });

  it('auth: a token expired by less than the clock tolerance still passes; by more it does not', async () => {
    const verifier = new TokenVerifier(serverConfig({ auth: { hs256Secret: SECRET, clockToleranceS: 30 } }).auth);
    expect((await verifier.verify(await token({ sub: 'a', session: 's1', expiresInS: -10 }))).ok).toBe(true);
    expect((await verifier.verify(await token({ sub: 'a', session: 's1', expiresInS: -60 }))).ok).toBe(false);
  });

  it('auth: a token signed with another secret, or tampered with, is refused', async () => {
    const verifier = hsVerifier();
    const forged = await token({ sub: 'alice', session: 's1' }, 'another-secret-that-is-long-enough-0123456789');
    expect(await verifier.verify(forged)).toMatchObject({ ok: false, error: { code: 'unauthenticated', message: expect.stringContaining('signature') } });
    const [header, , signature] = (await token({ sub: 'alice', session: 's1', role: 'participant' })).split('.');
    const promoted = `${header}.${encode({ sub: 'alice', session: 's1', role: 'host', exp: nowS() + 3600 })}.${signature}`;
    expect(await verifier.verify(promoted)).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
  });

  it('auth: alg none is refused even with valid claims', async () => {
    const unsigned = `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: 'alice', session: 's1', role: 'host', exp: nowS() + 3600 })}.`;
    expect(await hsVerifier().verify(unsigned)).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
  });

  it('auth: an algorithm the config did not name is refused (HS512 with the right secret; EdDSA with a valid key)', async () => {
    const verifier = hsVerifier();
    const hs512 = await signed({ sub: 'alice', session: 's1', role: 'host', exp: nowS() + 3600 }, SECRET, 'HS512');
    expect(await verifier.verify(hs512)).toMatchObject({ ok: false, error: { code: 'unauthenticated', message: expect.stringContaining('algorithm') } });
    const { privateKey } = await generateKeyPair('EdDSA');
    const eddsa = await new SignJWT({ sub: 'alice', session: 's1', role: 'host' }).setProtectedHeader({ alg: 'EdDSA' }).setExpirationTime('1h').sign(privateKey);
    expect(await verifier.verify(eddsa)).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
  });

  it('auth: missing or malformed claims are refused, each named', async () => {
    const verifier = hsVerifier();
    const exp = nowS() + 3600;
    const cases: [Record<string, unknown>, string][] = [
      [{ session: 's1', role: 'host', exp }, 'sub'],
      [{ sub: 'alice', role: 'host', exp }, 'session'],
      [{ sub: 'alice', session: 's1', exp }, 'role'],
      [{ sub: 'alice', session: 's1', role: 'host' }, 'exp'],
      [{ sub: 'alice', session: 's1', role: 'king', exp }, 'role'],
      [{ sub: 'al ice', session: 's1', role: 'host', exp }, 'sub'],
      [{ sub: 'alice', session: 's/1', role: 'host', exp }, 'session'],
    ];
    for (const [payload, claim] of cases) {
      const check = await verifier.verify(await signed(payload));
      expect(check, JSON.stringify(payload)).toMatchObject({ ok: false, error: { code: 'unauthenticated', message: expect.stringContaining(claim) } });
    }
    expect(await verifier.verify('not-a-jwt')).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    expect(await verifier.verify('')).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
  });

  it('auth: EdDSA with a PEM public key verifies its own tokens and refuses HS256 ones signed with the PEM text (no algorithm confusion)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA');
    const pem = await exportSPKI(publicKey);
    const verifier = new TokenVerifier(serverConfig({ auth: { publicKey: { pem, algorithm: 'EdDSA' } } }).auth);
    const good = await new SignJWT({ sub: 'alice', session: 's1', role: 'host' }).setProtectedHeader({ alg: 'EdDSA' }).setExpirationTime('1h').sign(privateKey);
    expect((await verifier.verify(good)).ok).toBe(true);
    const confused = await signed({ sub: 'alice', session: 's1', role: 'host', exp: nowS() + 3600 }, pem, 'HS256');
    expect((await verifier.verify(confused)).ok).toBe(false);
  });

  it('auth: RS256 keys from a JWKS file are picked by kid; an unknown kid is refused', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const dir = mkdtempSync(join(tmpdir(), 'confstate-jwks-'));
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    const verifier = new TokenVerifier(serverConfig({ auth: { jwksFile: file, jwksAlgorithms: ['RS256'] } }).auth);
    const sign = (kid: string) => new SignJWT({ sub: 'alice', session: 's1', role: 'viewer' }).setProtectedHeader({ alg: 'RS256', kid }).setExpirationTime('1h').sign(privateKey);
    expect((await verifier.verify(await sign('k1'))).ok).toBe(true);
    expect(await verifier.verify(await sign('k2'))).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
  });

  it('auth: bearerOf takes the token of a Bearer header only', () => {
    expect(bearerOf('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerOf('bearer xyz')).toBe('xyz');
    expect(bearerOf('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerOf(undefined)).toBeUndefined();
  });

  it('auth: the admin credential matches only itself, and nothing when unset', () => {
    const admin = new AdminCredential(ADMIN);
    expect(admin.matches(ADMIN)).toBe(true);
    expect(admin.matches(`${ADMIN}x`)).toBe(false);
    expect(admin.matches('')).toBe(false);
    expect(new AdminCredential(undefined).matches('')).toBe(false);
  });
});

describe('auth: configuration', () => {
  it('auth: a secret shorter than 32 bytes, no key at all, or an admin secret equal to the token secret is refused at start', () => {
    expect(() => serverConfig({ auth: { hs256Secret: 'short' } })).toThrow(ServerConfigError);
    expect(() => serverConfig({ auth: { hs256Secret: SECRET, adminSecret: 'short' } })).toThrow(/adminSecret/);
    expect(() => serverConfig({ auth: {} })).toThrow(/at least one of/);
    expect(() => serverConfig({ auth: { hs256Secret: SECRET, adminSecret: SECRET } })).toThrow(/must differ/);
  });

  it('auth: a limit of zero, a signal limit above the message limit or an idempotency ring past its maximum is refused', () => {
    expect(() => serverConfig({ auth: { hs256Secret: SECRET }, limits: { wsConnectionsMax: 0 } })).toThrow(/wsConnectionsMax/);
    expect(() => serverConfig({ auth: { hs256Secret: SECRET }, limits: { signalPayloadBytesMax: 200_000, wsMessageBytesMax: 100_000 } })).toThrow(/signalPayloadBytesMax/);
    expect(() => serverConfig({ auth: { hs256Secret: SECRET }, limits: { dedupeSlots: DEDUPE_SLOTS_MAX + 1 } })).toThrow(/dedupeSlots \(4194305\) cannot exceed 4194304/);
    expect(serverConfig({ auth: { hs256Secret: SECRET }, limits: { dedupeSlots: DEDUPE_SLOTS_MAX } }).limits.dedupeSlots).toBe(DEDUPE_SLOTS_MAX);
  });
});

describe('auth: over REST', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => close?.());

  it('auth: REST answers 401 without a token, for a forged or expired one, and 403 for a token of another session', async () => {
    const server = testServer();
    close = server.close;
    await createSession(server, 's1');
    const get = (headers: Record<string, string>) => server.app.inject({ method: 'GET', url: '/v1/sessions/s1', headers });
    expect((await get({})).json()).toMatchObject({ error: { code: 'unauthenticated' } });
    expect((await get({})).statusCode).toBe(401);
    expect((await get(bearer(await token({ sub: 'a', session: 's1' }, 'x'.repeat(40))))).statusCode).toBe(401);
    const expired = await get(bearer(await token({ sub: 'a', session: 's1', expiresInS: -600 })));
    expect([expired.statusCode, expired.json().error.code]).toEqual([401, 'token_expired']);
    const other = await get(bearer(await token({ sub: 'a', session: 's2' })));
    expect([other.statusCode, other.json().error.code]).toEqual([403, 'wrong_session']);
    expect((await get(bearer(await token({ sub: 'a', session: 's1' })))).statusCode).toBe(200);
  });

  it('auth: admin routes need the admin credential: a session token gets 403, nothing gets 401', async () => {
    const server = testServer();
    close = server.close;
    const list = (headers: Record<string, string>) => server.app.inject({ method: 'GET', url: '/v1/admin/sessions', headers });
    expect((await list(ADMIN_HEADERS)).statusCode).toBe(200);
    expect((await list(bearer(await token({ sub: 'svc', session: '*', role: 'host' })))).json().error.code).toBe('admin_required');
    expect((await list(bearer('not-the-admin-secret-but-as-long-as-it-is'))).statusCode).toBe(403);
    expect((await list({})).statusCode).toBe(401);
  });
});
