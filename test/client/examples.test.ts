/** Every `@example` in src/client/*.ts, and every ```ts block of docs/SDK.md,
 *  runs here as written, twice: against a
 *  fresh fake cluster (the protocol as the SDK reads it) and against the real
 *  server (src/server, a primary and a secondary over memory nodes). Each
 *  becomes a module with the SDK's exports, `assert` (counting: an example
 *  must assert at least once), `WebSocket` (ws) and the environment below in
 *  scope, and must leave no connection open. Also checks that every exported
 *  function and class, and every public member of the client and session
 *  classes, has an example. */

import assertModule from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/conference/model.ts';
import { MemoryStateNode } from '../../src/server/state-node.ts';
import { FakeCluster } from '../support/fake-conference-server.ts';
import { mintToken, startReal } from '../support/real-server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_DIR = path.join(ROOT, 'src/client');
const GUIDE = 'docs/SDK.md';
/** Not part of the browser SDK: the Node client of the binary element API, documented in docs/PROTOCOL.md. */
// The Node-only clients of the binary element API are not part of the browser SDK.
const NOT_SDK = new Set(['element-client.ts', 'failover-element-client.ts']);
const SDK_FILES = readdirSync(CLIENT_DIR)
  .filter((name) => name.endsWith('.ts') && !NOT_SDK.has(name))
  .sort();

interface Example {
  readonly file: string;
  /** What the example's relative imports are relative to: src/client for doc comments, the repository for the guide. */
  readonly baseDir: string;
  readonly line: number;
  /** The declaration the doc comment belongs to. */
  readonly owner: string;
  readonly code: string;
}

interface DocBlock {
  readonly text: string[];
  readonly line: number;
  readonly owner: string;
}

/** Doc comments of a file with the first line of code after each. */
function docBlocks(source: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  for (const match of source.matchAll(/\/\*\*([\s\S]*?)\*\/\s*\n([^\n]*)/g)) {
    const text = match[1]!.split('\n').map((line) => line.replace(/^\s*\* ?/, ''));
    const line = source.slice(0, match.index).split('\n').length;
    blocks.push({ text, line, owner: match[2]!.trim() });
  }
  return blocks;
}

/** The code of each `@example` in a doc block (up to the next tag), without its ``` fence. */
function examplesOf(block: DocBlock): string[] {
  const out: string[] = [];
  block.text.forEach((line, index) => {
    if (!line.trim().startsWith('@example')) return;
    const body: string[] = [];
    for (const next of block.text.slice(index + 1)) {
      if (next.trim().startsWith('@')) break;
      body.push(next);
    }
    out.push(body.filter((l) => !l.trim().startsWith('```')).join('\n').trim());
  });
  return out;
}

/** The guide's code blocks whose info string is exactly `ts` (`ts no-run` ones only illustrate). */
function guideBlocks(markdown: string): Example[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => {
    const line = markdown.slice(0, match.index).split('\n').length;
    return { file: GUIDE, baseDir: ROOT, line, owner: match[1]!.split('\n').find((l) => !l.startsWith('import '))!.trim(), code: match[1]!.trim() };
  });
}

const EXAMPLES: Example[] = [
  ...SDK_FILES.flatMap((file) =>
    docBlocks(readFileSync(path.join(CLIENT_DIR, file), 'utf8')).flatMap((block) =>
      examplesOf(block).map((code) => ({ file, baseDir: CLIENT_DIR, line: block.line, owner: block.owner, code })),
    ),
  ),
  ...guideBlocks(readFileSync(path.join(ROOT, GUIDE), 'utf8')),
];

const workDir = mkdtempSync(path.join(fileURLToPath(new URL('.', import.meta.url)), '.examples-run-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Names the example imports itself (those are not put in scope again). */
function importedNames(importLines: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const line of importLines) {
    const braces = /\{([^}]*)\}/.exec(line);
    for (const part of braces?.[1]?.split(',') ?? []) {
      const name = part.trim().split(/\s+as\s+/).at(-1)?.replace(/^type\s+/, '');
      if (name) names.add(name);
    }
    const single = /^import\s+(\w+)\s+from/.exec(line);
    if (single) names.add(single[1]!);
  }
  return names;
}

/** Writes the example as a module: its imports hoisted (relative ones made absolute), the SDK's exports in scope, the body in `run(env)`. */
async function moduleFor(example: Example, index: number): Promise<string> {
  const lines = example.code.split('\n');
  const importLines = lines.filter((line) => line.startsWith('import '));
  const body = lines.filter((line) => !line.startsWith('import '));
  const own = importedNames(importLines);
  const hoisted = importLines.map((line) =>
    line.replace(/from '(\.{1,2}\/[^']+)'/, (_, specifier: string) => `from '${pathToFileURL(path.resolve(example.baseDir, specifier)).href}'`),
  );
  const scope: string[] = [];
  const seen = new Set(own);
  for (const file of SDK_FILES) {
    const names = Object.keys(await import(pathToFileURL(path.join(CLIENT_DIR, file)).href)).filter((name) => !seen.has(name));
    names.forEach((name) => seen.add(name));
    if (names.length > 0) scope.push(`import { ${names.join(', ')} } from '${pathToFileURL(path.join(CLIENT_DIR, file)).href}';`);
  }
  const environment = ['serverUrl', 'secondaryUrl', 'token', 'tokenFor', 'assert', 'WebSocket'].filter((name) => !own.has(name));
  const source = [
    ...hoisted,
    ...scope,
    '// eslint-disable-next-line @typescript-eslint/no-explicit-any',
    `export default async function run(env: any): Promise<void> {`,
    `  const { ${environment.join(', ')} } = env;`,
    ...body.map((line) => `  ${line}`),
    '}',
  ].join('\n');
  const file = path.join(workDir, `${path.basename(example.file).replace(/\.(ts|md)$/, '')}-${index}.example.ts`);
  writeFileSync(file, source);
  return file;
}

