/** What the browser suite stands on: the loopback-only network namespace it
 *  runs in, `confstate demo` as a child process (with the pids of its nodes,
 *  to kill one), Debian's Chromium driven by playwright-core, and page
 *  helpers that read what a page shows and what its RTCPeerConnections carry.
 *  Code that runs inside the page is written as strings: this file is type-
 *  checked for Node, without the DOM. */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { ensureServerBuild } from '../../scripts/build-server.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where screenshots and logs of a run go (gitignored). */
export const ARTIFACTS = path.join(ROOT, 'test-results', 'e2e');
/** Debian's package; CI installs it with apt-get (.ci/run). Never a downloaded browser. */
export const CHROMIUM = process.env['CONFSTATE_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * Exactly the flags of issue 6: fake camera and microphone, no permission
 * prompt, WebRTC over loopback, and nothing that phones home. Playwright's own
 * defaults are left out (ignoreDefaultArgs); it still needs its control pipe.
 */
export const CHROMIUM_FLAGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
] as const;

// ---- the network namespace --------------------------------------------------

/** Names of this process's network interfaces: only `lo` inside the suite's namespace. */
export function networkInterfaceNames(): string[] {
  return Object.keys(os.networkInterfaces()).sort();
}

/** The command line that runs `argv` in a new network namespace whose only interface, loopback, is up. */
export function inNamespace(argv: readonly string[]): { command: string; args: string[] } {
  // As root (CI, this machine) a plain new namespace; otherwise a user namespace maps us to root in it.
  const unshare = process.getuid?.() === 0 ? ['--net'] : ['--user', '--map-root-user', '--net'];
  return { command: 'unshare', args: [...unshare, '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...argv] };
}

/** Whether `unshare` and `ip` exist here (util-linux and iproute2). */
export function namespaceToolsPresent(): boolean {
  return ['unshare', 'ip'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
}

// ---- confstate demo ---------------------------------------------------------

export interface Demo {
  readonly child: ChildProcess;
  /** Conference API (and page) URLs: the node started as primary, then the one started as secondary. */
  readonly urls: readonly [string, string];
  readonly dir: string;
  stop(): Promise<void>;
}

/** Starts `confstate demo --port-base N` in a directory of its own; resolves when both nodes answer /healthz. */
export async function startDemo(portBase: number): Promise<Demo> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'confstate-e2e-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const log = createWriteStream(path.join(ARTIFACTS, 'demo.log'));
  // The server as `npm start` runs it: the bundle (decision 0025). Its own process group, so stop() ends the demo and both nodes together.
  const child = spawn(process.execPath, ['--enable-source-maps', ensureServerBuild(), 'demo', '--port-base', String(portBase)], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const urls: [string, string] = [`http://127.0.0.1:${portBase + 80}`, `http://127.0.0.1:${portBase + 81}`];
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(-child.pid!, 'SIGTERM');
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Two tsx start-ups on two cores: seconds normally; the bound only has to outlast a loaded machine.
    await eventually('both demo nodes answer /healthz', async () => (await Promise.all(urls.map((url) => health(url)))).every((h) => h !== undefined), 45_000);
  } catch (error) {
    await stop(); // the caller never gets a Demo to stop: without this the demo and both nodes outlive the test run
    throw error;
  }
  return { child, urls, dir, stop };
}

export interface Health {
  readonly role: 'primary' | 'secondary';
  readonly epoch: number;
}

/** A node's /healthz, or undefined when it does not answer. */
export async function health(url: string): Promise<Health | undefined> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
    return response.ok ? ((await response.json()) as Health) : undefined;
  } catch {
    return undefined;
  }
}

/** True when the node at `url` reports itself not degraded (a secondary: in sync with its primary). */
export async function inSync(url: string): Promise<boolean> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(1_000) })).text();
    return /^confstate_node_degraded 0$/m.test(text);
  } catch {
    return false;
  }
}

/** The pid of the demo's node process whose conference API listens on `url` (read from /proc). */
export function nodePid(demo: Demo, url: string): number {
  const port = new URL(url).port;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (parent === demo.child.pid && argv.includes('demo-node') && argv.includes(`127.0.0.1:${port}`) && argv.indexOf(`127.0.0.1:${port}`) === argv.indexOf('--api-listen') + 1) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`no demo node of pid ${demo.child.pid} listens on ${url}`);
}

// ---- the browser ------------------------------------------------------------

export interface BrowserHandle {
  readonly browser: Browser;
  close(): Promise<void>;
}

