/// <reference lib="dom" />
// (The DOM types: callbacks passed to page.evaluate and page.waitForFunction run in the browser.)
/**
 * The live dashboard (/dashboard) in headless Chromium, against the real server: it loads clean, its figures and
 * charts move while a load runs and settle after, and it works on a phone-wide screen and by keyboard.
 */
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../../src/main.js';
import { chromiumRequired, hasChromium, INSTALL_CHROMIUM, launchChromium, screenshot, watchedPage } from '../../helpers/browser.js';
import { startTestServer } from '../../helpers/server.js';

const MODEL = 'stories260K';
const KEY = 'sk-test-0123456789';
const FIGURES = [
  'tokens-per-second',
  'generated-tokens',
  'acceptance-rate',
  'ttft-p50',
  'ttft-p95',
  'itl-p50',
  'itl-p95',
  'queue-depth',
  'active-sequences',
  'requests',
  'failed-requests',
  'escalations',
  'skipped-escalations',
  'breaker-state',
  'frontier-tokens',
  'frontier-input-tokens',
  'frontier-output-tokens',
  'frontier-cost',
  'route-decisions',
];
const TIME_CHARTS = ['tokens-per-second', 'acceptance-rate', 'sequences', 'ttft', 'itl'];
const CHARTS = [...TIME_CHARTS, 'acceptance-by-position'];
/** The page scrapes this often (ms) in these tests. */
const INTERVAL = 250;

/** Every figure's raw value (its `data-value`) and every chart's point count, as the page shows them now. */
async function shown(page: Page): Promise<{ figures: Record<string, string>; points: Record<string, number> }> {
  return page.evaluate(() => ({
    figures: Object.fromEntries(Array.from(document.querySelectorAll<HTMLElement>('[data-figure]')).map((e) => [e.dataset.figure!, e.dataset.value ?? ''])),
    points: Object.fromEntries(Array.from(document.querySelectorAll<HTMLElement>('[data-chart]')).map((e) => [e.dataset.chart!, Number(e.dataset.points ?? 0)])),
  }));
}

/** Waits until the page has shown `scrapes` more scrapes than it had. */
async function scrapesLater(page: Page, scrapes: number): Promise<void> {
  const now = (await shown(page)).points['tokens-per-second'] ?? 0;
  await page.waitForFunction((target) => Number(document.querySelector<HTMLElement>('[data-chart="tokens-per-second"]')?.dataset.points ?? 0) >= target, now + scrapes);
}

