/** `confstate demo`'s one option, `--port-base N`, refused before anything
 *  starts when it is out of range or unknown, and listed in --help. (A demo
 *  that runs on another base is what the browser suite, test/e2e, starts.) */

import { describe, expect, it } from 'vitest';
import { runCli } from '../support/processes.ts';

describe('cli: demo options', () => {
  it('cli: demo --help lists --port-base and the ports it moves', () => {
    const result = runCli(['demo', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--port-base N: element APIs on N (primary) and N+1 (secondary)');
    expect(result.stdout).toContain('APIs and the page on N+80 and N+81');
  });

  it('cli: a port base that would put a port out of range or below 1024 is refused with the range', () => {
    for (const base of ['80', '65500']) {
      const result = runCli(['demo', '--port-base', base]);
      expect(result.code, base).toBe(2);
      expect(result.stderr, base).toContain('--port-base must be an integer from 1024 to 65454');
    }
  });

  it('cli: an unknown demo option is refused, naming it', () => {
    const result = runCli(['demo', '--ports', '9000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unknown option '--ports'");
  });
});
