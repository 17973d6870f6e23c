/** DESIGN.md §8: src/core and src/conference are pure. src/core imports
 *  nothing outside itself, src/conference only itself and src/core (no `node:`
 *  modules, no packages); neither uses the wall clock, timers, global
 *  randomness or process state: time and randomness come in as parameters. */

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CORE_DIR = fileURLToPath(new URL('../../src/core/', import.meta.url));
const CONFERENCE_DIR = fileURLToPath(new URL('../../src/conference/', import.meta.url));

/** A pure part of the tree: its files may import only from `allowedDirs`. */
interface PureArea {
  readonly dir: string;
  readonly allowedDirs: readonly string[];
  /** How messages name the allowed dirs. */
  readonly allowedText: string;
}

const CORE: PureArea = { dir: CORE_DIR, allowedDirs: [CORE_DIR], allowedText: 'src/core' };
const CONFERENCE: PureArea = { dir: CONFERENCE_DIR, allowedDirs: [CONFERENCE_DIR, CORE_DIR], allowedText: 'src/conference and src/core' };

/** Every .ts file under `dir`, recursively. */
function tsFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFilesUnder(full));
    else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(full);
  }
  return out.sort();
}

/**
 * Replaces comments with spaces (newlines kept, so line numbers survive),
 * leaving strings, template literals and regex literals as they are. A small
 * scanner rather than one regex, so `//` inside a string or regex is not
 * taken for a comment.
 */
function stripComments(source: string): string {
  let out = '';
  let i = 0;
  /** Last significant character outside comments: decides whether `/` starts a regex. */
  let previous = '';
  const blank = (text: string): string => text.replace(/[^\n]/g, ' ');
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      out += blank(source.slice(i, stop));
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      out += blank(source.slice(i, stop));
      i = stop;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== c) {
        if (source[j] === '\\') j++;
        j++;
      }
      out += source.slice(i, j + 1);
      previous = c;
      i = j + 1;
    } else if (c === '/' && (previous === '' || /[(,=:[!&|?{};+\-*%<>~^]/.test(previous))) {
      // A regex literal: skip to its closing slash (respecting escapes and classes).
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== '\n') {
        const d = source[j]!;
        if (d === '\\') j++;
        else if (d === '[') inClass = true;
        else if (d === ']') inClass = false;
        else if (d === '/' && !inClass) break;
        j++;
      }
      out += source.slice(i, j + 1);
      previous = '/';
      i = j + 1;
    } else {
      out += c;
      if (!/\s/.test(c)) previous = c;
      i++;
    }
  }
  return out;
}

interface Violation {
  readonly file: string;
  readonly line: number;
  readonly problem: string;
}