/** Launches Chromium headless with the suite's flags and a fresh profile. */
export async function launchChromium(): Promise<BrowserHandle> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'confstate-e2e-profile-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    ignoreDefaultArgs: true,
    args: ['--headless', `--user-data-dir=${profile}`, '--remote-debugging-pipe', ...CHROMIUM_FLAGS],
    timeout: 30_000,
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Runs in every page before its scripts: records each RTCPeerConnection the
 * page makes (for getStats and the senders' tracks), and every value the
 * connection indicator takes, with the time (a MutationObserver misses none).
 */
const PAGE_PROBES = `(() => {
  const Native = window.RTCPeerConnection;
  const peers = [];
  window.__e2e = { peers, connection: [] };
  window.RTCPeerConnection = class extends Native { constructor(...args) { super(...args); peers.push(this); } };
  let last = '';
  const record = () => {
    const el = document.querySelector('.connection');
    if (el === null) return;
    const entry = { t: Date.now(), state: el.dataset.state, server: el.dataset.server, role: el.dataset.nodeRole, failedOver: el.dataset.failedOver, text: el.textContent };
    const key = [entry.state, entry.server, entry.role, entry.failedOver].join('|');
    if (key !== last) { last = key; window.__e2e.connection.push(entry); }
  };
  new MutationObserver(record).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
})();`;

/** A page of its own browser context (its own storage: another person), with its errors collected. */
export interface TestPage {
  readonly label: string;
  readonly page: Page;
  readonly context: BrowserContext;
  readonly errors: string[];
}

export async function openPage(handle: BrowserHandle, label: string): Promise<TestPage> {
  const context = await handle.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.addInitScript(PAGE_PROBES);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`${label}: ${error.message}`));
  return { label, page, context, errors };
}

/** Opens `server/?session=…`, types the name and joins by name (demo mode). */
export async function joinByName(tp: TestPage, server: string, session: string, name: string, options: { cameraOff?: boolean } = {}): Promise<void> {
  await tp.page.goto(`${server}/?session=${session}`);
  await tp.page.getByLabel('Your name').fill(name);
  if (options.cameraOff === true) await tp.page.getByRole('button', { name: 'Join with camera off' }).click();
  await tp.page.getByRole('button', { name: 'Join meeting' }).click();
}

/** The participant id of the tile named `name` on a page (its `data-participant`). */
export async function participantId(tp: TestPage, name: string): Promise<string> {
  const row = tp.page.locator('ul[aria-label="People in the meeting"] li', { has: tp.page.locator('.person-name', { hasText: new RegExp(`^${name}( \\(you\\))?$`) }) });
  return (await row.getAttribute('data-participant', { timeout: 10_000 }))!;
}

export interface InboundStats {
  readonly videoFramesDecoded: number;
  readonly audioPacketsReceived: number;
  readonly connectionState: string;
}

/** Per open RTCPeerConnection of the page: inbound video frames decoded and audio packets received. */
export async function inboundStats(tp: TestPage): Promise<InboundStats[]> {
  return (await tp.page.evaluate(`(async () => {
    const out = [];
    for (const pc of window.__e2e.peers) {
      if (pc.connectionState === 'closed') continue;
      let video = 0, audio = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'video') video += s.framesDecoded ?? 0;
        if (s.kind === 'audio') audio += s.packetsReceived ?? 0;
      });
      out.push({ videoFramesDecoded: video, audioPacketsReceived: audio, connectionState: pc.connectionState });
    }
    return out;
  })()`)) as InboundStats[];
}

/** `enabled` of every outgoing audio track of the page's open connections, and of its own microphone track. */
export async function outgoingAudioEnabled(tp: TestPage): Promise<boolean[]> {
  return (await tp.page.evaluate(`(() => window.__e2e.peers
    .filter((pc) => pc.connectionState !== 'closed')
    .flatMap((pc) => pc.getSenders())
    .filter((s) => s.track !== null && s.track.kind === 'audio')
    .map((s) => s.track.enabled))()`)) as boolean[];
}

export interface ConnectionEntry {
  readonly t: number;
  readonly state: string;
  readonly server: string;
  readonly role: string;
  readonly failedOver: string;
  readonly text: string;
}

export async function connectionLog(tp: TestPage): Promise<ConnectionEntry[]> {
  return (await tp.page.evaluate('window.__e2e.connection')) as ConnectionEntry[];
}

export async function clearConnectionLog(tp: TestPage): Promise<void> {
  await tp.page.evaluate('window.__e2e.connection.length = 0');
}

/** The visible texts of the elements `selector` finds on the page. */
export async function texts(tp: TestPage, selector: string): Promise<string[]> {
  return (await tp.page.locator(selector).allTextContents()).map((text) => text.trim());
}

/** Retries `check` until it holds (returns true, or an assertion in it stops throwing) or `timeoutMs` passes. */
export async function eventually(what: string, check: () => Promise<boolean | void> | boolean | void, timeoutMs = 10_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if ((await check()) !== false) return;
      last = undefined;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? '' : `; last: ${last instanceof Error ? last.message : String(last)}`}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Saves a screenshot of each page into the artifacts directory (after a failure, and for the README). */
export async function screenshotAll(pages: readonly TestPage[], prefix: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const tp of pages) {
    if (tp.page.isClosed()) continue;
    await tp.page.screenshot({ path: path.join(ARTIFACTS, `${prefix}-${tp.label}.png` ) }).catch(() => undefined);
  }
}

export function chromiumPresent(): boolean {
  return existsSync(CHROMIUM);
}
