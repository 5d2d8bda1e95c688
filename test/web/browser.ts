/**
 * Real headless Chromium for the web app's tests: Debian's `chromium` (installed by
 * scripts/browser/install-chromium.sh when missing), driven by playwright-core. Before a suite relies
 * on it, it is brought up and down three times in a row; a launch that fails says why.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { errorMessage } from '../../common/errors.ts';

const ROOT = join(import.meta.dirname, '..', '..');
/** CHAT_CHROMIUM names another Chromium binary. */
export const CHROMIUM = process.env.CHAT_CHROMIUM ?? '/usr/bin/chromium';
/** Launches before the browser counts as working. */
const WARM_UP_LAUNCHES = 3;
const LAUNCH_TIMEOUT_MS = 60_000;

/** Installs Chromium (Debian's package) unless it is there; throws with the installer's words. */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.CHAT_CHROMIUM) throw new Error(`CHAT_CHROMIUM=${CHROMIUM}: no such file`);
  try {
    execFileSync('bash', [join(ROOT, 'scripts', 'browser', 'install-chromium.sh')], {
      stdio: ['ignore', 'inherit', 'pipe'],
      timeout: 15 * 60_000,
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(
      `Chromium is missing at ${CHROMIUM} and could not be installed: ${stderr || errorMessage(err)}`,
    );
  }
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is still missing at ${CHROMIUM} after installing it`);
}

/** One headless Chromium; the error names the binary, the attempt and what went wrong. */
export async function launch(attempt = 1): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: LAUNCH_TIMEOUT_MS,
      // As root there is no user namespace sandbox; /dev/shm may be small in containers.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
  } catch (err) {
    throw new Error(`Chromium (${CHROMIUM}) failed to start on launch ${attempt}: ${errorMessage(err)}`);
  }
}

/**
 * Installs Chromium if needed, then starts it, renders a page and closes it three times in a row,
 * and returns a fourth browser for the suite.
 */
export async function reliableBrowser(): Promise<Browser> {
  ensureChromium();
  for (let i = 1; i <= WARM_UP_LAUNCHES; i++) {
    const browser = await launch(i);
    try {
      const page = await browser.newPage();
      await page.setContent('<p id="p">up</p>');
      const text = await page.textContent('#p');
      if (text !== 'up')
        throw new Error(`Chromium rendered ${JSON.stringify(text)} instead of "up" on launch ${i}`);
    } finally {
      await browser.close();
    }
  }
  return launch(WARM_UP_LAUNCHES + 1);
}
