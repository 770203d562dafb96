// Seeds the local demo shop through the admin API (idempotent): shop "demo" and its SKUs, one per mode.
// Usage: node scripts/seed-demo.mjs <edge-url> <storefront-origin> [admin-token]
// The token defaults to the local one in .dev.vars (scripts/setup writes it).
import { readFileSync } from 'node:fs';

/** `ADMIN_TOKEN` of the checkout's .dev.vars, or '' without one. */
export function localAdminToken() {
  try {
    const vars = readFileSync(new URL('../.dev.vars', import.meta.url), 'utf8');
    return vars.match(/^ADMIN_TOKEN="?([^"\n]*)"?$/m)?.[1] ?? '';
  } catch {
    return '';
  }
}

const [edge = 'http://127.0.0.1:8787', storefront = 'http://127.0.0.1:8080', token = localAdminToken()] = process.argv.slice(2);

export const DEMO_SECRETS = {
  shopify: 'demo-shopify-secret',
  inventory: 'whsec_ZGVtby1pbnZlbnRvcnktc2VjcmV0LWtleQ==',
};

export async function seedDemo(edge, storefront, token = localAdminToken()) {
  const put = async (path, body) => {
    const r = await fetch(edge + path, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`PUT ${path} → ${r.status} ${await r.text()}`);
  };
  const origins = [storefront, storefront.replace('127.0.0.1', 'localhost')];
  await put('/v1/shops/demo', {
    name: 'Demo Outfitters',
    from_email: 'hello@demo-outfitters.test',
    allowed_origins: [...new Set(origins)],
    shopify_webhook_secrets: [DEMO_SECRETS.shopify],
    inventory_webhook_secrets: [DEMO_SECRETS.inventory],
    hold_hours: 24,
  });
  const weekFrom = (days) => new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);
  const skus = {
    'TEE-BLK-M': { title: 'Classic Tee — Black / M', mode: 'restock', eta: { earliest: weekFrom(14), latest: weekFrom(21) }, shopify_inventory_item_id: 40001 },
    'TEE-BLK-L': { title: 'Classic Tee — Black / L', mode: 'restock', eta: null, shopify_inventory_item_id: 40002 },
    'HOODIE-PRE': { title: 'Harbor Hoodie (pre-order)', mode: 'preorder', eta: { earliest: weekFrom(30), latest: weekFrom(30) }, shopify_inventory_item_id: 40003 },
    'TEE-BLK-S': { title: 'Classic Tee — Black / S', mode: 'backorder', eta: { earliest: weekFrom(10), latest: weekFrom(12) }, shopify_inventory_item_id: 40004 },
  };
  for (const [sku, cfg] of Object.entries(skus)) {
    await put(`/v1/shops/demo/skus/${sku}`, { url: `${storefront}/?sku=${sku}`, ...cfg });
  }
  return Object.keys(skus);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const skus = await seedDemo(edge, storefront, token);
  console.log(`seeded shop "demo" with ${skus.join(', ')}`);
}
