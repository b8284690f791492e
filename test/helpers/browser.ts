import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { scratchDir } from './models.js';

/**
 * Headless Chromium for the web UI tests: Debian's `chromium` package (installed by .ci/run when missing), driven
 * by playwright-core pointed at that binary (no browser download). `CHROMIUM_PATH` picks another binary.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** Under CI a missing browser fails the UI tests instead of skipping them (see test/helpers/no-skips-reporter.ts). */
export const chromiumRequired = Boolean(process.env.CI);
export const INSTALL_CHROMIUM = 'apt-get install chromium (or set CHROMIUM_PATH)';

export async function launchChromium(): Promise<Browser> {
  if (!hasChromium) throw new Error(`no Chromium at ${CHROMIUM}: ${INSTALL_CHROMIUM}`);
  // --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** A page, and every console error, uncaught exception, failed request and 4xx/5xx response it met. */
export interface WatchedPage {
  readonly page: Page;
  readonly problems: string[];
}

/** Opens a new page (its own context: a fresh sessionStorage) that records every problem it meets. */
export async function watchedPage(browser: Browser, viewport = { width: 1280, height: 900 }): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A stream the page itself stopped (the Stop button) is not a problem.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return { page, problems };
}

/**
 * Saves a screenshot of the page and returns its path: under `SPECROUTE_SCREENSHOTS` when set (the README's
 * images: `SPECROUTE_SCREENSHOTS=docs/images npx vitest run test/modelDependent/stories260K/ui-*.test.ts`),
 * otherwise in the run's scratch folder.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = process.env.SPECROUTE_SCREENSHOTS ? resolve(process.env.SPECROUTE_SCREENSHOTS) : scratchDir('screenshots-');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
