// The widget in a real browser: the demo storefront installs it with one script tag (a Shopify-like
// product page with a size picker, plus a pre-order placeholder). One edge (dev clock, capture server as
// the email provider, signed links) and one headless Chromium (Debian) driven by playwright-core for the
// whole file; the scenarios run in order and each uses its own SKUs. Pages other than the demo's are
// served by the storefront server too (`storefront.page`). Turnstile: a local siteverify stands in for
// Cloudflare's (`TURNSTILE_API_BASE`) and a fake api.js is served by route interception.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startStorefront } from '../demo/serve.mjs';
import { api, eventually, kindOf, ROOT, standardHeaders, startCapture, startEdge } from './support/harness.mjs';

const SHOP = 'demo';
const INVENTORY_SECRET = `whsec_${Buffer.from('demo-inventory-secret-key').toString('base64')}`;
const AXE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
// The demo page's variants (demo/index.html): 1001 S, 1002 M, 1003 L, 1004 XL.
const VARIANT = { S: '1001', M: '1002', L: '1003', XL: '1004' };

// Turnstile: a shop that checks signups, a local siteverify, and a stand-in for Cloudflare's api.js.
const GATE = 'gate';
const TS_SECRET = '0x4AAAAAAAbrowser-test-secret';
const TS_SITEKEY = '1x00000000000000000000AA';

/**
 * Stands in for Cloudflare's siteverify (`TURNSTILE_API_BASE`): tokens `ok-…` pass, `bad-…` are
 * refused (invalid-input-response), `down-…` answer 500 (the edge then says turnstile_unavailable).
 */