const IMPORT_PATTERNS: RegExp[] = [
  /\bimport\s+(?:type\s+)?[\w*${}\s,]*?\s*from\s*(['"])([^'"]*)\1/g, // import x from 'y'
  /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s*(['"])([^'"]*)\1/g, // export … from 'y'
  /\bimport\s*(['"])([^'"]*)\1/g, // import 'y' (side effects only)
  /\bimport\s*\(\s*(['"`])([^'"`]*)\1\s*[,)]/g, // import('y')
  /\brequire\s*\(\s*(['"`])([^'"`]*)\1\s*\)/g, // require('y')
];

const FORBIDDEN_CODE: [RegExp, string][] = [
  [/(?<![\w$.])Date\b/g, 'Date (time must come from a Clock parameter)'],
  [/(?<![\w$])Math\s*\.\s*random\b/g, 'Math.random (randomness must come from a Random parameter)'],
  [/(?<![\w$.])setTimeout\b/g, 'setTimeout (pure code has no timers)'],
  [/(?<![\w$.])setInterval\b/g, 'setInterval (pure code has no timers)'],
  [/(?<![\w$.])performance\s*\.\s*now\b/g, 'performance.now (time must come from a Clock parameter)'],
  [/(?<![\w$.])process\s*\./g, 'process. (pure code does no I/O and reads no environment)'],
];

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Everything in one source file that breaks the purity rules of its area. */
function scanSource(file: string, source: string, area: PureArea): Violation[] {
  const code = stripComments(source);
  const out: Violation[] = [];
  for (const pattern of IMPORT_PATTERNS) {
    for (const match of code.matchAll(pattern)) {
      const specifier = match[2]!;
      const keyword = match[0].startsWith('import') ? 'import' : match[0].startsWith('export') ? 'export' : 'require';
      const line = lineOf(code, match.index);
      if (specifier.startsWith('node:')) {
        out.push({ file, line, problem: `${keyword} of Node module '${specifier}'` });
      } else if (!specifier.startsWith('./') && !specifier.startsWith('../')) {
        out.push({ file, line, problem: `${keyword} of package or non-relative path '${specifier}'` });
      } else {
        const target = path.resolve(path.dirname(file), specifier);
        const inside = area.allowedDirs.some((dir) => {
          const relative = path.relative(dir, target);
          return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
        });
        if (!inside) out.push({ file, line, problem: `${keyword} of '${specifier}', which resolves outside ${area.allowedText}` });
      }
    }
  }
  // A dynamic import whose specifier is not a literal cannot be checked: refuse it.
  for (const match of code.matchAll(/\bimport\s*\(\s*(?!['"`][^'"`]*['"`]\s*[,)])/g)) {
    out.push({ file, line: lineOf(code, match.index), problem: 'dynamic import( ) with a computed specifier' });
  }
  for (const [pattern, what] of FORBIDDEN_CODE) {
    for (const match of code.matchAll(pattern)) {
      out.push({ file, line: lineOf(code, match.index), problem: `uses ${what}` });
    }
  }
  return out.sort((a, b) => a.line - b.line); // stable: same-line findings keep pattern order
}

function describeViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${path.relative(process.cwd(), v.file)}:${v.line}: ${v.problem}`).join('\n');
}

describe('architecture: src/core is pure', () => {
  const files = tsFilesUnder(CORE_DIR);

  it('architecture: src/core has the modules the design names', () => {
    const names = files.map((f) => path.relative(CORE_DIR, f));
    for (const expected of ['clock.ts', 'keys.ts', 'value.ts', 'digest.ts', 'element-store.ts', 'sync-diff.ts', 'random.ts']) {
      expect(names).toContain(expected);
    }
  });

  it('architecture: src/core imports only modules inside src/core', () => {
    const violations = files.flatMap((file) => scanSource(file, readFileSync(file, 'utf8'), CORE)).filter((v) => !v.problem.startsWith('uses '));
    expect(describeViolations(violations)).toBe('');
  });

  it('architecture: src/core uses no Date, Math.random, timers, performance.now or process', () => {
    const violations = files.flatMap((file) => scanSource(file, readFileSync(file, 'utf8'), CORE)).filter((v) => v.problem.startsWith('uses '));
    expect(describeViolations(violations)).toBe('');
  });

  it('architecture: the scanner sees the imports src/core really has (it does not pass by finding nothing)', () => {
    const storeFile = path.join(CORE_DIR, 'element-store.ts');
    const source = readFileSync(storeFile, 'utf8');
    // Turn each real import into one that leaves src/core: every one must be flagged.
    const moved = source.replace(/from '\.\//g, "from '../server/");
    const importCount = (source.match(/^import .* from '\.\//gm) ?? []).length;
    expect(importCount).toBeGreaterThanOrEqual(3);
    expect(scanSource(storeFile, moved, CORE)).toHaveLength(importCount);
  });
});

describe('architecture: the purity scanner flags synthetic bad sources', () => {
  const file = path.join(CORE_DIR, 'synthetic.ts');
  const scan = (source: string): string[] => scanSource(file, source, CORE).map((v) => `${v.line}: ${v.problem}`);

  it('architecture: the scanner flags node: modules, packages, escaping relative paths and dynamic imports', () => {
    const bad = [
      "import { readFileSync } from 'node:fs';",
      "import type { Socket } from 'node:net';",
      "import fc from 'fast-check';",
      "import * as path from 'path';",
      "export { x } from '../server/http.ts';",
      "export * from '../../package.json';",
      "import '../replication/side-effect.ts';",
      "const m = await import('node:crypto');",
      'const n = await import(name);',
      "import {\n  a,\n  b,\n} from '/abs/path.ts';",
      "import ok from './clock.ts'; import alsoOk from './sub/dir.ts'; import sneaky from './../core/../cli/x.ts';",
    ].join('\n');
    expect(scan(bad)).toEqual([
      "1: import of Node module 'node:fs'",
      "2: import of Node module 'node:net'",
      "3: import of package or non-relative path 'fast-check'",
      "4: import of package or non-relative path 'path'",
      "5: export of '../server/http.ts', which resolves outside src/core",
      "6: export of '../../package.json', which resolves outside src/core",
      "7: import of '../replication/side-effect.ts', which resolves outside src/core",
      "8: import of Node module 'node:crypto'",
      '9: dynamic import( ) with a computed specifier',
      "10: import of package or non-relative path '/abs/path.ts'",
      "14: import of './../core/../cli/x.ts', which resolves outside src/core",
    ]);
  });

  it('architecture: the scanner flags wall-clock, timer, randomness and process use in code', () => {
    const bad = [
      'const t = Date.now();',
      'const d = new Date();',
      'const r = Math.random();',
      'setTimeout(() => {}, 1);',
      'const h = setInterval(tick, 10);',
      'const p = performance.now();',
      'const e = process.env.X;',
      'const r2 = Math . random();',
    ].join('\n');
    expect(scan(bad)).toEqual([
      '1: uses Date (time must come from a Clock parameter)',
      '2: uses Date (time must come from a Clock parameter)',
      '3: uses Math.random (randomness must come from a Random parameter)',
      '4: uses setTimeout (pure code has no timers)',
      '5: uses setInterval (pure code has no timers)',
      '6: uses performance.now (time must come from a Clock parameter)',
      '7: uses process. (pure code does no I/O and reads no environment)',
      '8: uses Math.random (randomness must come from a Random parameter)',
    ]);
  });

  it('architecture: the scanner ignores comments, strings and member names that only look alike', () => {
    const fine = [
      '// Date.now() and Math.random() are banned here; see DESIGN.md',
      '/* setTimeout(…) would be a timer;',
      '   process.exit too. import x from "node:fs" */',
      "import { a } from './clock.ts'; // import b from 'node:os'",
      "const url = 'http://example.test/'; const later = Date",
    ].join('\n');
    // The comment after the URL string must not swallow the code after it.
    expect(scan(fine)).toEqual(['5: uses Date (time must come from a Clock parameter)']);
    expect(scan('const pattern = /\\/\\/ not a comment/; const t = Date.now();')).toEqual(['1: uses Date (time must come from a Clock parameter)']);
    expect(scan('const x = this.process.y; const z = isUpToDate(w); const v = obj.setTimeout;')).toEqual([]);
  });
});

describe('architecture: src/conference is pure', () => {
  const files = tsFilesUnder(CONFERENCE_DIR);

  it('architecture: src/conference has the modules the design names', () => {
    const names = files.map((f) => path.relative(CONFERENCE_DIR, f));
    for (const expected of ['model.ts', 'mirror.ts', 'permissions.ts', 'commands.ts']) expect(names).toContain(expected);
  });

  it('architecture: src/conference imports only modules inside src/conference and src/core', () => {
    const violations = files.flatMap((file) => scanSource(file, readFileSync(file, 'utf8'), CONFERENCE)).filter((v) => !v.problem.startsWith('uses '));
    expect(describeViolations(violations)).toBe('');
  });

  it('architecture: src/conference uses no Date, Math.random, timers, performance.now or process', () => {
    const violations = files.flatMap((file) => scanSource(file, readFileSync(file, 'utf8'), CONFERENCE)).filter((v) => v.problem.startsWith('uses '));
    expect(describeViolations(violations)).toBe('');
  });

  it('architecture: src/conference may import src/core but not src/server, src/client or packages', () => {
    const file = path.join(CONFERENCE_DIR, 'synthetic.ts');
    const source = [
      "import { assert } from '../core/assert.ts';",
      "import { participantOf } from './mirror.ts';",
      "import type { StateNode } from '../server/state-node.ts';",
      "import { ElementClient } from '../client/element-client.ts';",
      "import { Type } from '@sinclair/typebox';",
      "import { randomUUID } from 'node:crypto';",
    ].join('\n');
    expect(scanSource(file, source, CONFERENCE).map((v) => `${v.line}: ${v.problem}`)).toEqual([
      "3: import of '../server/state-node.ts', which resolves outside src/conference and src/core",
      "4: import of '../client/element-client.ts', which resolves outside src/conference and src/core",
      "5: import of package or non-relative path '@sinclair/typebox'",
      "6: import of Node module 'node:crypto'",
    ]);
  });

  it('architecture: the scanner sees the imports src/conference really has', () => {
    const commandsFile = path.join(CONFERENCE_DIR, 'commands.ts');
    const source = readFileSync(commandsFile, 'utf8');
    const moved = source.replace(/from '\.\.\/core\//g, "from '../server/").replace(/from '\.\//g, "from '../client/");
    const importCount = (source.match(/^import [\s\S]*? from '\.\.?\//gm) ?? []).length;
    expect(importCount).toBeGreaterThanOrEqual(4);
    expect(scanSource(commandsFile, moved, CONFERENCE)).toHaveLength(importCount);
  });
});
