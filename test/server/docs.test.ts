/** docs/API.md stays true to the code: the error table is the generated one,
 *  and every limit is listed with its current default. */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_LIMITS_DEFAULT } from '../../src/server/config.ts';
import { errorTableMarkdown } from '../../src/server/errors.ts';

const doc = readFileSync(new URL('../../docs/API.md', import.meta.url), 'utf8');

describe('docs: API.md', () => {
  it('docs: the error table in API.md is errorTableMarkdown() of the code', () => {
    const begin = '<!-- BEGIN error table -->\n';
    const start = doc.indexOf(begin);
    const end = doc.indexOf('<!-- END error table -->');
    expect(start).toBeGreaterThan(0);
    // To update: paste errorTableMarkdown()'s output between the markers.
    expect(doc.slice(start + begin.length, end)).toBe(errorTableMarkdown());
  });

  it('docs: every limit appears in API.md with its default', () => {
    for (const [name, value] of Object.entries(SERVER_LIMITS_DEFAULT)) {
      expect(doc, name).toContain(`| \`${name}\` | ${value.toLocaleString('en-US')} |`);
    }
  });
});