async function startSiteverify() {
  const verified = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(raw));
      verified.push(form.response);
      const send = (status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
      if (form.secret !== TS_SECRET) return send(200, { success: false, 'error-codes': ['invalid-input-secret'] });
      if (form.response?.startsWith('ok-')) return send(200, { success: true, 'error-codes': [], hostname: '127.0.0.1' });
      if (form.response?.startsWith('down-')) return send(500, { error: 'down' });
      return send(200, { success: false, 'error-codes': ['invalid-input-response'] });
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}`, verified, close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }) };
}

/**
 * Stands in for https://challenges.cloudflare.com/turnstile/v0/api.js: `turnstile.render` draws a
 * checkbox; ticking it "solves" the challenge with the next token of `window.__tsTokens`. Records
 * what the widget asked for in `window.__ts`.
 */
const FAKE_TURNSTILE = `(() => {
  const seen = window.__ts = { src: document.currentScript && document.currentScript.src, rendered: [], resets: 0 };
  const widgets = {};
  window.turnstile = {
    render(el, o) {
      const id = 'w' + (seen.rendered.length + 1);
      const label = document.createElement('label');
      label.innerHTML = '<input type="checkbox" data-turnstile> Verify you are human';
      const box = label.querySelector('input');
      box.addEventListener('change', () => { if (box.checked) o.callback((window.__tsTokens || []).shift() || 'ok-default'); });
      el.appendChild(label);
      widgets[id] = box;
      seen.rendered.push({ sitekey: o.sitekey, language: o.language, lightDom: el.getRootNode() === document, slot: el.slot });
      return id;
    },
    reset(id) { widgets[id].checked = false; seen.resets++; },
    getResponse() { return ''; },
    remove() {},
  };
})();`;

let capture;
let siteverify;
let edge;
let storefront;
let browser;
let admin;

async function putSku(sku, body) {
  const r = await admin.put(`/v1/shops/${SHOP}/skus/${sku}`, { url: `${storefront.url}/`, eta: null, ...body });
  assert.equal(r.status, 200, r.text);
}

/** Sets a SKU's stock through the signed inventory feed. */
let lastUpdate = Date.now();
async function stock(sku, available) {
  lastUpdate = Math.max(Date.now(), lastUpdate + 1000);
  const body = JSON.stringify({ sku, available, updated_at: new Date(lastUpdate).toISOString() });
  const r = await api(edge, null).post(`/v1/shops/${SHOP}/webhooks/inventory`, body, standardHeaders(body, INVENTORY_SECRET));
  assert.equal(r.status, 200, r.text);
}

async function queue(sku) {
  const r = await admin.get(`/v1/shops/${SHOP}/skus/${sku}/queue`);
  assert.equal(r.status, 200, r.text);
  return r.json.entries;
}

/** A fresh page on `path`, with browser errors collected for failure messages. */
async function open(path, { route } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
  if (route) await route(page);
  await page.goto(storefront.url + path, { waitUntil: 'load' });
  return { page, context, problems, widget: page.locator('[data-restock-widget]').first() };
}

/** A page on the storefront's origin with `body` (which installs the widget), `<html lang>` = `lang`. */
let pages = 0;
async function openHtml(body, { route, lang = 'en' } = {}) {
  const path = `/custom-${++pages}`;
  const html = `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>Shop</title></head>`
    + `<body><main><h1>Product</h1>${body}</main></body></html>`;
  storefront.page(path, html);
  return open(path, { route });
}

/** The install tag for `sku` of the demo shop, with more attributes in `extra`. */
const installTag = (sku, extra = '', shop = SHOP) => `<script async src="${edge.url}/widget.js" data-shop="${shop}" data-sku="${sku}" ${extra}></script>`;

/** Holds the wasm back until `release()` (the widget then has only the loader's plain form). */
function holdWasm() {
  let release;
  const held = new Promise((ok) => { release = ok; });
  const route = (p) => p.route('**/widget/restock_widget_bg.wasm*', async (r) => { await held; await r.continue(); });
  return { route, release };
}

/** Whether the wasm app has taken over the first widget. */
const tookOver = (page) => page.evaluate(() => performance.getEntriesByName('restock:app').length > 0);
const waitTakeover = (page) => page.waitForFunction(() => performance.getEntriesByName('restock:app').length > 0, null, { timeout: 20000 });

/** Waits until `locator` has `text`, with what it shows and the browser's problems on failure. */
async function shows(locator, text, problems = [], timeout = 15000) {
  await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout }).catch(async (e) => {
    const got = await locator.first().textContent().catch(() => null);
    throw new Error(`expected ${JSON.stringify(text)}, it shows ${JSON.stringify(got)}; browser: ${JSON.stringify(problems)}\n${e.message}`);
  });
}

/** Waits until every widget on the page is the wasm app (only the app's status has a `.said` span). */
async function allTookOver(page, problems = []) {
  const all = () => [...document.querySelectorAll('[data-restock-widget],[data-restock-sku]')].every((h) => h.shadowRoot?.querySelector('.said'));
  const which = () => [...document.querySelectorAll('[data-restock-widget],[data-restock-sku]')]
    .map((h) => `${h.getAttribute('data-restock-sku') ?? 'the tag\'s'}: ${h.shadowRoot?.querySelector('.said') ? 'app' : 'plain form'}`);
  await page.waitForFunction(all, null, { timeout: 20000 }).catch(async (e) => {
    throw new Error(`not every widget took over: ${JSON.stringify(await page.evaluate(which))}; browser: ${JSON.stringify(problems)}\n${e.message}`);
  });
}

/**
 * What a shopper sees of the widget in `host` (a selector), as laid out now: every visible input,
 * select and button (a checkbox by its label, which is what one taps) lies inside the card
 * `.restock` and the card inside the viewport (1 px of rounding allowed); the email and phone fields
 * are at least 120 px wide, the phone number at least as wide as its country select, and every control
 * at least 40 px tall. Returns what is wrong, each line naming `where`, the control and its rect.
 */
async function layoutProblems(page, host, where) {
  const { card, viewport, controls } = await page.evaluate((sel) => {
    const root = document.querySelector(sel).shadowRoot;
    const rect = (el) => {
      const { left, top, right, bottom, width, height } = el.getBoundingClientRect();
      return { left, top, right, bottom, width, height };
    };
    return {
      card: rect(root.querySelector('.restock')),
      viewport: document.documentElement.clientWidth,
      controls: [...root.querySelectorAll('input, select, button')]
        .filter((el) => !el.closest('.hp') && el.checkVisibility({ visibilityProperty: true }))
        .map((el) => {
          const name = el.name ? `${el.localName}[name=${el.name}]` : el.className ? `${el.localName}.${el.className}` : `${el.localName}[type=${el.type}]`;
          const box = el.type === 'checkbox' ? el.closest('label') : el;
          return { name: box === el ? name : `the label of ${name}`, type: el.type, rect: rect(box) };
        }),
    };
  }, host);
  const px = (r) => `${Math.round(r.width)}×${Math.round(r.height)} px at x ${Math.round(r.left)}…${Math.round(r.right)}, y ${Math.round(r.top)}…${Math.round(r.bottom)}`;
  const found = [];
  const wrong = (what) => found.push(`${where}: ${what}`);
  if (card.left < -1 || card.right > viewport + 1) wrong(`the card (${px(card)}) is wider than the ${viewport} px viewport`);
  for (const c of controls) {
    const r = c.rect;
    if (r.left < card.left - 1 || r.right > card.right + 1 || r.top < card.top - 1 || r.bottom > card.bottom + 1) {
      wrong(`${c.name} (${px(r)}) sticks out of the card (${px(card)})`);
    }
    if ((c.type === 'email' || c.type === 'tel') && r.width < 120) wrong(`${c.name} is ${Math.round(r.width)} px wide, under 120 (${px(r)})`);
    if (r.height < 40) wrong(`${c.name} is ${Math.round(r.height)} px tall, under 40 (${px(r)})`);
  }
  const phone = controls.find((c) => c.name === 'input[name=phone]');
  const country = controls.find((c) => c.name === 'select[name=country]');
  if (phone && country && phone.rect.width < country.rect.width) {
    wrong(`input[name=phone] (${px(phone.rect)}) is narrower than select[name=country] (${px(country.rect)})`);
  }
  if (!phone || !country) wrong(`no phone row among ${JSON.stringify(controls.map((c) => c.name))}`);
  return found;
}

/** axe-core inside the page, scoped to the widget host (axe walks open shadow roots). */
async function axe(page, selector) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate((sel) => window.axe.run({ include: [[sel]] }, { resultTypes: ['violations'] }), selector);
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('widget on the demo storefront', () => {
  before(async () => {
    capture = await startCapture();
    siteverify = await startSiteverify();
    edge = await startEdge({
      vars: {
        EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'k', LINK_SECRET: 'browser-link-secret', DEV_MODE: 'true',
        TURNSTILE_API_BASE: siteverify.url, KLAVIYO_API_BASE: capture.url,
      },
    });
    storefront = await startStorefront({ port: 0, edge: edge.url });
    admin = api(edge);
    const shop = await admin.put(`/v1/shops/${SHOP}`, {
      name: 'Demo Outfitters',
      from_email: 'hello@demo-outfitters.test',
      allowed_origins: [storefront.url],
      inventory_webhook_secrets: [INVENTORY_SECRET],
      hold_hours: 24,
    });
    assert.equal(shop.status, 200, shop.text);
    await putSku('TEE-BLK-M', { title: 'Classic Tee — Black / M', mode: 'restock' });
    await putSku('TEE-BLK-L', { title: 'Classic Tee — Black / L', mode: 'backorder' });
    await putSku('TEE-BLK-S', { title: 'Classic Tee — Black / S', mode: 'restock', url: `${storefront.url}/?variant=${VARIANT.S}` });
    await putSku('HOODIE-PRE', { title: 'Everyday Hoodie', mode: 'preorder', eta: { earliest: '2026-12-09', latest: '2026-12-10' } });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await storefront?.close().catch(() => {});
    await edge?.stop();
    await capture?.close();
    await siteverify?.close();
  });

  it('notify me: a shopper joins and sees "You\'re #1 in line"; focus moves to the status; no axe violations', async () => {
    const { page, context, problems, widget } = await open('/');
    try {
      await shows(widget.getByTestId('title'), "Notify me when it's back", problems, 20000);
      assert.deepEqual(await axe(page, '[data-restock-widget]'), [], 'axe: the form');
      const email = widget.getByLabel('Email', { exact: true });
      await email.fill('not-an-email');
      await email.press('Enter'); // keyboard submit
      await shows(widget.locator('#restock-email-error'), 'Please enter a valid email address.', problems);
      assert.equal(await email.getAttribute('aria-invalid'), 'true');
      await email.fill('shopper@example.com');
      await widget.getByRole('button', { name: 'Notify me' }).click();
      await shows(widget.getByTestId('position'), "You're #1 in line", problems);
      await shows(widget.getByTestId('status'), "You're on the list", problems);
      const focused = await page.evaluate(() => document.querySelector('[data-restock-widget]').shadowRoot.activeElement?.getAttribute('data-testid'));
      assert.equal(focused, 'status', 'focus moves to the status after submit');
      assert.deepEqual(await axe(page, '[data-restock-widget]'), [], 'axe: after joining');
      assert.deepEqual((await queue('TEE-BLK-M')).map((e) => [e.email, e.status, e.position]), [['shopper@example.com', 'waiting', 1]]);
    } finally {
      await context.close();
    }
  });

  it('pre-order and backorder by variant; a signup in flight goes to the variant the shopper saw', async () => {
    let release;
    const held = new Promise((ok) => { release = ok; });
    const { page, context, problems, widget } = await open('/', {
      // Hold the signup request until the shopper has switched to another size.
      route: (p) => p.route('**/skus/TEE-BLK-M/waitlist', async (route) => { await held; await route.continue(); }),
    });
    try {
      const hoodie = page.locator('[data-restock-sku="HOODIE-PRE"]');
      await shows(hoodie.getByTestId('title'), 'Pre-order — ships the week of December 7', problems, 20000);
      await shows(hoodie.getByRole('button'), 'Reserve mine', problems);
      await shows(widget.getByTestId('title'), "Notify me when it's back", problems);
      await widget.getByLabel('Email', { exact: true }).fill('inflight@example.com');
      await widget.getByRole('button', { name: 'Notify me' }).click();
      await shows(widget.getByTestId('status'), 'Joining…', problems);
      await page.locator('label:has(input[value=L])').click();
      await shows(widget.getByTestId('title'), 'Backorder', problems);
      await shows(widget.locator('button[type=submit]'), 'Join the list', problems);
      assert.equal(await widget.getByLabel('Email', { exact: true }).inputValue(), 'inflight@example.com', 'the typed email stays');
      release();
      await eventually(async () => (await queue('TEE-BLK-M')).some((e) => e.email === 'inflight@example.com'), { what: 'signup reached TEE-BLK-M' });
      assert.deepEqual(await queue('TEE-BLK-L'), [], 'nothing went to the variant switched to');
      // A size the map has but the shop does not sell through the waitlist (no SKU configured): hidden.
      await page.locator('label:has(input[value=XL])').click();
      await widget.locator('section').waitFor({ state: 'hidden' });
    } finally {
      await context.close();
    }
  });

  it('a bare tag in <head> on a Shopify product page: the variants from the page, the widget after the product form, shown only for a variant that cannot be bought', async () => {
    await putSku('AUTO-OUT', { title: 'Auto Tee — sold out', mode: 'restock' });
    await putSku('AUTO-BACK', { title: 'Auto Tee — backorder', mode: 'backorder' });
    await putSku('AUTO-IN', { title: 'Auto Tee — in stock', mode: 'restock' });
    await stock('AUTO-IN', 5);
    const variants = [{ id: 2001, sku: 'AUTO-OUT' }, { id: 2002, sku: 'AUTO-BACK' }, { id: 2003, sku: 'AUTO-IN' }, { id: 2004, sku: '' }];
    // What Shopify and themes put on a product page: no data-sku, no variant map on the tag.
    const product = ({ head = '', body = '' }) => '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Auto Tee</title>'
      + `${head}<script async src="${edge.url}/widget.js" data-shop="${SHOP}"></script></head><body><main><h1>Auto Tee</h1>`
      + '<form action="/cart/add" method="post" id="product-form"><select name="id"><option value="2001">Black</option>'
      + '<option value="2002">Grey</option><option value="2003">White</option></select>'
      + `<button type="submit" name="add">Add to cart</button></form>${body}<p>Heavyweight cotton.</p></main></body></html>`;
    storefront.page('/products/auto-analytics', product({
      head: `<script>window.ShopifyAnalytics = { meta: { product: { id: 7, variants: ${JSON.stringify(variants)} } } };</script>`,
    }));
    storefront.page('/products/auto-json', product({
      body: `<script type="application/json" data-product-json>${JSON.stringify({ product: { id: 7, variants } })}</script>`,
    }));
    for (const source of ['analytics', 'json']) {
      const { page, context, problems, widget } = await open(`/products/auto-${source}`);
      try {
        await shows(widget.getByTestId('title'), "Notify me when it's back", problems, 20000);
        const placed = await page.evaluate(() => document.querySelector('#product-form').nextElementSibling?.hasAttribute('data-restock-widget'));
        assert.equal(placed, true, `${source}: the widget sits right after the product form`);
        await page.selectOption('select[name=id]', '2002');
        await shows(widget.getByTestId('title'), 'Backorder', problems);
        await page.selectOption('select[name=id]', '2003');
        await widget.locator('section').waitFor({ state: 'hidden' });
        await page.selectOption('select[name=id]', '2001');
        await widget.getByLabel('Email', { exact: true }).fill(`auto-${source}@example.com`);
        await widget.locator('button[type=submit]').click();
        await shows(widget.getByTestId('position'), /You're #\d+ in line/, problems);
      } finally {
        await context.close();
      }
    }
    assert.deepEqual((await queue('AUTO-OUT')).map((e) => e.email), ['auto-analytics@example.com', 'auto-json@example.com']);
  });

  it('a dark page: the widget follows its color-scheme (fields, buttons, the error red) with no axe violations, and fits at 320 and 1440 px', async () => {
    storefront.page('/dark', '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="color-scheme" content="dark">'
      + '<title>Night shop</title><style>body { background: #121212; color: #e5e5e5; font-family: Georgia, serif; }</style></head>'
      + `<body><main><h1>Night Tee</h1>${installTag('TEE-BLK-M')}</main></body></html>`);
    const { page, context, problems, widget } = await open('/dark');
    try {
      await shows(widget.getByTestId('title'), "Notify me when it's back", problems, 20000);
      await waitTakeover(page);
      await widget.getByLabel('Email', { exact: true }).fill('not-an-email');
      await widget.locator('button[type=submit]').click();
      await shows(widget.locator('#restock-email-error'), 'Please enter a valid email address.', problems);
      const look = await page.evaluate(() => {
        const root = document.querySelector('[data-restock-widget]').shadowRoot;
        const style = (sel) => getComputedStyle(root.querySelector(sel));
        return {
          font: style('.restock').fontFamily,
          text: style('.heading').color,
          button: style('button[type=submit]').backgroundColor,
          field: style('#restock-email').backgroundColor,
          error: style('#restock-email-error').color,
        };
      });
      const light = (rgb) => { const [r, g, b] = rgb.match(/\d+/g).map(Number); return 0.3 * r + 0.59 * g + 0.11 * b > 128; };
      assert.match(look.font, /Georgia/, 'the page\'s font');
      assert.ok(light(look.text), `text follows the page: ${look.text}`);
      assert.ok(light(look.button), `the button stands out on a dark page: ${look.button}`);
      assert.ok(!light(look.field), `dark fields: ${look.field}`);
      assert.ok(light(look.error), `a light error red: ${look.error}`);
      assert.deepEqual(await axe(page, '[data-restock-widget]'), [], 'axe: dark page');
      // Another font (Georgia) and the error line shown: still every control inside the card.
      const found = [];
      for (const [width, height] of [[320, 640], [1440, 900]]) {
        await page.setViewportSize({ width, height });
        found.push(...await layoutProblems(page, '[data-restock-widget]', `dark page, ${width} px, app`));
      }
      assert.equal(found.length, 0, found.join('\n'));
    } finally {
      await context.close();
    }
  });

  it('phone with country: the page\'s country is chosen and a national number goes out with its dial code, in the plain form and in the app', async () => {
    await putSku('PHONE-A', { title: 'Phone A', mode: 'restock' });
    const pages = [
      // The plain form (the wasm held back): Austria from <html lang="de-AT">.
      { held: true, head: '', country: 'AT43', pick: null, typed: '0664 1234567', sent: '+43664 1234567' },
      // The app: Shopify's market (Switzerland) wins over the language's region; the shopper picks Germany.
      { held: false, head: '<script>window.Shopify = { country: "CH" };</script>', country: 'CH41', pick: 'DE49', typed: '0151 2345678', sent: '+49151 2345678' },
    ];
    for (const [i, p] of pages.entries()) {
      const wasm = holdWasm();
      const { page, context, problems, widget } = await openHtml(p.head + installTag('PHONE-A'), { lang: 'de-AT', route: p.held ? wasm.route : undefined });
      try {
        await shows(widget.getByTestId('title'), 'Benachrichtigen, wenn wieder verfügbar', problems, 20000);
        if (!p.held) await waitTakeover(page);
        assert.equal(await tookOver(page), !p.held);
        const country = widget.locator('select[name=country]');
        assert.equal(await country.inputValue(), p.country, 'the page\'s country is chosen');
        assert.equal(await country.getAttribute('aria-label'), 'Ländervorwahl');
        if (p.pick) await country.selectOption(p.pick);
        await widget.getByLabel('E-Mail', { exact: true }).fill(`phone${i}@example.com`);
        await widget.locator('#restock-phone').fill(p.typed);
        await widget.locator('input[name=sms_consent]').check();
        const sent = page.waitForRequest((r) => r.url().endsWith('/skus/PHONE-A/waitlist') && r.method() === 'POST');
        await widget.locator('button[type=submit]').click();
        assert.equal((await sent).postDataJSON().phone, p.sent);
        await shows(widget.getByTestId('status'), 'Sie stehen auf der Liste', problems);
        assert.deepEqual(await axe(page, '[data-restock-widget]'), [], 'axe: with the country select');
      } finally {
        await context.close();
      }
    }
  });

  it('marketing consent: a separate, unticked checkbox only where the shop asks for it; ticked, it is sent with its wording, in the plain form and in the app', async () => {
    const MKT = 'mkt';
    const made = await admin.put(`/v1/shops/${MKT}`, {
      name: 'Marketing Goods', from_email: 'hi@mkt.example', allowed_origins: [storefront.url],
      klaviyo: { api_key: 'pk_browser_test', marketing: true },
    });
    assert.equal(made.status, 200, made.text);
    assert.equal((await admin.put(`/v1/shops/${MKT}/skus/MUG`, { title: 'Mug', mode: 'restock' })).status, 200);
    for (const held of [true, false]) {
      const form = held ? 'plain form' : 'app';
      const wasm = holdWasm();
      const { page, context, problems } = await openHtml(
        `<div data-restock-sku="MUG"></div><div data-restock-sku="TEE-BLK-M" data-restock-shop="${SHOP}"></div><script async src="${edge.url}/widget.js" data-shop="${MKT}"></script>`,
        { route: held ? wasm.route : undefined });
      const widget = page.locator('[data-restock-sku="MUG"]');
      try {
        await shows(widget.getByTestId('title'), "Notify me when it's back", problems, 20000);
        if (!held) await waitTakeover(page);
        const box = widget.getByLabel('Also email me news and offers from this shop. Unsubscribe anytime.');
        await box.waitFor({ state: 'visible', timeout: 15000 });
        assert.equal(await box.isChecked(), false, `${form}: unticked by default`);
        // The demo shop does not ask: no checkbox there.
        const other = page.locator('[data-restock-sku="TEE-BLK-M"]');
        await shows(other.getByTestId('title'), "Notify me when it's back", problems, 20000);
        assert.equal(await other.locator('.marketing').isVisible(), false, `${form}: hidden where the shop does not ask`);
        for (const [width, height] of [[390, 844], [1280, 900]]) {
          await page.setViewportSize({ width, height });
          const wrong = await layoutProblems(page, '[data-restock-sku="MUG"]', `marketing, ${width} px, ${form}`);
          assert.deepEqual(wrong, []);
        }
        await widget.getByLabel('Email', { exact: true }).fill(`mkt-${held ? 'plain' : 'app'}@example.com`);
        await box.check();
        const sent = page.waitForRequest((r) => r.url().endsWith('/skus/MUG/waitlist') && r.method() === 'POST');
        await widget.locator('button[type=submit]').click();
        const body = (await sent).postDataJSON();
        assert.equal(body.marketing_consent, true, `${form}: ${JSON.stringify(body)}`);
        assert.equal(body.marketing_consent_text, 'Also email me news and offers from this shop. Unsubscribe anytime.');
        assert.equal(body.consent_text, undefined, 'the SMS wording is not claimed');
        await shows(widget.getByTestId('position'), "You're #" + (held ? 1 : 2) + ' in line', problems);
        assert.deepEqual(await axe(page, '[data-restock-sku="MUG"]'), [], `axe: with the marketing checkbox (${form})`);
      } finally {
        await context.close();
      }
    }
  });

  it('what a shopper sees from 320 to 1440 px, in every mode, plain form and app: each control inside its card, fields wide enough to read, controls tall enough to tap', async () => {
    const modes = [
      { mode: 'restock', host: '[data-restock-widget]', size: 'M', title: "Notify me when it's back", action: 'Notify me' },
      { mode: 'backorder', host: '[data-restock-widget]', size: 'L', title: 'Backorder', action: 'Join the list' },
      { mode: 'pre-order', host: '[data-restock-sku="HOODIE-PRE"]', title: 'Pre-order', action: 'Reserve mine' },
    ];
    const found = [];
    for (const app of [false, true]) {
      const form = app ? 'app' : 'plain form';
      const wasm = holdWasm();
      const { page, context, problems } = await open('/', { route: app ? undefined : wasm.route });
      try {
        if (app) await allTookOver(page, problems);
        for (const m of modes) {
          if (m.size) await page.locator(`label:has(input[value=${m.size}])`).click();
          const widget = page.locator(m.host);
          await shows(widget.getByTestId('title'), m.title, problems, 20000);
          await shows(widget.locator('button[type=submit]'), m.action, problems);
          for (const [width, height] of [[320, 640], [390, 844], [1280, 900], [1440, 900]]) {
            await page.setViewportSize({ width, height });
            found.push(...await layoutProblems(page, m.host, `${m.mode}, ${width} px, ${form}`));
          }
        }
        assert.equal(await tookOver(page), app, app ? 'the app took over' : 'the wasm is still held back');
      } finally {
        await context.close();
      }
    }
    assert.equal(found.length, 0, found.join('\n'));
  });

  it('German page: the widget speaks German, dates included', async () => {
    const { page, context, problems, widget } = await open('/de/');
    try {
      await shows(widget.getByTestId('title'), 'Benachrichtigen, wenn wieder verfügbar', problems, 20000);
      await shows(widget.locator('label[for=restock-email]'), 'E-Mail', problems);
      const hoodie = page.locator('[data-restock-sku="HOODIE-PRE"]');
      await shows(hoodie.getByTestId('title'), 'Vorbestellung — Versand in der Woche vom 7. Dezember', problems);
      await widget.getByLabel('E-Mail', { exact: true }).fill('kunde@example.com');
      await widget.getByRole('button', { name: 'Benachrichtigen' }).click();
      await shows(widget.getByTestId('position'), 'Sie sind Nr. 3 in der Warteschlange', problems);
    } finally {
      await context.close();
    }
  });

  it('Spanish, Dutch and Japanese pages: the widget speaks the page\'s language, in the plain form and in the app', async () => {
    await putSku('LANG-TEE', { title: 'Lang Tee', mode: 'restock' });
    const langs = [
      { lang: 'es-MX', title: 'Avísame cuando vuelva', action: 'Avísame', email: 'Correo electrónico', position: 'Eres el n.º 1 en la fila' },
      { lang: 'nl', title: 'Laat het me weten als het terug is', action: 'Houd me op de hoogte', email: 'E-mail', position: 'Je bent nr. 2 in de rij' },
      { lang: 'ja-JP', title: '再入荷のお知らせ', action: '通知を受け取る', email: 'メールアドレス', position: '現在3番目です' },
    ];
    for (const l of langs) {
      const { page, context, problems, widget } = await openHtml(installTag('LANG-TEE'), { lang: l.lang });
      try {
        await shows(widget.getByTestId('title'), l.title, problems, 20000);
        await shows(widget.locator('button[type=submit]'), l.action, problems);
        await waitTakeover(page);
        await shows(widget.getByTestId('title'), l.title, problems);
        await widget.getByLabel(l.email, { exact: true }).fill(`lang-${l.lang}@example.com`);
        await widget.locator('button[type=submit]').click();
        await shows(widget.getByTestId('position'), l.position, problems);
        assert.equal(await widget.locator('section').getAttribute('lang'), l.lang.split('-')[0]);
      } finally {
        await context.close();
      }
    }
  });

  it('two placeholders on one page: two widgets, each for its SKU; the place in line is kept up to date while the page is open', async () => {
    await putSku('LIVE-A', { title: 'Live A', mode: 'restock' });
    const ahead = await api(edge, null).post(`/v1/shops/${SHOP}/skus/LIVE-A/waitlist`, { email: 'ahead@example.com' });
    assert.equal(ahead.status, 201, ahead.text);
    const { page, context, problems } = await openHtml(
      `<div data-restock-sku="LIVE-A"></div><div data-restock-sku="HOODIE-PRE"></div><script async src="${edge.url}/widget.js" data-shop="${SHOP}"></script>`);
    try {
      const a = page.locator('[data-restock-sku="LIVE-A"]');
      const hoodie = page.locator('[data-restock-sku="HOODIE-PRE"]');
      await shows(a.getByTestId('title'), "Notify me when it's back", problems, 20000);
      await shows(hoodie.getByTestId('title'), 'Pre-order — ships the week of December 7', problems);
      assert.equal(await page.locator('[data-restock-widget]').count(), 0, 'a bare tag on a page with no product adds no widget of its own');
      await a.getByLabel('Email', { exact: true }).fill('second@example.com');
      await a.locator('button[type=submit]').click();
      await shows(a.getByTestId('position'), "You're #2 in line", problems);
      assert.equal(await hoodie.getByTestId('position').textContent(), '', 'the other widget is untouched');
      assert.equal(await hoodie.getByLabel('Email', { exact: true }).inputValue(), '');
      // The shopper ahead leaves the list; the open page catches up on its own (it asks every 15 s).
      const erased = await admin.post(`/v1/shops/${SHOP}/privacy/erase`, { email: 'ahead@example.com' });
      assert.equal(erased.status, 200, erased.text);
      await shows(a.getByTestId('position'), "You're #1 in line", problems, 40000);
      assert.deepEqual((await queue('HOODIE-PRE')).filter((e) => e.email === 'second@example.com'), []);
    } finally {
      await context.close();
    }
  });

  it('edge unreachable: an honest error, the input kept, and "Try again" works', async () => {
    let down = true;
    const { context, problems, widget } = await open('/', {
      route: (p) => p.route('**/waitlist', (route) => (down ? route.abort('connectionrefused') : route.continue())),
    });
    try {
      await widget.getByLabel('Email', { exact: true }).fill('offline@example.com', { timeout: 20000 });
      await widget.getByRole('button', { name: 'Notify me' }).click();
      await shows(widget.getByTestId('status'), "We couldn't reach the waitlist", problems);
      assert.equal(await widget.getByLabel('Email', { exact: true }).inputValue(), 'offline@example.com');
      down = false;
      await widget.getByRole('button', { name: 'Try again' }).click();
      await shows(widget.getByTestId('position'), "You're #4 in line", problems);
    } finally {
      await context.close();
    }
  });

  it('a CSP without wasm-unsafe-eval: the plain fallback form still joins', async () => {
    const { context, widget } = await open('/csp/');
    try {
      const form = widget.getByTestId('restock-form');
      await form.locator('input[name=email]').fill('csp@example.com', { timeout: 20000 });
      await form.locator('button[type=submit]').click();
      await shows(widget.getByTestId('position'), "You're #5 in line");
    } finally {
      await context.close();
    }
  });

  it('instant form: localized, accessible and working before the wasm; the app takes over keeping what was typed and the focus', async () => {
    await putSku('TAKE-A', { title: 'Takeover A', mode: 'restock' });
    const wasm = holdWasm();
    const { page, context, problems, widget } = await openHtml(installTag('TAKE-A'), { lang: 'fr-FR', route: wasm.route });
    try {
      // The loader's own form, before any wasm: French, the same wording as locale.rs.
      await shows(widget.getByTestId('title'), "M'avertir du retour en stock", problems, 20000);
      await shows(widget.locator('button[type=submit]'), "M'avertir", problems);
      await shows(widget.locator('label[for=restock-quantity]'), 'Quantité', problems);
      await shows(widget.locator('.consent'), 'Répondez STOP pour vous désinscrire.', problems);
      assert.equal(await widget.locator('input[name=sms_consent]').isChecked(), false, 'SMS consent starts unticked');
      assert.equal(await tookOver(page), false, 'the wasm is still held back');
      assert.deepEqual(await axe(page, '[data-restock-widget]'), [], 'axe: the plain form');
      // Inline validation in the plain form.
      await widget.getByLabel('E-mail', { exact: true }).fill('nope');
      await widget.locator('button[type=submit]').click();
      await shows(widget.locator('#restock-email-error'), 'Veuillez saisir une adresse e-mail valide.', problems);
      // The shopper types, and is in the phone field when the app arrives.
      await widget.getByLabel('E-mail', { exact: true }).fill('typed@example.com');
      await widget.locator('#restock-phone').pressSequentially('+33 6 12'); // real key presses: the caret ends after them
      wasm.release();
      await waitTakeover(page);
      assert.equal(await widget.locator('form').count(), 1, 'one form after the takeover');
      assert.equal(await widget.getByLabel('E-mail', { exact: true }).inputValue(), 'typed@example.com');
      assert.equal(await widget.locator('#restock-phone').inputValue(), '+33 6 12');
      const focused = await page.evaluate(() => document.querySelector('[data-restock-widget]').shadowRoot.activeElement?.id);
      assert.equal(focused, 'restock-phone', 'focus stays in the field the shopper was typing in');
      await page.keyboard.type('34 56 78'); // typing goes on where it was
      assert.equal(await widget.locator('#restock-phone').inputValue(), '+33 6 1234 56 78');
      await widget.locator('#restock-phone').fill('');
      await widget.locator('button[type=submit]').click();
      await shows(widget.getByTestId('position'), 'Vous êtes n° 1 dans la file', problems);
      assert.deepEqual(await axe(page, '[data-restock-widget]'), [], 'axe: the app after joining');
      assert.deepEqual((await queue('TAKE-A')).map((e) => e.email), ['typed@example.com']);
    } finally {
      await context.close();
    }
  });

  it('a signup the plain form sent (even in flight) is the signup: the app shows it and sends nothing again', async () => {
    await putSku('TAKE-B', { title: 'Takeover B', mode: 'restock' });
    await api(edge, null).post(`/v1/shops/${SHOP}/skus/TAKE-B/waitlist`, { email: 'first@example.com' });
    const wasm = holdWasm();
    let releasePost;
    const postHeld = new Promise((ok) => { releasePost = ok; });
    const posts = [];
    const { page, context, problems, widget } = await openHtml(installTag('TAKE-B', 'data-locale="de"'), {
      route: async (p) => {
        await wasm.route(p);
        await p.route('**/skus/TAKE-B/waitlist', async (r) => { posts.push(r.request().postDataJSON()); await postHeld; await r.continue(); });
      },
    });
    try {
      await widget.getByLabel('E-Mail', { exact: true }).fill('early@example.com', { timeout: 20000 });
      await widget.getByLabel('Menge').fill('2');
      await widget.getByRole('button', { name: 'Benachrichtigen' }).click();
      await shows(widget.getByTestId('status'), 'Wird eingetragen…', problems);
      // The wasm arrives while the signup is in flight: the plain form stays until it has its answer.
      const wasmLoaded = page.waitForResponse((r) => r.url().includes('restock_widget_bg.wasm'));
      wasm.release();
      await wasmLoaded;
      await page.waitForTimeout(300);
      assert.equal(await tookOver(page), false, 'no takeover while the signup is in flight');
      releasePost();
      await waitTakeover(page);
      await shows(widget.getByTestId('position'), 'Sie sind Nr. 2 in der Warteschlange', problems);
      await shows(widget.getByTestId('status'), 'Sie stehen auf der Liste', problems);
      assert.equal(await widget.getByTestId('restock-form').isVisible(), false, 'joined: no form');
      await page.waitForTimeout(300);
      assert.equal(posts.length, 1, 'one signup request');
      assert.deepEqual(posts[0], { email: 'early@example.com', locale: 'de', quantity: 2 });
      assert.deepEqual((await queue('TAKE-B')).map((e) => [e.email, e.position]), [['first@example.com', 1], ['early@example.com', 2]]);
    } finally {
      await context.close();
    }
  });

  it('Turnstile when the shop enables it: the challenge in the form, its token sent; required, failed (reset) and unavailable (retry) explained', async () => {
    const gate = await admin.put(`/v1/shops/${GATE}`, {
      name: 'Gated', from_email: 'hello@gate.test', allowed_origins: [storefront.url], turnstile: { secret: TS_SECRET, hostnames: [] },
    });
    assert.equal(gate.status, 200, gate.text);
    const sku = await admin.put(`/v1/shops/${GATE}/skus/GATE-TEE`, { title: 'Gated Tee', url: `${storefront.url}/`, mode: 'restock', eta: null });
    assert.equal(sku.status, 200, sku.text);
    const wasm = holdWasm();
    const bodies = [];
    const { page, context, problems, widget } = await openHtml(installTag('GATE-TEE', `data-turnstile-sitekey="${TS_SITEKEY}"`, GATE), {
      lang: 'en-GB',
      route: async (p) => {
        await wasm.route(p);
        await p.route('https://challenges.cloudflare.com/turnstile/v0/api.js*', (r) => r.fulfill({ contentType: 'text/javascript', body: FAKE_TURNSTILE }));
        await p.route('**/skus/GATE-TEE/waitlist', (r) => { bodies.push(r.request().postDataJSON()); return r.continue(); });
      },
    });
    const challenge = page.locator('[data-turnstile]');
    const solve = async (token) => {
      await page.evaluate((tok) => { window.__tsTokens = [tok]; }, token);
      await challenge.check();
    };
    const status = widget.getByTestId('status');
    try {
      await challenge.waitFor({ timeout: 20000 });
      const ts = await page.evaluate(() => window.__ts);
      assert.match(ts.src, /^https:\/\/challenges\.cloudflare\.com\/turnstile\/v0\/api\.js\?render=explicit$/);
      assert.deepEqual(ts.rendered, [{ sitekey: TS_SITEKEY, language: 'en', lightDom: true, slot: 'turnstile' }]);
      const inForm = () => page.evaluate(() => {
        const box = document.querySelector('[data-turnstile]').closest('[slot=turnstile]');
        return box.assignedSlot?.closest('form')?.getAttribute('data-testid') ?? null;
      });
      assert.equal(await inForm(), 'restock-form', 'the challenge shows inside the form');
      // The plain form (wasm held back): no token yet → 422 turnstile_required, said in words.
      await widget.getByLabel('Email', { exact: true }).fill('gated@example.com');
      await widget.locator('button[type=submit]').click();
      await shows(status, 'Please complete the security check, then send again.', problems);
      // A refused token → 403 turnstile_failed: the challenge is reset for a fresh token.
      await solve('bad-1');
      await widget.locator('button[type=submit]').click();
      await shows(status, 'The security check failed. Please complete it again, then send again.', problems);
      assert.equal(await challenge.isChecked(), false, 'the challenge was reset');
      assert.equal(await page.evaluate(() => window.__ts.resets), 1);
      // The app takes over; the same challenge element stays in the (new) form.
      wasm.release();
      await waitTakeover(page);
      assert.equal(await inForm(), 'restock-form');
      assert.equal(await page.evaluate(() => window.__ts.rendered.length), 1, 'rendered once');
      // siteverify down → 503 turnstile_unavailable: "try again in a moment", with a retry button.
      await solve('down-1');
      await widget.locator('button[type=submit]').click();
      await shows(status, "The security check isn't available right now. Please try again in a moment.", problems);
      await widget.getByRole('button', { name: 'Try again' }).waitFor();
      assert.equal(await challenge.isChecked(), false, 'reset after a spent token');
      await solve('ok-1');
      await widget.getByRole('button', { name: 'Try again' }).click();
      await shows(widget.getByTestId('position'), "You're #1 in line", problems);
      assert.deepEqual(bodies.map((b) => b.turnstile_token ?? null), [null, 'bad-1', 'down-1', 'ok-1']);
      assert.ok(siteverify.verified.includes('ok-1') && !siteverify.verified.includes(undefined), JSON.stringify(siteverify.verified));
      assert.deepEqual((await admin.get(`/v1/shops/${GATE}/skus/GATE-TEE/queue`)).json.entries.map((e) => e.email), ['gated@example.com']);
    } finally {
      await context.close();
    }
  });

  describe('stock held for the waitlist', () => {
    let claimUrl;

    it('reserved: every unit held → "Reserved for the waitlist until …"', async () => {
      const r = await api(edge, null).post(`/v1/shops/${SHOP}/skus/TEE-BLK-S/waitlist`, { email: 'claimer@example.com' });
      assert.equal(r.status, 201, r.text);
      await stock('TEE-BLK-S', 1);
      const offer = await capture.waitFor((reqs) => reqs.find((q) => q.path === '/emails' && kindOf(q.body) === 'restock_offer'
        && q.body.to?.[0] === 'claimer@example.com'));
      const tracked = `${offer.body.text}\n${offer.body.html}`.match(/https?:\/\/[^\s"'<>]+\/v1\/l\/[A-Za-z0-9_.-]+/);
      assert.ok(tracked, offer.body.text);
      const hop = await fetch(tracked[0], { redirect: 'manual' });
      claimUrl = hop.headers.get('location');
      assert.match(claimUrl ?? '', /restock_claim=/, `click redirect: ${hop.status} ${claimUrl}`);

      const { context, problems, widget } = await open(`/?variant=${VARIANT.S}`);
      try {
        // The time is written in the shopper's locale (en here: "2:05 PM" or "Tue 2:05 PM").
        await shows(widget.getByTestId('note'), /Reserved for the waitlist until .*\d{1,2}:\d{2}.* — join to be next/, problems, 20000);
        await shows(widget.getByTestId('title'), "Notify me when it's back", problems);
      } finally {
        await context.close();
      }
    });

    it('claim link: "This one is yours" and buying submits the product form with the variant', async () => {
      const { page, context, problems, widget } = await open(claimUrl.replace(storefront.url, ''));
      try {
        await shows(widget.getByTestId('title'), /This one is yours — reserved until /, problems, 20000);
        assert.equal(await widget.getByTestId('restock-form').isVisible(), false, 'no signup form while claiming');
        assert.deepEqual(await axe(page, '[data-restock-widget]'), [], 'axe: claim');
        await widget.getByRole('button', { name: 'Complete my purchase' }).click();
        await shows(page.locator('#cart-note'), `Added to cart: variant ${VARIANT.S}`, problems);
      } finally {
        await context.close();
      }
    });

    it('claim link after the hold ran out: "This reservation has ended" and the normal form', async () => {
      const r = await admin.post('/v1/dev/advance', { seconds: 25 * 3600 });
      assert.equal(r.status, 200, r.text);
      const { context, problems, widget } = await open(claimUrl.replace(storefront.url, ''));
      try {
        await shows(widget.getByTestId('note'), 'This reservation has ended.', problems, 20000);
        await widget.getByTestId('restock-form').waitFor({ state: 'visible' });
        assert.equal(await widget.getByTestId('buy').isVisible(), false);
      } finally {
        await context.close();
      }
    });
  });
});
