// Sends a signed Shopify inventory_levels/update for a demo SKU, as Shopify would.
// Usage: node scripts/demo-inventory.mjs <SKU> <available> [edge-url]
import { createHmac, randomUUID } from 'node:crypto';
import { DEMO_SECRETS } from './seed-demo.mjs';

const ITEMS = { 'TEE-BLK-M': 40001, 'TEE-BLK-L': 40002, 'HOODIE-PRE': 40003, 'TEE-BLK-S': 40004 };
const [sku, available, edge = 'http://127.0.0.1:8787'] = process.argv.slice(2);
if (!sku || sku === '--help' || !(sku in ITEMS) || available === undefined) {
  console.log(`usage: node scripts/demo-inventory.mjs <${Object.keys(ITEMS).join('|')}> <available> [edge-url]`);
  console.log('sends a signed Shopify inventory_levels/update to the local edge');
  process.exit(sku === '--help' ? 0 : 2);
}
const body = JSON.stringify({
  inventory_item_id: ITEMS[sku],
  location_id: 905684977,
  available: Number(available),
  updated_at: new Date().toISOString(),
  admin_graphql_api_id: `gid://shopify/InventoryLevel/905684977?inventory_item_id=${ITEMS[sku]}`,
});
const r = await fetch(`${edge}/v1/shops/demo/webhooks/shopify`, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'x-shopify-topic': 'inventory_levels/update',
    'x-shopify-hmac-sha256': createHmac('sha256', DEMO_SECRETS.shopify).update(body).digest('base64'),
    'x-shopify-webhook-id': randomUUID(),
    'x-shopify-shop-domain': 'demo.myshopify.com',
  },
  body,
});
console.log(r.status, await r.text());
