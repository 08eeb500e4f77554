// The page in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by
// puppeteer-core): sign in, look up a person, and print what was shown as
// JSON for test_ui.py to check against the API.
//
//   node firefox.mjs URL TOKEN MMID SCREENSHOT

import puppeteer from 'puppeteer-core';

const [url, token, mmid, screenshot] = process.argv.slice(2);
const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: process.env.FIREFOX ?? '/usr/bin/firefox-esr',
  headless: true,
  defaultViewport: { width: 1280, height: 900 },
});
const seen = { requests: [], errors: [] };
try {
  const page = await browser.newPage();
  page.on('request', (request) => seen.requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') seen.errors.push(message.text());
  });
  page.on('pageerror', (error) => seen.errors.push(`uncaught: ${error.message}`));

  await page.goto(`${url}/`, { waitUntil: 'load' });
  await page.waitForSelector('#token', { visible: true });
  await page.type('#token', token);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#mmid', { visible: true });
  await page.type('#mmid', mmid);
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#contacts tbody tr').length > 0
    && document.querySelectorAll('#graph a[data-hops]').length > 0
    && document.querySelectorAll('#by-day rect').length > 0, { timeout: 15_000 });
  const shown = await page.evaluate(() => ({
    url: location.href,
    title: document.getElementById('person-title').textContent,
    rows: [...document.querySelectorAll('#contacts tbody tr')].map((tr) => Number(tr.dataset.id)),
    nodes: [...document.querySelectorAll('#graph a[data-mmid]')]
      .map((a) => [Number(a.dataset.mmid), Number(a.dataset.hops)]),
    places: document.querySelectorAll('#map circle.place').length,
    cities: [...document.querySelectorAll('#map text.city')].map((t) => t.textContent),
    tokenKept: sessionStorage.getItem('pact.token') !== null,
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ...shown, ...seen, browser: await browser.version() }));
} finally {
  await browser.close();
}
