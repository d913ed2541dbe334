import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import t from 'tap'
import { startHarness } from './helpers/harness.ts'

/**
 * End to end in a real browser: Swagger UI at /docs, authorised with an API key, runs "Try it out" on
 * GET /profile/balance against the running service. Needs Debian's chromium (.ci/run installs it).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// Skipped, saying why, on a machine without Chromium; CI sets REQUIRE_BROWSER=1 so that it cannot be skipped there.
const skip = existsSync(CHROMIUM) || process.env.REQUIRE_BROWSER === '1'
  ? false
  : `the browser test needs Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); .ci/run installs it`

t.test('Swagger UI: authorize with a key, try GET /profile/balance, see the balance', { skip }, async (t) => {
  const h = await startHarness(t)
  // A fresh profile directory every run; Playwright passes it to Chromium as --user-data-dir.
  const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'chromium-profile-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
    // Waits are for conditions (the browser started, an element appeared), with deadlines generous enough
    // for a machine whose cores are busy.
    timeout: 60_000
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  page.setDefaultTimeout(60_000)
  const consoleErrors: string[] = []
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()) })

  await page.goto(`${h.url}/docs`)
  await page.getByRole('button', { name: 'Authorize' }).first().click()
  const dialog = page.locator('.dialog-ux')
  const apiKey = dialog.locator('.auth-container').filter({ hasText: 'X-API-Key' })
  await apiKey.locator('input').fill(h.keys.balance)
  await apiKey.locator('button.authorize').click()
  await dialog.locator('button.btn-done').first().click()

  const operation = page.locator('#operations-profile-getBalance')
  await operation.locator('.opblock-summary').click()
  const tryItOut = operation.getByRole('button', { name: 'Try it out' })
  if (await tryItOut.isVisible()) await tryItOut.click()
  await operation.getByRole('button', { name: 'Execute' }).click()

  const live = operation.locator('.live-responses-table')
  const status = live.locator('tbody .response-col_status').first()
  await status.waitFor()
  t.equal((await status.innerText()).trim(), '200')
  const body = JSON.parse(await live.locator('.response-col_description pre.microlight').first().innerText())
  t.equal(body.partner_id, 'partner-882abc')
  t.equal(typeof body.balance, 'number')
  t.match(await live.innerText(), /cache-status: vobiz-bff; fwd=miss/, 'the response headers are shown')
  t.equal(h.sandbox.requests, 1, 'the browser call reached the service and, through it, the sandbox')
  t.ok(h.logs.some((l) => l.msg === 'request' && l.route === '/profile/balance' && l.consumer === 'billing'), 'made with the authorised key')

  const dir = mkdtempSync(join(tmpdir(), 'docs-browser-'))
  const screenshot = join(dir, 'swagger-ui-balance.png')
  await page.screenshot({ path: screenshot, fullPage: true })
  t.comment(`screenshot: ${screenshot}`)
  t.same(consoleErrors, [], 'no browser console errors (CSP, scripts)')
})