/** node:assert/strict whose every check counts. */
function countingAssert(): { assert: typeof assertModule; count: () => number } {
  let calls = 0;
  const wrap =
    <F extends (...args: never[]) => unknown>(f: F) =>
    (...args: Parameters<F>): ReturnType<F> => {
      calls++;
      return f(...args) as ReturnType<F>;
    };
  const assert = Object.assign(wrap(assertModule as (...args: never[]) => unknown), assertModule) as typeof assertModule;
  for (const name of Object.keys(assertModule) as (keyof typeof assertModule)[]) {
    const member = assertModule[name];
    if (typeof member === 'function' && name !== 'AssertionError') (assert as unknown as Record<string, unknown>)[name] = wrap(member as (...args: never[]) => unknown);
  }
  return { assert, count: () => calls };
}

/** What an example runs against: its environment, how many connections are open, and how to stop it. */
interface Backend {
  readonly env: { serverUrl: string; secondaryUrl: string; token: string; tokenFor: (participant: string, role?: Role, session?: string) => string };
  openConnections(): number;
  stop(): Promise<void>;
}

const BACKENDS: Record<'fake' | 'real', () => Promise<Backend>> = {
  fake: async () => {
    const cluster = await FakeCluster.start();
    const tokenFor = (participant: string, role: Role = 'participant', session = 'standup'): string => cluster.conference.issueToken({ participant, session, role });
    return {
      env: { serverUrl: cluster.primary.url, secondaryUrl: cluster.secondary.url, token: tokenFor('ada', 'host'), tokenFor },
      openConnections: () => cluster.primary.node.connectionCount + cluster.secondary.node.connectionCount,
      stop: () => cluster.stop(),
    };
  },
  real: async () => {
    const primary = await startReal(new MemoryStateNode({ nodeId: 1, role: 'primary', epoch: 1, primaryUrl: null }));
    const secondary = await startReal(new MemoryStateNode({ nodeId: 2, role: 'secondary', epoch: 1, primaryUrl: primary.server.url }));
    const tokenFor = (participant: string, role: Role = 'participant', session = 'standup'): string => mintToken(participant, session, role);
    return {
      env: { serverUrl: primary.url, secondaryUrl: secondary.url, token: tokenFor('ada', 'host'), tokenFor },
      openConnections: () => primary.server.gateway.connectionCount + secondary.server.gateway.connectionCount,
      stop: async () => void (await Promise.all([primary.server.close(), secondary.server.close()])),
    };
  },
};

async function untilNoConnections(backend: Backend, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (backend.openConnections() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  return backend.openConnections();
}

describe('sdk examples', () => {
  it('sdk examples: there are examples in every SDK file and in the guide', () => {
    for (const file of [...SDK_FILES, GUIDE]) expect(EXAMPLES.some((e) => e.file === file), file).toBe(true);
    expect(EXAMPLES.filter((e) => e.file === GUIDE).length).toBeGreaterThanOrEqual(5);
  });

  it('sdk examples: every exported function and class has an @example', () => {
    const missing: string[] = [];
    for (const file of SDK_FILES) {
      const source = readFileSync(path.join(CLIENT_DIR, file), 'utf8');
      const documented = new Set(docBlocks(source).filter((b) => examplesOf(b).length > 0).map((b) => b.owner));
      for (const match of source.matchAll(/^export (?:abstract )?(?:class|function) \w+[^\n]*/gm)) {
        if (!documented.has(match[0].trim())) missing.push(`${file}: ${match[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('sdk examples: every public member of ConferenceClient and ConferenceSession has an @example', () => {
    const source = readFileSync(path.join(CLIENT_DIR, 'conference-client.ts'), 'utf8');
    const documented = new Set(docBlocks(source).filter((b) => examplesOf(b).length > 0).map((b) => b.owner));
    const members = [...source.matchAll(/^ {2}((?:get )?[a-z]\w*)(?:<[^>]*>)?\([^\n]*\{$/gm)].map((m) => m[0].trim()).filter((m) => !m.startsWith('constructor('));
    expect(members.length).toBeGreaterThan(30);
    expect(members.filter((member) => !documented.has(member))).toEqual([]);
  });

  const cases = EXAMPLES.flatMap((example, index) =>
    (['fake', 'real'] as const).map((backend) => [`${example.file}:${example.line} ${example.owner.slice(0, 50)}`, backend, example, index] as const),
  );
  it.each(cases)('sdk examples: %s runs and asserts against the %s server', async (_name, backendName, example, index) => {
    const file = await moduleFor(example, index);
    const backend = await BACKENDS[backendName]();
    try {
      const { assert, count } = countingAssert();
      const run = ((await import(pathToFileURL(file).href)) as { default: (env: unknown) => Promise<void> }).default;
      await run({ ...backend.env, assert, WebSocket });
      expect(count(), 'the example asserts nothing').toBeGreaterThan(0);
      expect(await untilNoConnections(backend, 2_000), 'the example leaves connections open').toBe(0);
    } finally {
      await backend.stop();
    }
  });
});
