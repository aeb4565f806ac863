// Headless Chromium for end-to-end tests of our web pages: Debian's chromium
// driven by playwright-core (Playwright's own browser download does not work
// here), with a fresh profile in a temp folder that is removed on close.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM_PATH = '/usr/bin/chromium'

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
]

export function chromiumAvailable(executablePath = CHROMIUM_PATH): boolean {
  return existsSync(executablePath)
}

export interface HeadlessBrowser {
  context: BrowserContext
  /** Closes the browser and removes its profile; safe to call twice. */
  close(): Promise<void>
}

export async function launchHeadlessChromium(options: { executablePath?: string; locale?: string; timezoneId?: string } = {}): Promise<HeadlessBrowser> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'wristpay-chromium-'))
  let context: BrowserContext
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: options.executablePath ?? CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      // A phone-sized window: the portal is mostly used on phones.
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      locale: options.locale ?? 'en-US',
      timezoneId: options.timezoneId ?? 'UTC',
      // A test never waits forever on a page.
      timeout: 30_000,
    })
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true })
    throw err
  }
  context.setDefaultTimeout(10_000)
  let closed: Promise<void> | null = null
  return {
    context,
    close() {
      closed ??= context.close().finally(() => rmSync(userDataDir, { recursive: true, force: true }))
      return closed
    },
  }
}

/** The value of a JavaScript expression in the page: tests are compiled without the DOM's types. */
export async function inPage<T>(page: Page, expression: string): Promise<T> {
  return (await page.evaluate(expression)) as T
}
