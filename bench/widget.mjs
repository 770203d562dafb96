// Benchmark (not a test): the storefront widget's weight and start-up in headless Chromium.
// Loads the demo storefront RUNS times (fresh browser context each, so nothing is cached) and prints
//   - the bytes of everything the widget loads (loader, glue, wasm), raw and gzip -9;
//   - the time from the loader script running ("restock:loader" mark) to the first widget being
//     interactive ("restock:ready", set by the wasm once it has its SKU's state): median, min, max.
// Prints figures; asserts nothing.
//   node bench/widget.mjs [runs=10]
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startStorefront } from '../demo/serve.mjs';
import { api, startEdge } from '../tests/support/harness.mjs';

const runs = Number(process.argv[2] ?? 10);
const edge = await startEdge({ vars: {} });
const storefront = await startStorefront({ port: 0, edge: edge.url });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const admin = api(edge);
  await admin.put('/v1/shops/demo', { name: 'Demo', from_email: 'hello@demo.test', allowed_origins: [storefront.url] });
  await admin.put('/v1/shops/demo/skus/TEE-BLK-M', { title: 'Classic Tee — Black / M', url: `${storefront.url}/`, mode: 'restock', eta: null });
  await admin.put('/v1/shops/demo/skus/HOODIE-PRE', { title: 'Everyday Hoodie', url: `${storefront.url}/`, mode: 'preorder', eta: null });

  const times = [];
  let assets = null;
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const bodies = new Map();
    page.on('response', async (r) => {
      const url = new URL(r.url());
      if (url.origin === edge.url && (url.pathname === '/widget.js' || url.pathname.startsWith('/widget/'))) {
        bodies.set(url.pathname, await r.body().catch(() => Buffer.alloc(0)));
      }
    });
    await page.goto(storefront.url, { waitUntil: 'load' });
    await page.waitForFunction(() => performance.getEntriesByName('restock:ready').length > 0, null, { timeout: 30000 });
    const ms = await page.evaluate(() => {
      const [loader] = performance.getEntriesByName('restock:loader');
      const [ready] = performance.getEntriesByName('restock:ready');
      return ready.startTime - loader.startTime;
    });
    times.push(ms);
    if (!assets) {
      await page.waitForTimeout(200);
      assets = [...bodies].map(([path, b]) => ({ path, raw: b.length, gz: gzipSync(b, { level: 9 }).length }));
    }
    await context.close();
  }

  console.log('widget assets (first load):');
  for (const a of assets) console.log(`  ${a.path.padEnd(36)} ${String(a.raw).padStart(8)} B raw ${String(a.gz).padStart(8)} B gzipped`);
  const total = assets.reduce((s, a) => s + a.gz, 0);
  console.log(`  ${'total'.padEnd(36)} ${String(assets.reduce((s, a) => s + a.raw, 0)).padStart(8)} B raw ${String(total).padStart(8)} B gzipped (budget 61440)`);
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(`loader → interactive over ${runs} cold loads: median ${med.toFixed(0)} ms, min ${times[0].toFixed(0)} ms, max ${times.at(-1).toFixed(0)} ms`);
} finally {
  await browser.close().catch(() => {});
  await storefront.close().catch(() => {});
  await edge.stop();
}
