import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../bin/local-cloud/cloud';
import { connectV1, type ToolClient } from '../../bin/harness/mcp-clients';
import { localPlatformViews } from '../../bin/local-cloud/console/platform-views';
import type { LocalPlatform } from '../../bin/local-cloud/provision';
import { PROJECT_ROOT } from '../../lib/constructs/switchboard-function';

/**
 * The local console (docs/console.md) in headless Chromium (Debian's, driven by playwright-core):
 * it loads from the local runtime alone, signs in through the local identity provider
 * (authorization code + PKCE), shows tasks appearing and finishing while this test submits them
 * through MCP, and shows each role only its panels. The last page is kept as
 * .test-results/console.png.
 */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SCREENSHOT = join(PROJECT_ROOT, '.test-results', 'console.png');

let cloud: LocalCloud;
let browser: Browser;
let submitter: ToolClient;
/** Requests the pages made to anything but the local runtime (the console loads no CDN): aborted and kept here. */
const outside: string[] = [];

beforeAll(async () => {
  // Fail with the reason, not a hang: .ci/run installs Chromium when missing and says so when it cannot.
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (as .ci/run does), or set CHROMIUM_PATH`);
  // As root (CI) Chromium's sandbox cannot start; the page is our own, on loopback.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 20_000, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  cloud = await startLocalCloud({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'switchboard-console-')),
    inMemory: true,
    log: () => undefined,
    adjustConfig: (config) => ({ ...config, agents: ['echo', 'chaos'] }),
  });
  submitter = await connectV1(cloud.mcpUrl, await cloud.token({ tenant: 'acme', roles: ['submitter'] }));
}, 60_000);

afterAll(async () => {
  await submitter?.close();
  await browser?.close();
  await cloud?.stop();
});

/** A fresh browser context (its own session storage) whose requests may reach the local runtime only. */
const newPage = async (): Promise<Page> => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
  const origin = new URL(cloud.url).origin;
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  return context.newPage();
};

/** Opens the console, signs in on the local provider's page with these roles, and waits for the dashboard. */
const signIn = async (roles: readonly string[], user: string): Promise<Page> => {
  const page = await newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${cloud.url}/console`);
  await page.click('#sign-in');
  await page.waitForURL(/\/oidc\/interaction\//);
  await page.fill('input[name=tenant]', 'acme');
  await page.fill('input[name=user]', user);
  for (const box of await page.locator('input[name=roles]').all()) await box.setChecked(roles.includes((await box.getAttribute('value'))!));
  await page.click('button[type=submit]');
  await page.waitForURL(/\/console\/$/);
  await page.waitForSelector('#who', { timeout: 10_000 });
  expect(await page.textContent('#who')).toContain(`${user}@acme`);
  expect(errors).toEqual([]);
  return page;
};

const submit = async (capability: string, input: unknown) => {
  const result = await submitter.callTool('submit_task', { capability, input });
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  return (result.structuredContent as { taskId: string }).taskId;
};

describe('the console', () => {
  it('is linked from the landing page and serves the page, its modules and styles from the local runtime', async () => {
    expect(await (await fetch(`${cloud.url}/`)).text()).toContain('href="/console/"');
    const page = await fetch(`${cloud.url}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self' 'sha256-/);
    for (const file of ['app.js', 'vendor/preact.mjs', 'vendor/hooks.mjs', 'vendor/htm.mjs', 'vendor/uPlot.esm.js', 'vendor/uPlot.min.css']) {
      expect((await fetch(`${cloud.url}/console/${file}`)).status, file).toBe(200);
    }
    // Only the listed files: no path reaches the disk beyond them.
    for (const path of ['/console/..%2Fcloud.ts', '/console/vendor/../../../package.json', '/console/console.ts']) {
      expect((await fetch(`${cloud.url}${path}`)).status, path).toBe(404);
    }
  });

  it('signs a viewer in, shows tasks appearing and finishing as they are submitted, and no audit, queue or agent-circuit panel', async () => {
    const page = await signIn(['viewer'], 'vera');
    await page.waitForSelector('#tasks');
    const slow = await submit('chaos', { hangSeconds: 3, output: 'slow' });
    const quick = await Promise.all([1, 2, 3].map((n) => submit('echo', { n })));
    const started = await submitter.callTool('start_workflow', { workflow: 'triage', input: { text: 'printer on fire', priority: 'low', customer: 'c-42' } });
    expect(started.isError, JSON.stringify(started.content)).toBeFalsy();
    const run = (started.structuredContent as { taskId: string }).taskId;
    // The slow task is seen before it finishes, then finished, without a reload.
    await page.waitForSelector(`#tasks tr[data-task-id="${slow}"]:not([data-status="succeeded"])`, { timeout: 5_000 });
    for (const taskId of [...quick, slow, run]) await page.waitForSelector(`#tasks tr[data-task-id="${taskId}"][data-status="succeeded"]`, { timeout: 15_000 });
    expect(await page.textContent('#tasks .counts:first-of-type [data-count="succeeded"]')).toBe('succeeded 4');
    expect(await page.textContent('#tasks .counts:nth-of-type(2) [data-count="succeeded"]')).toBe('succeeded 1');
    // A task's detail (its result), then a run's: its steps.
    await page.click(`#tasks tr[data-task-id="${slow}"]`);
    await page.waitForSelector('#task-detail');
    expect(await page.textContent('#task-detail')).toContain('"slow"');
    await page.click(`#tasks tr[data-task-id="${run}"]`);
    for (const step of ['classify', 'lookupCustomer', 'lookupHistory']) {
      await page.waitForSelector(`#task-detail #steps tr[data-step-id="${step}"] .succeeded`, { timeout: 5_000 });
    }
    // What a viewer may not see is not on the page.
    expect(await page.locator('#audit').count()).toBe(0);
    expect(await page.locator('#queues').count()).toBe(0);
    // The deep check's dependencies when the runtime has it (GET /healthz?deep=1), else liveness only.
    await page.waitForSelector('#health .badge');
    expect(await page.textContent('#health .badge')).toBe('healthy');
    expect(await page.locator('#health tr[data-dependency]').count() > 0 || /Liveness only/.test((await page.textContent('#health'))!)).toBe(true);
    await page.context().close();
  }, 35_000);

  it('shows an auditor the recent audit events (the submits above), and an operator the queues per priority, charts and agents', async () => {
    // One user with both roles (one sign-in less); each role alone is refused the other's reads (the console API test below, the viewer above).
    const page = await signIn(['operator', 'auditor'], 'otto');
    await page.waitForSelector('#audit tr[data-action="submit_task"]', { timeout: 10_000 });
    for (const priority of ['critical', 'high', 'normal', 'low']) await page.waitForSelector(`#queues tr[data-queue="${priority}"]`);
    await page.waitForSelector('#queues-chart canvas');
    await page.waitForSelector('#agents');
    mkdirSync(join(PROJECT_ROOT, '.test-results'), { recursive: true });
    // A few samples in the charts before the picture.
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#queues-chart')?.dataset['samples']) >= 3, undefined, { timeout: 10_000 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.context().close();
  });

  it('loaded nothing from outside the local runtime', () => {
    expect(outside).toEqual([]);
  });
});

describe('the console API (/console/api/…)', () => {
  const get = (view: string, token?: string) => fetch(`${cloud.url}/console/api/${view}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  it('answers an operator with every queue of the templates and the agents', async () => {
    const token = await cloud.token({ tenant: 'acme', roles: ['operator'] });
    const queues = (await (await get('queues', token)).json()) as { queues: { name: string; priority?: string; visible: number; oldestAgeSeconds: number }[] };
    expect(queues.queues.filter((q) => q.priority).map((q) => q.priority)).toEqual(['critical', 'high', 'normal', 'low']);
    expect(queues.queues.length).toBe(cloud.platform.queues.size);
    const agents = await get('agents', token);
    expect(agents.status).toBe(200);
    expect(await agents.json()).toHaveProperty('agents');
  });

  it('refuses a missing or forged token (401) and a role that is not operator (403), with short messages', async () => {
    const viewer = await cloud.token({ tenant: 'acme', roles: ['viewer', 'auditor', 'admin'] });
    const [header, payload] = viewer.split('.') as [string, string];
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), roles: ['operator'] })).toString('base64url')}.${'A'.repeat(86)}`;
    for (const [what, token, status] of [['none', undefined, 401], ['forged', forged, 401], ['viewer', viewer, 403]] as const) {
      for (const view of ['queues', 'agents']) {
        const response = await get(view, token);
        expect(response.status, `${what} ${view}`).toBe(status);
        const body = (await response.json()) as { message: string };
        expect(body.message.length).toBeLessThan(120);
        expect(JSON.stringify(body)).not.toMatch(/\bat .+:\d+:\d+/);
      }
    }
    const operator = await cloud.token({ tenant: 'acme', roles: ['operator'] });
    expect((await fetch(`${cloud.url}/console/api/queues`, { method: 'POST', headers: { authorization: `Bearer ${operator}` } })).status).toBe(405);
    expect((await get('secrets', operator)).status).toBe(404);
    // Names every object has (a lookup in a plain object would find Object.prototype's): no such endpoint either.
    for (const view of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      for (const token of [operator, viewer]) expect((await get(view, token)).status, view).toBe(404);
    }
  });
});

describe("the console's platform views", () => {
  it("read depths through SQS and the oldest message's age from the emulator, priority queues first", async () => {
    const sqsEmulator = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false, defaultRegion: 'us-east-1' });
    try {
      const sqs = new SQSClient({ endpoint: sqsEmulator.address, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
      const low = sqsEmulator.createQueue('low-queue').queueUrl;
      const dead = sqsEmulator.createQueue('dead-letters').queueUrl;
      const sentAt = Date.now();
      for (const body of ['a', 'b']) await sqs.send(new SendMessageCommand({ QueueUrl: low, MessageBody: body }));
      const platform = { queues: new Map([['dead-letters', dead], ['low-queue', low]]), functions: new Map([['gw', { environment: { QUEUE_URL_LOW: low } }]]) };
      const views = localPlatformViews({
        platform: platform as unknown as LocalPlatform,
        sqs,
        sqsEndpoint: sqsEmulator.address,
        agentStates: { list: async () => [] } as never,
        now: () => sentAt + 65_000,
      });
      expect(await views.queues()).toEqual([
        { name: 'low-queue', priority: 'low', visible: 2, inFlight: 0, delayed: 0, oldestAgeSeconds: 65 },
        { name: 'dead-letters', visible: 0, inFlight: 0, delayed: 0, oldestAgeSeconds: 0 },
      ]);
    } finally {
      await sqsEmulator.stop();
    }
  });
});
