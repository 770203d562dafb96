// Benchmark (not a test): what one waiting shopper costs on disk in the SKU's Durable Object, by table
// and index, for real signups (the widget's consent wording, a browser's user agent) on the real local
// runtime (wrangler dev → workerd, SQLite storage): after the signups and their confirmations were
// sent, and again after a full cycle (a restock of a tenth of them as units, the offers and everyone
// else's sold-out message sent). Pages as SQLite's `dbstat` counts them, divided by the signups.
// Prints figures; asserts nothing.
//   node bench/disk.mjs [signups=300]
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { api, startCapture, startEdge, standardHeaders } from '../tests/support/harness.mjs';

const n = Number(process.argv[2] ?? 300);
const secret = 'whsec_YmVuY2htYXJrLXNlY3JldC1rZXktMTIzNA==';
const capture = await startCapture();
const edge = await startEdge({
  vars: { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'bench', EMAIL_RATE_PER_SEC: '10000' },
});
const a = api(edge.url);
const UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const CONSENT = "Email me when Bench SKU is back in stock, and about my place in line. I can unsubscribe at any time; see the shop's privacy policy.";

/** The SKU object's database: the largest SQLite file of the SkuQueue namespace. */
function skuDb() {
  const dir = join(edge.persistDir, 'v3', 'do', 'restock-edge-SkuQueue');
  const files = readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  if (files.length !== 1) throw new Error(`expected one SKU object, found ${files}`);
  return join(dir, files[0]);
}

function perWaiter(label) {
  const out = execFileSync('sqlite3', [skuDb(), 'SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC']).toString();
  const rows = out.trim().split('\n').map((l) => l.split('|')).map(([name, bytes]) => [name, Number(bytes)]);
  const total = rows.reduce((s, [, b]) => s + b, 0);
  const big = rows.filter(([, b]) => b > 8192);
  console.log(`\n${label}: ${Math.round(total / n)} bytes per waiter (${total} bytes for ${n})`);
  console.log('| table or index | bytes per waiter |\n|---|---|');
  for (const [name, b] of big) console.log(`| ${name} | ${Math.round(b / n)} |`);
  console.log(`| the rest (${rows.length - big.length} pages of 4 KB or two, fixed) | ${Math.round(rows.filter(([, b]) => b <= 8192).reduce((s, [, b]) => s + b, 0) / n)} |`);
}

async function drained(expected) {
  const t = Date.now();
  while (capture.requests.filter((r) => r.path === '/emails').length < expected) {
    if (Date.now() - t > 300_000) throw new Error('messages did not all reach the provider');
    await new Promise((r) => setTimeout(r, 250));
  }
  await new Promise((r) => setTimeout(r, 1000));
}

try {
  await a.put('/v1/shops/bench', { name: 'Bench', from_email: 'bench@example.test', inventory_webhook_secrets: [secret], hold_hours: 24 });
  await a.put('/v1/shops/bench/skus/SKU-1', { title: 'Bench SKU', url: 'https://bench.example.test/p', mode: 'restock', eta: null });
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${edge.url}/v1/shops/bench/skus/SKU-1/waitlist`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'CF-Connecting-IP': `10.1.${i >> 8}.${i & 255}`, 'user-agent': UA },
      body: JSON.stringify({ email: `shopper${i}@example.com`, consent_text: CONSENT }),
    });
    if (r.status !== 201) throw new Error(`signup → ${r.status} ${await r.text()}`);
  }
  await drained(n);
  perWaiter('after the signups, confirmations sent');
  const body = JSON.stringify({ sku: 'SKU-1', available: Math.ceil(n / 10), updated_at: new Date().toISOString() });
  const r = await fetch(`${edge.url}/v1/shops/bench/webhooks/inventory`, { method: 'POST', headers: standardHeaders(body, secret), body });
  if (r.status !== 200) throw new Error(`restock → ${r.status} ${await r.text()}`);
  await drained(2 * n);
  perWaiter(`after a restock of ${Math.ceil(n / 10)} units: offers and sold-out messages sent`);
} finally {
  await edge.stop();
  await capture.close();
}
