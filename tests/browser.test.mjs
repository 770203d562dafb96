// The widget in a real browser: the demo storefront installs it with one script tag, a shopper
// joins the waitlist and sees their place in line. Headless Chromium (Debian) driven by playwright-core.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startStorefront } from '../demo/serve.mjs';
import { api, startEdge } from './support/harness.mjs';

const SKU = 'TEE-BLK-M';

let edge;
let storefront;
let browser;

describe('widget on the demo storefront', () => {
  before(async () => {
    edge = await startEdge({ vars: {} });
    storefront = await startStorefront({ port: 0, edge: edge.url });
    const admin = api(edge);
    const shop = await admin.put('/v1/shops/demo', {
      name: 'Demo Outfitters',
      from_email: 'hello@demo-outfitters.test',
      allowed_origins: [storefront.url],
      shopify_webhook_secrets: ['demo-shopify-secret'],
      inventory_webhook_secrets: [`whsec_${Buffer.from('demo-inventory-secret-key').toString('base64')}`],
      hold_hours: 24,
    });
    assert.equal(shop.status, 200, shop.text);
    const sku = await admin.put(`/v1/shops/demo/skus/${SKU}`, {
      title: 'Classic Tee — Black / M',
      url: `${storefront.url}/?sku=${SKU}`,
      mode: 'restock',
      eta: null,
      shopify_inventory_item_id: 40001,
    });
    assert.equal(sku.status, 200, sku.text);
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
  });

  it('a shopper joins the waitlist and sees "You\'re #1 in line"', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
    try {
      await page.goto(storefront.url, { waitUntil: 'load' });
      // The widget mounted after its script tag (the page also has a second placeholder widget).
      const widget = page.locator('[data-restock-widget]').first();
      const email = widget.locator('input[name=email]');
      await email.waitFor({ state: 'visible', timeout: 20000 });
      await email.fill('shopper@example.com');
      await widget.locator('button[type=submit]').click();
      await widget.locator('[data-testid=position]').filter({ hasText: "You're #1 in line" })
        .waitFor({ state: 'visible', timeout: 15000 })
        .catch(async (e) => {
          const text = await widget.locator('[data-testid=position]').textContent().catch(() => null);
          throw new Error(`position never showed "You're #1 in line" (it shows ${JSON.stringify(text)}); ` +
            `browser problems: ${JSON.stringify(problems)}\n${e.message}`);
        });
      // The signup really reached the edge's queue.
      const q = await api(edge).get(`/v1/shops/demo/skus/${SKU}/queue`);
      assert.equal(q.status, 200, q.text);
      assert.deepEqual(q.json.entries.map((e) => [e.email, e.status, e.position]), [['shopper@example.com', 'waiting', 1]]);
    } finally {
      await context.close();
    }
  });
});
