/** Bundles the server — src/cli/main.ts and all it imports — into one ES
 *  module, dist/cli/confstate.mjs, with esbuild: what `npm start`, production
 *  and every test or bench that starts a node run (decision 0025). Rebuilds only
 *  when its inputs changed: `npm start` runs it first (prestart), the process
 *  helpers of the tests and benches call `ensureServerBuild`, `npm run build`
 *  forces it. Node only; dependencies stay in node_modules (not bundled). */

import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import { hashInputs } from './inputs-hash.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/**
 * The bundle. Two levels below the root, like src/cli/main.ts, so the paths
 * main.ts resolves from its own URL (the built page in web/dist) hold for both.
 */
export const SERVER_BUNDLE = path.join(ROOT, 'dist', 'cli', 'confstate.mjs');
/** What the bundle is made of: the sources, the locked dependency versions, and this script. */
const INPUTS = ['src', 'package-lock.json', 'tsconfig.json', 'scripts/build-server.ts', 'scripts/inputs-hash.ts'];
/** The bundle's first line names the hash of the inputs it was built from. */
export const STAMP_PREFIX = '// confstate build of inputs ';

/** A SHA-256 over the path and bytes of every input file, in a fixed order. */
export function serverInputsHash(): string {
  return hashInputs(ROOT, INPUTS);
}

/** The hash the bundle at `file` was built from, or undefined when there is none. */
export function builtHash(file: string = SERVER_BUNDLE): string | undefined {
  try {
    const head = readFileSync(file, 'utf8').slice(0, 200);
    return head.startsWith(STAMP_PREFIX) ? head.slice(STAMP_PREFIX.length, head.indexOf('\n')) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Builds the bundle (with an inline source map, so a logged stack names the
 * .ts lines under `node --enable-source-maps`). Written to a file of its own
 * and renamed over the bundle: processes that build at the same time (test
 * files in parallel) never see half a file, and all write the same bytes.
 */
export function buildServer(hash: string = serverInputsHash(), outfile: string = SERVER_BUNDLE): string {
  mkdirSync(path.dirname(outfile), { recursive: true });
  const temporary = `${outfile}.${process.pid}.${Date.now()}.tmp`;
  buildSync({
    entryPoints: [path.join(ROOT, 'src', 'cli', 'main.ts')],
    outfile: temporary,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    banner: { js: `${STAMP_PREFIX}${hash}` },
    logLevel: 'warning',
  });
  renameSync(temporary, outfile);
  return outfile;
}

/** The bundle's path, built first if it is missing or older than its inputs. */
export function ensureServerBuild(): string {
  const hash = serverInputsHash();
  return builtHash() === hash ? SERVER_BUNDLE : buildServer(hash);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  if (process.argv.includes('--if-stale') && builtHash() === serverInputsHash()) {
    process.stdout.write(`server bundle is up to date: ${path.relative(process.cwd(), SERVER_BUNDLE)}\n`);
  } else {
    buildServer();
    process.stdout.write(`built ${path.relative(process.cwd(), SERVER_BUNDLE)} in ${Date.now() - started} ms\n`);
  }
}
