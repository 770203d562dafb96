// Benchmark (not a test): a restock of UNITS units over a queue of ENTRIES waiting entries inside the
// SKU's Durable Object on the real local runtime (wrangler dev → workerd, SQLite storage).
// Prints figures; asserts nothing about time. The offers are written in the webhook's step; everyone
// else is told by the alarm from the restock's fan-out cursor, in chunks.
//   node bench/edge-allocation.mjs [entries=100000] [units=10000]
import { api, startCapture, startEdge, standardHeaders } from '../tests/support/harness.mjs';

const entries = Number(process.argv[2] ?? 100_000);
const units = Number(process.argv[3] ?? 10_000);
const secret = 'whsec_YmVuY2htYXJrLXNlY3JldC1rZXktMTIzNA==';

// The capture server stands for an unpaced provider: no pacing of our own either (Resend's default is 2/s).
const capture = await startCapture();
const edge = await startEdge({ vars: { DEV_MODE: 'true', EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'bench', EMAIL_RATE_PER_SEC: '10000' } });
const a = api(edge.url);
try {
  await a.put('/v1/shops/bench', { name: 'Bench', from_email: 'bench@example.test', inventory_webhook_secrets: [secret], hold_hours: 24 });
  await a.put('/v1/shops/bench/skus/SKU-1', { title: 'Bench SKU', url: 'https://bench.example.test/p', mode: 'restock', eta: null });
  let t = performance.now();
  for (let done = 0; done < entries; done += 50_000) {
    const r = await a.post('/v1/dev/seed', { shop: 'bench', sku: 'SKU-1', count: Math.min(50_000, entries - done) });
    if (r.status !== 200) throw new Error(`seed → ${r.status} ${JSON.stringify(r.json)}`);
  }
  console.log(`seeded ${entries} entries in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const body = JSON.stringify({ sku: 'SKU-1', available: units, updated_at: new Date().toISOString() });
  t = performance.now();
  const r = await fetch(`${edge.url}/v1/shops/bench/webhooks/inventory`, { method: 'POST', headers: standardHeaders(body, secret), body });
  const took = performance.now() - t;
  const json = await r.json();
  console.log(`inventory webhook (allocate ${units} over ${entries}, write entries + outbox): ${took.toFixed(0)} ms → ${r.status} ${JSON.stringify(json)}`);
  t = performance.now();
  await capture.waitFor((reqs) => reqs.length >= 1, 60_000);
  console.log(`first provider request ${(performance.now() - t).toFixed(0)} ms after the webhook answered`);
  // The rest are told by the alarm, chunk by chunk, and delivered as they are queued.
  const first = capture.requests.length;
  const window = 15_000;
  await new Promise((resolve) => setTimeout(resolve, window));
  const told = capture.requests.length - first;
  console.log(`next ${window / 1000} s: ${told} provider requests (${(told / (window / 1000)).toFixed(0)} messages/s)`);
} finally {
  await edge.stop();
  await capture.close();
}
