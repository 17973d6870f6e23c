/** The conference API on a real pair of processes: SDK clients with both
 *  servers' URLs keep their session through kill -9 of the primary, a command
 *  retried across the failover is answered duplicate by the new primary, and
 *  the old primary, restarted with its first command line, rejoins as
 *  secondary and checks in sync. */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ConferenceClient } from '../../src/client/conference-client.ts';
import { type NodeProcess, freePort, runCli, spawnNode, tempDir, writeSecret } from '../support/processes.ts';

const JWT_SECRET = 'conference-process-test-jwt-secret-0123456789';


async function token(sub: string, session: string, role: string): Promise<string> {
  return new SignJWT({ session, role }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
}

async function until(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const nodes: NodeProcess[] = [];
const clients: ConferenceClient[] = [];
afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(nodes.map((n) => n.kill()));
});

describe('conference API over a real pair', () => {
  it('process: SDK clients keep their session through kill -9 of the primary; a retried command is applied once; the old primary rejoins', async () => {
    const dir = tempDir();
    const { path: secretFile } = writeSecret(dir);
    const jwtFile = join(dir, 'jwt');
    writeFileSync(jwtFile, JWT_SECRET);
    const [a, b, apiA, apiB] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const urlA = `http://127.0.0.1:${apiA}`;
    const urlB = `http://127.0.0.1:${apiB}`;
    const common = ['--secret-file', secretFile, '--jwt-secret-file', jwtFile, '--min-replicas', '0', '--sync-check-interval-ms', '0'];
    const primaryArgs = [...common, '--listen', `127.0.0.1:${a}`, '--peer', `127.0.0.1:${b}`, '--api-listen', `127.0.0.1:${apiA}`, '--peer-url', urlB];
    const secondaryArgs = [...common, '--listen', `127.0.0.1:${b}`, '--primary', `127.0.0.1:${a}`, '--api-listen', `127.0.0.1:${apiB}`, '--peer-url', urlA];
    const primary = spawnNode('primary', primaryArgs);
    nodes.push(primary);
    await primary.waitFor('conference API listening');
    const secondary = spawnNode('secondary', secondaryArgs);
    nodes.push(secondary);
    await secondary.waitFor('in sync with the primary');

    const service = await token('backend', '*', 'host');
    const created = await fetch(`${urlA}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'standup', settings: { lobby: false } }) });
    expect(created.status).toBe(201);

    const ada = new ConferenceClient({ urls: [urlA, urlB], token: await token('ada', 'standup', 'host'), WebSocket: WebSocket as never });
    const bo = new ConferenceClient({ urls: [urlB, urlA], token: await token('bo', 'standup', 'participant'), WebSocket: WebSocket as never });
    clients.push(ada, bo);
    const adaSession = ada.session('standup');
    const boSession = bo.session('standup');
    await adaSession.join('Ada');
    await boSession.join('Bo');
    await boSession.raiseHand();
    await adaSession.mute('bo');
    await adaSession.waitFor((v) => v.hands.length === 1 && v.participants.find((p) => p.id === 'bo')?.tracks.audio?.muted === true);

    // A command with a client id applied before the failover.
    const boToken = await token('bo', 'standup', 'participant');
    const send = (url: string): Promise<Response> =>
      fetch(`${url}/v1/sessions/standup/commands`, { method: 'POST', headers: { authorization: `Bearer ${boToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'publish-video-1', command: { type: 'publish_track', kind: 'video' } }) });
    expect(await (await send(urlA)).json()).toMatchObject({ ok: true, duplicate: false });

    const killedAtMs = Date.now();
    primary.child.kill('SIGKILL');
    await secondary.waitFor('promoted to primary', 5_000);
    // Both clients end on the promoted node with the state intact, and can write.
    await until(() => ada.status.state === 'connected' && ada.status.url?.includes(`:${apiB}/`) === true && adaSession.state === 'live', 10_000, () => JSON.stringify(ada.status));
    const after = adaSession.view!;
    expect(after.hands).toEqual(['bo']);
    expect(after.participants.find((p) => p.id === 'bo')?.tracks.audio?.muted).toBe(true);
    expect(after.participants.find((p) => p.id === 'bo')?.tracks.video?.published).toBe(true);
    await adaSession.lowerHand('bo');
    await boSession.waitFor((v) => v.hands.length === 0, 10_000);
    expect(Date.now() - killedAtMs).toBeLessThan(10_000);

    // The retry of the command sent before the kill: the new primary knows it was done.
    expect(await (await send(urlB)).json()).toMatchObject({ ok: true, duplicate: true });

    // The old primary, restarted as it was first started, learns the newer epoch and rejoins.
    const restarted = spawnNode('primary', primaryArgs);
    nodes.push(restarted);
    await restarted.waitFor('demoted to secondary', 15_000);
    await restarted.waitFor('in sync with the primary', 15_000);
    const check = runCli(['check', '--primary', `127.0.0.1:${b}`, '--secret-file', secretFile]);
    expect(check.stdout).toContain('in-sync');
    expect(check.code).toBe(0);
    // Readiness: the new primary is ready; the rejoined node answers not ready (it is the secondary).
    expect((await fetch(`${urlB}/readyz`)).status).toBe(200);
    expect((await fetch(`${urlA}/readyz`)).status).toBe(503);
  });
});
