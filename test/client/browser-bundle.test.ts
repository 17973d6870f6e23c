/** The SDK is for browsers too (DESIGN.md §6): Vite bundles it from
 *  conference-client.ts with nothing from Node or npm inside, and the bundle
 *  works on its own — here run in Node with `ws` passed in as the WebSocket. */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Rollup } from 'vite';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeCluster } from '../support/fake-conference-server.ts';
import type * as Sdk from '../../src/client/conference-client.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let chunk: Rollup.OutputChunk;
const workDir = mkdtempSync(path.join(os.tmpdir(), 'confstate-sdk-bundle-'));

beforeAll(async () => {
  const result = await build({
    configFile: false,
    logLevel: 'silent',
    root: ROOT,
    build: { write: false, minify: false, lib: { entry: 'src/client/conference-client.ts', formats: ['es'], fileName: 'sdk' } },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as Rollup.RollupOutput[];
  chunk = outputs[0]!.output.find((item): item is Rollup.OutputChunk => item.type === 'chunk')!;
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('sdk browser bundle', () => {
  it('browser bundle: Vite bundles the SDK from src/client, src/conference and src/core alone, with no imports left', () => {
    const modules = Object.keys(chunk.modules).map((id) => path.relative(ROOT, id));
    expect(modules.length).toBeGreaterThan(5);
    for (const module of modules) expect(module).toMatch(/^src\/(client|conference|core)\/[\w-]+\.ts$/);
    expect(modules).not.toContain('src/client/element-client.ts');
    expect(chunk.imports).toEqual([]);
    expect(chunk.dynamicImports).toEqual([]);
  });

  it('browser bundle: the code uses no Node globals (process, Buffer, require)', () => {
    const code = chunk.code.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, '');
    expect(code).not.toMatch(/\bprocess\s*\.|\bBuffer\b|\brequire\s*\(|from\s+['"]node:/);
  });

  it('browser bundle: the bundle on its own connects, sends commands and follows a session', async () => {
    const file = path.join(workDir, 'sdk.js');
    writeFileSync(file, chunk.code);
    const sdk = (await import(pathToFileURL(file).href)) as typeof Sdk;
    const cluster = await FakeCluster.start();
    const token = cluster.conference.issueToken({ participant: 'ada', session: 'standup', role: 'host' });
    const client = new sdk.ConferenceClient({ urls: [cluster.primary.url], token, WebSocket });
    try {
      const session = client.session('standup');
      await session.create({ title: 'Bundled', settings: { lobby: false } });
      await session.join('Ada');
      const view = await session.waitFor((v) => v.participants.length === 1);
      expect(view).toMatchObject({ title: 'Bundled', participants: [{ id: 'ada', presence: 'joined', role: 'host' }] });
    } finally {
      client.close();
      await cluster.stop();
    }
  });
});
