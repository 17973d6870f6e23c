/** Process-level tests: a real primary and secondary on loopback, driven by
 *  the element API. Each test names the guarantee it checks. */

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ElementClient } from '../../src/client/element-client.ts';
import { SeededRandom } from '../../src/core/random.ts';
import { encodeFrame } from '../../src/replication/messages.ts';
import { type Cluster, makeTlsFiles, runCli, startCluster, startPrimary, startSecondary, stopCluster, tempDir, writeSecret } from '../support/processes.ts';

let cluster: Cluster | undefined;
afterEach(async () => {
  await stopCluster(cluster);
  cluster = undefined;
});

function connect(c: Cluster, port = c.primaryPort): Promise<ElementClient> {
  return ElementClient.connect({ host: '127.0.0.1', port, secret: c.secret });
}

function check(c: Cluster, ...extra: string[]): ReturnType<typeof runCli> {
  return runCli(['check', '--primary', `127.0.0.1:${c.primaryPort}`, '--secret-file', c.secretFile, ...extra]);
}

describe('replication between processes', () => {
  it('process: after every acknowledgement the secondary already holds the element at that ts (100,000 updates, 8 writers, overlapping keys)', async () => {
    cluster = await startCluster();
    const writers = await Promise.all(Array.from({ length: 8 }, () => connect(cluster!)));
    const reader = await connect(cluster, cluster.secondaryPort);
    const random = new SeededRandom(0x5eed);
    const total = 100_000;
    let issued = 0;
    let applied = 0;
    const newest = new Map<string, { ts: number; value: number }>();
    const verify: Promise<void>[] = [];
    await Promise.all(
      writers.map(async (writer) => {
        const inFlight = new Set<Promise<void>>();
        while (issued < total) {
          const n = issued++;
          const key = `s/load-${random.below(200)}/p/${random.below(10)}`;
          const done = writer.update(key, { n, pad: 'x'.repeat(64) }).then((result) => {
            expect(['applied', 'stale']).toContain(result.code);
            if (result.code !== 'applied') return;
            applied++;
            const held = newest.get(key);
            if (held === undefined || held.ts < result.ts) newest.set(key, { ts: result.ts, value: n });
            // Asked after the acknowledgement: the secondary must hold this ts or a newer one.
            if (n % 4 === 0) verify.push(reader.get(key).then((seen) => expect(seen.ts).toBeGreaterThanOrEqual(result.ts)));
          });
          inFlight.add(done);
          void done.finally(() => inFlight.delete(done));
          if (inFlight.size >= 32) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
      }),
    );
    await Promise.all(verify);
    expect(applied).toBe(total);
    // Every key holds its newest acknowledged value on both stores.
    for (const [key, { ts, value }] of newest) {
      const [p, s] = await Promise.all([writers[0]!.get(key), reader.get(key)]);
      expect(p).toMatchObject({ ts, value: { n: value } });
      expect(s).toMatchObject({ ts, value: { n: value } });
    }
    for (const client of [...writers, reader]) client.close();
    const result = check(cluster);
    expect(result.stdout).toContain('in-sync');
    expect(result.code).toBe(0);
  }, 180_000);

  it('process: two writers with explicit out-of-order timestamps on one element: timestamp order on both stores, older ones stale', async () => {
    cluster = await startCluster();
    const [a, b] = await Promise.all([connect(cluster), connect(cluster)]);
    const key = 's/order/meta';
    // Timestamps from two "gateways" (node ids 3 and 4), interleaved and out of order.
    const base = (Date.now() - 1_735_689_600_000) * 4096;
    const plan = [
      { client: a, ts: base + 50 * 16 + 3 },
      { client: b, ts: base + 20 * 16 + 4 },
      { client: a, ts: base + 90 * 16 + 3 },
      { client: b, ts: base + 70 * 16 + 4 },
      { client: b, ts: base + 10 * 16 + 4 },
    ];
    const answers = await Promise.all(plan.map(({ client, ts }) => client!.update(key, { ts }, { ts })));
    const appliedTs = answers.flatMap((answer, i) => (answer.code === 'applied' ? [plan[i]!.ts] : []));
    for (const [i, answer] of answers.entries()) {
      if (answer.code === 'stale') expect(answer.ts).toBeGreaterThan(plan[i]!.ts);
      else expect(answer).toMatchObject({ code: 'applied', ts: plan[i]!.ts });
    }
    // The highest timestamp always wins, whatever the arrival order.
    expect(appliedTs).toContain(base + 90 * 16 + 3);
    const reader = await connect(cluster, cluster.secondaryPort);
    for (const store of [a!, reader]) expect(await store.get(key)).toMatchObject({ ts: base + 90 * 16 + 3, value: { ts: base + 90 * 16 + 3 } });
    for (const client of [a!, b!, reader]) client.close();
  }, 60_000);

  it('process: a secondary killed mid-stream and restarted empty catches up while writes continue; check reports in-sync', async () => {
    cluster = await startCluster();
    const writer = await connect(cluster);
    let stop = false;
    let acknowledged = 0;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        const result = await writer.update(`s/kill-${i % 500}/p/${i % 7}`, { i });
        if (result.code === 'applied') acknowledged++;
        else expect(result.code).toBe('unavailable'); // while no secondary is attached
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await cluster.secondary!.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const restarted = await startSecondary(cluster.secretFile, cluster.primaryPort);
    cluster.secondary = restarted.node;
    cluster.secondaryPort = restarted.port;
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop = true;
    await load;
    expect(acknowledged).toBeGreaterThan(0);
    writer.close();
    const result = check(cluster);
    expect(result.stdout).toContain('in-sync');
    expect(result.code).toBe(0);
  }, 60_000);

  it('process: an element changed on the secondary alone is named by check (exit 1); repair makes both equal (exit 0)', async () => {
    cluster = await startCluster({ secondaryArgs: ['--test-hooks'] });
    const writer = await connect(cluster);
    for (let i = 0; i < 200; i++) await writer.update(`s/c/p/${i}`, { i });
    const current = await writer.get('s/c/p/42');
    const tamper = await connect(cluster, cluster.secondaryPort);
    expect(await tamper.testCorrupt('s/c/p/42', current.ts + 16, 'tampered')).toMatchObject({ code: 'applied' });
    const report = check(cluster);
    expect(report.code).toBe(1);
    expect(report.stdout).toMatch(/out-of-sync: 1 differing keys/);
    expect(report.stdout).toContain('s/c/p/42');
    expect(report.stdout.split('\n').filter((l) => l.startsWith('  s/'))).toHaveLength(1);
    expect(check(cluster, '--repair').code).toBe(1);
    const after = check(cluster);
    expect(after.stdout).toContain('in-sync');
    expect(after.code).toBe(0);
    expect(await writer.get('s/c/p/42')).toMatchObject({ ts: current.ts + 16, value: 'tampered' });
    writer.close();
    tamper.close();
  }, 60_000);

  it('process: wrong secret, no authentication, garbage and a 2 GiB length prefix are refused; the process lives and nothing changes', async () => {
    cluster = await startCluster();
    const writer = await connect(cluster);
    await writer.update('s/safe/meta', { v: 1 });
    const before = await writer.get('s/safe/meta');
    await expect(ElementClient.connect({ host: '127.0.0.1', port: cluster.primaryPort, secret: new TextEncoder().encode('the wrong secret, long enough to pass 32 b') })).rejects.toThrow(/auth_failed|closed/);
    const raw = async (bytes: Uint8Array[]): Promise<void> => {
      const socket = net.connect({ host: '127.0.0.1', port: cluster!.primaryPort });
      await new Promise((resolve) => socket.once('connect', resolve));
      for (const chunk of bytes) socket.write(chunk);
      await new Promise<void>((resolve) => {
        socket.on('close', () => resolve());
        socket.on('error', () => undefined);
        setTimeout(() => (socket.destroy(), resolve()), 2000);
      });
    };
    // An update without any handshake, garbage, and a 2 GiB frame header.
    await raw([encodeFrame({ type: 'update', requestId: 1, key: 's/safe/meta', ts: 0, deleted: false, value: 'evil' })]);
    await raw([new Uint8Array(64).fill(0x41)]);
    await raw([new Uint8Array([0x80, 0, 0, 0, 1, 2, 3])]);
    expect(cluster.primary.alive).toBe(true);
    expect(await writer.get('s/safe/meta')).toEqual(before);
    expect((await writer.update('s/safe/meta', { v: 2 })).code).toBe('applied');
    const refusals = cluster.primary.lines.filter((l) => /refused a peer|bad frame|malformed message/.test(l.msg));
    expect(refusals.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(cluster.primary.lines)).not.toContain('test-secret-'); // the secret is never logged
    writer.close();
  }, 60_000);

  it('process: with mutual TLS, the pair replicates; plain TCP to the TLS port is refused and the process lives', async () => {
    const dir = tempDir();
    const files = makeTlsFiles(dir);
    const { path: secretFile, secret } = writeSecret(dir);
    const tlsArgs = ['--tls-cert', files.certPath, '--tls-key', files.keyPath, '--tls-ca', files.caPath];
    const primary = await startPrimary(secretFile, tlsArgs);
    const secondary = await startSecondary(secretFile, primary.port, tlsArgs);
    cluster = { dir, secretFile, secret, primary: primary.node, secondary: secondary.node, primaryPort: primary.port, secondaryPort: secondary.port };
    const client = await ElementClient.connect({ host: '127.0.0.1', port: primary.port, secret, tls: files });
    expect((await client.update('s/tls/meta', { ok: true })).code).toBe('applied');
    await expect(ElementClient.connect({ host: '127.0.0.1', port: primary.port, secret, connectTimeoutMs: 2000 })).rejects.toThrow();
    expect(primary.node.alive).toBe(true);
    expect((await client.update('s/tls/meta', { ok: 2 })).code).toBe('applied');
    client.close();
    const result = runCli(['check', '--primary', `127.0.0.1:${primary.port}`, '--secret-file', secretFile, ...tlsArgs]);
    expect(result.stdout).toContain('in-sync');
  }, 60_000);

  it('process: tombstones older than the retention are collected on both nodes, a late older write stays stale, and check says in-sync', async () => {
    const args = ['--tombstone-retention-ms', '1000', '--tombstone-collect-interval-ms', '200', '--max-clock-skew-ms', '1000'];
    cluster = await startCluster({ primaryArgs: args, secondaryArgs: args });
    const writer = await connect(cluster);
    const reader = await connect(cluster, cluster.secondaryPort);
    const keys = Array.from({ length: 40 }, (_, i) => `s/gone-${i % 4}/p/${i}`);
    for (const key of keys) expect((await writer.update(key, { key })).code).toBe('applied');
    const deletedTs = new Map<string, number>();
    for (const key of keys.slice(0, 20)) {
      const result = await writer.update(key, null, { deleted: true });
      expect(result.code).toBe('applied');
      deletedTs.set(key, result.ts);
    }
    // Held as tombstones on both at first…
    expect(await reader.get(keys[0]!)).toMatchObject({ found: true, deleted: true, ts: deletedTs.get(keys[0]!) });
    // …collected on both once older than the retention.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const [p, s] = await Promise.all([writer.get(keys[19]!), reader.get(keys[19]!)]);
      if (!p.found && !s.found) break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const key of keys.slice(0, 20)) {
      expect(await writer.get(key)).toMatchObject({ found: false });
      expect(await reader.get(key)).toMatchObject({ found: false });
    }
    for (const key of keys.slice(20)) expect(await reader.get(key)).toMatchObject({ found: true, deleted: false, value: { key } });
    // A late write older than the collected delete cannot bring the key back; a fresh one can.
    const late = await writer.update(keys[0]!, { late: true }, { ts: deletedTs.get(keys[0]!)! - 16 + 1 });
    expect(late.code).toBe('stale');
    expect((await writer.update(keys[0]!, { back: true })).code).toBe('applied');
    expect(await reader.get(keys[0]!)).toMatchObject({ found: true, value: { back: true } });
    writer.close();
    reader.close();
    const result = check(cluster);
    expect(result.stdout).toContain('in-sync');
    expect(result.code).toBe(0);
  }, 60_000);
});
