/** The hash of a build's inputs, which the page build (web/build.ts) and the
 *  server bundle (scripts/build-server.ts) stamp their output with, so each
 *  rebuilds only when an input changed. Node only; never shipped. */

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * A SHA-256 over the relative path and bytes of every file under `inputs`
 * (files or directories, relative to `root`), in a fixed order; a missing
 * input counts as empty, and entries `skip` names are left out with all
 * below them.
 */
export function hashInputs(root: string, inputs: readonly string[], skip: (name: string) => boolean = () => false): string {
  const hash = createHash('sha256');
  const visit = (relative: string): void => {
    const absolute = path.join(root, relative);
    if (!existsSync(absolute)) return;
    if (!statSync(absolute).isDirectory()) {
      hash.update(`${relative}\0`).update(readFileSync(absolute)).update('\0');
      return;
    }
    for (const name of readdirSync(absolute).sort()) if (!skip(name)) visit(path.join(relative, name));
  };
  for (const input of inputs) visit(input);
  return hash.digest('hex');
}
