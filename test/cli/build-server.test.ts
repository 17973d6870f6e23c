/** The server bundle (scripts/build-server.ts, decision 0025): what the test
 *  helpers start is built from the current sources, and a build is one whole
 *  file, stamped with its inputs, that runs the CLI. */

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_BUNDLE, builtHash, buildServer, ensureServerBuild, serverInputsHash } from '../../scripts/build-server.ts';

/** A build of its own next to the real one (so it resolves node_modules the same way), removed afterwards. */
const OWN = path.join(path.dirname(SERVER_BUNDLE), `test-${process.pid}.mjs`);

describe('build: the server bundle', () => {
  afterAll(() => rmSync(OWN, { force: true }));

  it('build: the bundle the helpers start names the hash of the current sources', () => {
    expect(ensureServerBuild()).toBe(SERVER_BUNDLE);
    expect(builtHash()).toBe(serverInputsHash());
  });

  it('build: a build is stamped with its inputs, leaves no temporary file, and runs the CLI', () => {
    const stamp = 'f'.repeat(64);
    expect(buildServer(stamp, OWN)).toBe(OWN);
    expect(builtHash(OWN)).toBe(stamp);
    expect(existsSync(OWN)).toBe(true);
    expect(readdirSync(path.dirname(OWN)).filter((name) => name.startsWith(`${path.basename(OWN)}.`))).toEqual([]);
    const help = spawnSync(process.execPath, ['--enable-source-maps', OWN, '--help'], { encoding: 'utf8', timeout: 30_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: confstate');
    // A bad flag is refused by the bundled config code, exit 2, naming the flag.
    const bad = spawnSync(process.execPath, ['--enable-source-maps', OWN, 'primary', '--no-such-flag'], { encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--no-such-flag');
  });

  it('build: a missing or foreign file has no stamp', () => {
    expect(builtHash(path.join(path.dirname(SERVER_BUNDLE), 'no-such-bundle.mjs'))).toBeUndefined();
    expect(builtHash(path.resolve('package.json'))).toBeUndefined();
  });
});
