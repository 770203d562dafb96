// The widget in a real browser: the demo storefront installs it with one script tag (a Shopify-like
// product page with a size picker, plus a pre-order placeholder). One edge (dev clock, capture server as
// the email provider, signed links) and one headless Chromium (Debian) driven by playwright-core for the
// whole file; the scenarios run in order and each uses its own SKUs.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startStorefront } from '../demo/serve.mjs';
import { api, eventually, kindOf, ROOT, standardHeaders, startCapture, startEdge } from './support/harness.mjs';

const SHOP = 'demo';
const INVENTORY_SECRET = `whsec_${Buffer.from('demo-inventory-secret-key').toString('base64')}`;
const AXE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
// The demo page's variants (demo/index.html): 1001 S, 1002 M, 1003 L, 1004 XL.
const VARIANT = { S: '1001', M: '1002', L: '1003', XL: '1004' };

let capture;
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

/** Waits until `locator` has `text`, with what it shows and the browser's problems on failure. */
async function shows(locator, text, problems = [], timeout = 15000) {
  await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout }).catch(async (e) => {
    const got = await locator.first().textContent().catch(() => null);
    throw new Error(`expected ${JSON.stringify(text)}, it shows ${JSON.stringify(got)}; browser: ${JSON.stringify(problems)}\n${e.message}`);
  });
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
    edge = await startEdge({
      vars: { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'k', LINK_SECRET: 'browser-link-secret', DEV_MODE: 'true' },
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
  });

  it('notify me: a shopper joins and sees "You\'re #1 in line"; focus moves to the status; no axe violations', async () => {
    const { page, context, problems, widget } = await open('/');
    try {
      await shows(widget.getByTestId('title'), "Notify me when it's back", problems, 20000);
      assert.deepEqual(await axe(page, '[data-restock-widget]'), [], 'axe: the form');
      const email = widget.getByLabel('Email');
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
      await widget.getByLabel('Email').fill('inflight@example.com');
      await widget.getByRole('button', { name: 'Notify me' }).click();
      await shows(widget.getByTestId('status'), 'Joining…', problems);
      await page.locator('label:has(input[value=L])').click();
      await shows(widget.getByTestId('title'), 'Backorder', problems);
      await shows(widget.locator('button[type=submit]'), 'Join the list', problems);
      assert.equal(await widget.getByLabel('Email').inputValue(), 'inflight@example.com', 'the typed email stays');
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

  it('German page: the widget speaks German, dates included', async () => {
    const { page, context, problems, widget } = await open('/de/');
    try {
      await shows(widget.getByTestId('title'), 'Benachrichtigen, wenn wieder verfügbar', problems, 20000);
      await shows(widget.locator('label[for=restock-email]'), 'E-Mail', problems);
      const hoodie = page.locator('[data-restock-sku="HOODIE-PRE"]');
      await shows(hoodie.getByTestId('title'), 'Vorbestellung — Versand in der Woche vom 7. Dezember', problems);
      await widget.getByLabel('E-Mail').fill('kunde@example.com');
      await widget.getByRole('button', { name: 'Benachrichtigen' }).click();
      await shows(widget.getByTestId('position'), 'Sie sind Nr. 3 in der Warteschlange', problems);
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
      await widget.getByLabel('Email').fill('offline@example.com', { timeout: 20000 });
      await widget.getByRole('button', { name: 'Notify me' }).click();
      await shows(widget.getByTestId('status'), "We couldn't reach the waitlist", problems);
      assert.equal(await widget.getByLabel('Email').inputValue(), 'offline@example.com');
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
