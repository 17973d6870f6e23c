/** Builds the conference page into web/dist with Vite, only when its inputs
 *  changed since the last build: `npm start` runs it first (prestart), the e2e
 *  suite calls it, `npm run build:web` forces it. Node only; never served. */

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'vite';
import { hashInputs } from '../scripts/inputs-hash.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WEB = path.join(ROOT, 'web');
export const WEB_DIST = path.join(WEB, 'dist');
/** Holds the hash of the inputs the build in dist was made from (a dot-file: web.ts never serves it). */
const STAMP = '.build-inputs';
/** What the page is made of: its own files, the SDK and domain it bundles, and the locked dependency versions. */
const INPUTS = ['web', 'src/client', 'src/conference', 'src/core', 'package-lock.json'];
const SKIPPED = new Set(['dist', 'node_modules']);

/** A SHA-256 over the path and bytes of every input file, in a fixed order. */
export function inputsHash(): string {
  return hashInputs(ROOT, INPUTS, (name) => SKIPPED.has(name) || name.startsWith('dist.'));
}

/** True when web/dist holds a build of exactly the current inputs. */
export function isFresh(hash: string = inputsHash()): boolean {
  try {
    return readFileSync(path.join(WEB_DIST, STAMP), 'utf8') === hash && existsSync(path.join(WEB_DIST, 'index.html'));
  } catch {
    return false;
  }
}

/**
 * Builds web/dist unless it is fresh (or `force`). Vite writes into a
 * directory of its own, which then replaces dist in two renames, so a
 * running server serves the old page or the new one, never half of either.
 */
export async function buildWeb(options: { readonly force?: boolean } = {}): Promise<'built' | 'fresh'> {
  const hash = inputsHash();
  if (options.force !== true && isFresh(hash)) return 'fresh';
  const outDir = `${WEB_DIST}.${process.pid}.tmp`;
  const oldDir = `${WEB_DIST}.${process.pid}.old`;
  rmSync(outDir, { recursive: true, force: true });
  try {
    await build({ configFile: path.join(WEB, 'vite.config.ts'), build: { outDir, emptyOutDir: true } });
    writeFileSync(path.join(outDir, STAMP), hash);
    if (existsSync(WEB_DIST)) renameSync(WEB_DIST, oldDir);
    renameSync(outDir, WEB_DIST);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
    rmSync(oldDir, { recursive: true, force: true });
  }
  return 'built';
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const force = !process.argv.includes('--if-stale');
  const outcome = await buildWeb({ force });
  process.stdout.write(outcome === 'built' ? `built the conference page into ${path.relative(process.cwd(), WEB_DIST) || WEB_DIST}\n` : 'the conference page is up to date\n');
}