describe.skipIf(!hasChromium && !chromiumRequired)('the dashboard at /dashboard, in Chromium', () => {
  let frontier: RunningServer;
  let server: RunningServer;
  let browser: Browser;
  let client: OpenAI;

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`the web UI tests need Chromium: ${INSTALL_CHROMIUM}`);
    // The frontier: a second specroute on 127.0.0.1.
    frontier = await startTestServer({ SPECROUTE_SERVER__GRPC_PORT: '-1', SPECROUTE_SERVER__UI: 'false' });
    // With API keys on: the page and /metrics are open without one. Escalation only where a request asks for it.
    [server, browser] = await Promise.all([
      startTestServer({
        SPECROUTE_API_KEYS: KEY,
        SPECROUTE_ESCALATION__FRONTIER__BASE_URL: `${frontier.httpUrl}/v1`,
        SPECROUTE_ESCALATION__FRONTIER__MODEL: MODEL,
        SPECROUTE_ESCALATION__FRONTIER__FIRST_BYTE_TIMEOUT_MS: '30000',
        SPECROUTE_ESCALATION__FRONTIER__TOTAL_TIMEOUT_MS: '60000',
        SPECROUTE_ESCALATION__POLICY__MIN_CONFIDENCE: '0',
        SPECROUTE_ESCALATION__BUDGET__INPUT_PRICE_PER_MILLION: '3',
        SPECROUTE_ESCALATION__BUDGET__OUTPUT_PRICE_PER_MILLION: '15',
      }),
      launchChromium(),
    ]);
    client = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await frontier?.close();
  });

  it('loads with no console error and its icon served, every figure and chart in place', async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.httpUrl}/dashboard?interval=${INTERVAL}`);
    await scrapesLater(page, 2);
    for (const figure of FIGURES) expect(await page.locator(`[data-figure="${figure}"]`).count(), figure).toBe(1);
    for (const chart of CHARTS) expect(await page.locator(`[data-chart="${chart}"] canvas`).count(), chart).toBe(1);
    expect(await page.locator('[data-status]').textContent()).toMatch(/^Live/);
    expect(await page.locator('[data-status]').getAttribute('aria-live')).toBe('polite');
    expect(await page.locator('time[data-last-scrape]').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    const { figures } = await shown(page);
    expect(figures).toMatchObject({ 'breaker-state': 'closed', 'active-sequences': '0', 'queue-depth': '0', 'frontier-cost': '0' });
    expect(await page.locator('th[scope="col"]').count()).toBe(6);
    for (const icon of ['/favicon.ico', '/ui/favicon.svg']) {
      const response = await fetch(`${server.httpUrl}${icon}`);
      expect(response.status, icon).toBe(200);
      expect(response.headers.get('content-type'), icon).toMatch(/^image\/svg\+xml/);
      expect(await response.text(), icon).toContain('<svg');
    }
    expect(problems).toEqual([]);
    await page.close();
  });

  it('moves its figures and charts while a load runs, and shows the sequences back at 0 after it', async () => {
    const { page, problems } = await watchedPage(browser);
    await page.goto(`${server.httpUrl}/dashboard?interval=${INTERVAL}`);
    await scrapesLater(page, 2);
    const before = await shown(page);

    // The load: rounds of 6 concurrent streamed completions, until the page has shown what it did; two of each
    // round escalate whenever the verifier's top probability is under 0.9.
    let loading = true;
    let streamed = 0;
    const escalation = { window: 1, min_confidence: 0.9, span_tokens: 4, cooldown_tokens: 12 };
    const completion = async (_: unknown, i: number): Promise<void> => {
      const extra = { ignore_eos: true, ...(i < 2 ? { specroute: { escalation } } : {}) };
      const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 150, stream: true, ...(extra as object) });
      for await (const chunk of stream) streamed += chunk.choices[0]?.text ? 1 : 0;
    };
    const load = (async () => {
      do await Promise.all(Array.from({ length: 6 }, completion));
      while (loading);
    })();
    try {
      await page.waitForFunction(
        ({ generated, requests }) => {
          const value = (name: string): number => Number(document.querySelector<HTMLElement>(`[data-figure="${name}"]`)?.dataset.value || NaN);
          const acceptance = value('acceptance-rate');
          const frontier = value('escalations') > 0 && value('frontier-tokens') > 0 && value('frontier-cost') > 0;
          return value('generated-tokens') > generated && value('tokens-per-second') > 0 && acceptance > 0 && acceptance <= 1 && value('ttft-p50') > 0 && value('itl-p50') > 0 && value('requests') >= requests + 6 && frontier;
        },
        { generated: Number(before.figures['generated-tokens']), requests: Number(before.figures.requests) },
        { timeout: 20_000 },
      );
      const during = await shown(page);
      for (const chart of TIME_CHARTS) expect(during.points[chart], chart).toBeGreaterThan(before.points[chart]!);
      expect(during.points['acceptance-by-position']).toBeGreaterThan(0);
      // The numbers as people read them: formatted, and the acceptance as a percentage.
      expect(await page.locator('[data-figure="ttft-p50"]').textContent()).toMatch(/^[\d,.]+$/);
      expect(await page.locator('[data-figure="acceptance-rate"]').textContent()).toMatch(/^\d{1,3}\.\d%$/);
      expect(await page.locator('[data-table="route-decisions"] tbody th[scope="row"]').count()).toBeGreaterThan(0);
      expect(await page.locator('[data-table="escalations"] tbody th[scope="row"]').count()).toBeGreaterThan(0);
      // A few seconds more of the load on the charts, for the README's picture.
      await scrapesLater(page, 3000 / INTERVAL);
      console.log(`dashboard screenshot: ${await screenshot(page, 'dashboard')}`);
    } finally {
      loading = false;
      await load;
    }
    expect(streamed).toBeGreaterThan(6 * 100);
    await page.waitForFunction(() => {
      const value = (name: string): string | undefined => document.querySelector<HTMLElement>(`[data-figure="${name}"]`)?.dataset.value;
      return value('active-sequences') === '0' && value('queue-depth') === '0';
    });
    expect(await page.locator('[data-figure="active-sequences"]').textContent()).toBe('0');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('fits a 390 px wide screen, and pauses and resumes by keyboard', async () => {
    const { page, problems } = await watchedPage(browser, { width: 390, height: 800 });
    await page.goto(`${server.httpUrl}/dashboard?interval=${INTERVAL}`);
    await scrapesLater(page, 2);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    const focused = (): Promise<string | null> => page.evaluate(() => document.activeElement?.getAttribute('data-action') ?? null);
    for (let presses = 0; presses < 10 && (await focused()) !== 'pause'; presses++) await page.keyboard.press('Tab');
    expect(await focused()).toBe('pause');
    const button = page.locator('button[data-action="pause"]');

    await page.keyboard.press('Enter');
    await expect.poll(() => button.textContent()).toBe('Resume updates');
    expect(await page.locator('[data-status]').textContent()).toBe('Paused.');
    const paused = (await shown(page)).points['tokens-per-second'];
    await page.waitForTimeout(INTERVAL * 4);
    expect((await shown(page)).points['tokens-per-second']).toBe(paused);

    await page.keyboard.press('Space');
    await expect.poll(() => button.textContent()).toBe('Pause updates');
    await scrapesLater(page, 1);
    expect(await page.locator('[data-status]').textContent()).toMatch(/^Live/);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('says in the page when it cannot read the metrics (the console gets one warning, no error), and carries on when it can again', async () => {
    const { page, problems } = await watchedPage(browser);
    const warnings: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'warning') warnings.push(message.text());
    });
    await page.goto(`${server.httpUrl}/dashboard?interval=${INTERVAL}`);
    await scrapesLater(page, 1);
    await page.route('**/metrics', (route) => route.abort('connectionrefused'));
    await expect.poll(() => page.locator('[data-status]').textContent()).toMatch(/^Cannot read the server's metrics \(.+\); trying again every 0.25 s\.$/);
    expect(await page.locator('[data-status]').getAttribute('class')).toContain('error');
    await page.unroute('**/metrics');
    await scrapesLater(page, 1);
    expect(await page.locator('[data-status]').textContent()).toMatch(/^Live/);
    // Chromium itself reports each refused fetch (the page cannot stop that); the page's own code logs no error.
    const refused = /^(request failed: \S+\/metrics net::ERR_CONNECTION_REFUSED|console: Failed to load resource: net::ERR_CONNECTION_REFUSED)$/;
    expect(problems.filter((problem) => !refused.test(problem))).toEqual([]);
    expect(warnings.filter((warning) => warning.startsWith('specroute dashboard: cannot read /metrics'))).toHaveLength(1);
    await page.close();
  });
});
