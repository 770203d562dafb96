// Benchmark (not a test): N storefront widgets open at once on one SKU, each polling its place in
// line as the widget does, on the real local runtime (wrangler dev → workerd). Prints a table;
// asserts nothing.
//
//   node bench/widgets.mjs [pages=1000,2000,5000] [seconds=60]
//
// Per number of open pages: N waiting entries are seeded (places 1..N, through the dev seed), then N
// simulated widgets poll `GET …/waitlist/{entry}` for `seconds`, each page opened at a random moment of
// its first interval. Two schedules, one after the other:
//   - the widget's back-off (`widget/src/signup.rs` `poll_ticks`): every 15 s up to place 50, 30 s to
//     500, 60 s to 5 000, 2 min beyond;
//   - every 15 s for everyone (the widget before the back-off).
// Printed: polls/s asked and served, latency p50/p99 under that load, failures, and how late the
// polls ran (a client that falls behind its schedule shows the object is saturated). Beside them, in
// the same run, the object's ceiling: polls/s from 8 clients polling back to back.
import { api, startCapture, startEdge } from '../tests/support/harness.mjs';

const sizes = (process.argv[2] ?? '1000,2000,5000').split(',').map(Number);
const seconds = Number(process.argv[3] ?? 60);
const SEED_CHUNK = 100_000;
const CLIENTS = 8;

/** A seeded entry's id (`waitlist::store::seed_id`). */
const seedId = (seq) => `5eed0000-0000-4000-8000-${seq.toString(16).padStart(12, '0')}`;
const backoff = (place) => (place <= 50 ? 15 : place <= 500 ? 30 : place <= 5000 ? 60 : 120);
const flat = () => 15;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '–');

const capture = await startCapture();
const edge = await startEdge({
  vars: { DEV_MODE: 'true', EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'bench', EMAIL_RATE_PER_SEC: '0' },
});
const admin = api(edge.url);

/** Polls `url` once; answers the latency, or null on a failure (an answer after 10 s is one). */
async function poll(url) {
  const t = performance.now();
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await r.arrayBuffer();
    return r.status === 200 ? performance.now() - t : null;
  } catch {
    return null;
  }
}

/** N pages open for `seconds` on `every(place)`-second schedules. */
async function pages(sku, first, n, every) {
  const latencies = [];
  const lateness = [];
  let failed = 0;
  let asked = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    const place = i + 1;
    const period = every(place) * 1000;
    const url = `${edge.url}/v1/shops/bench/skus/${sku}/waitlist/${seedId(first + i)}`;
    let due = start + Math.random() * period;
    while (due < end) {
      const wait = due - performance.now();
      if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
      lateness.push(Math.max(0, performance.now() - due));
      asked++;
      const t = await poll(url);
      if (t === null) failed++; else latencies.push(t);
      due += period;
    }
  }));
  return { asked: asked / seconds, served: latencies.length / seconds, latencies, lateness, failed };
}

/** The object's ceiling: CLIENTS clients polling back to back for 5 s. */
async function ceiling(url) {
  const until = performance.now() + 5000;
  let done = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < until) if ((await poll(url)) !== null) done++;
  }));
  return done / 5;
}

const rows = [];
try {
  const shop = await admin.put('/v1/shops/bench', { name: 'Bench', from_email: 'bench@example.test', hold_hours: 24 });
  if (shop.status !== 200) throw new Error(`shop → ${shop.status} ${shop.text}`);
  for (const n of sizes) {
    const sku = `W${n}`;
    const put = await admin.put(`/v1/shops/bench/skus/${sku}`, { title: `Widgets ${n}`, url: 'https://bench.test/p', mode: 'restock', eta: null });
    if (put.status !== 200) throw new Error(`sku → ${put.status} ${put.text}`);
    let first = null;
    for (let done = 0; done < n; done += SEED_CHUNK) {
      const r = await admin.post('/v1/dev/seed', { shop: 'bench', sku, count: Math.min(SEED_CHUNK, n - done) });
      if (r.status !== 200) throw new Error(`seed → ${r.status} ${r.text}`);
      first ??= r.json.first_seq;
    }
    if (!Number.isInteger(first)) throw new Error('the dev seed did not say where its entries start');
    const top = await ceiling(`${edge.url}/v1/shops/bench/skus/${sku}/waitlist/${seedId(first)}`);
    for (const [schedule, every] of [['back-off', backoff], ['every 15 s', flat]]) {
      const r = await pages(sku, first, n, every);
      rows.push({ n, schedule, top, ...r });
      console.log(`${n} pages, ${schedule}: asked ${r.asked.toFixed(1)}/s, served ${r.served.toFixed(1)}/s, p50 ${ms(pct(r.latencies, 50))}, `
        + `p99 ${ms(pct(r.latencies, 99))}, late p99 ${ms(pct(r.lateness, 99))}, ${r.failed} failed (ceiling ${top.toFixed(0)}/s)`);
    }
  }
  console.log(`\nOne SKU, each page polling its own entry for ${seconds} s; ceiling = ${CLIENTS} clients polling back to back.`);
  console.log('| open pages | schedule | polls/s asked | polls/s served | poll p50 | poll p99 | late p99 | failed | ceiling polls/s | asked ÷ ceiling |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.n.toLocaleString('en-US')} | ${r.schedule} | ${r.asked.toFixed(1)} | ${r.served.toFixed(1)} | ${ms(pct(r.latencies, 50))} | `
      + `${ms(pct(r.latencies, 99))} | ${ms(pct(r.lateness, 99))} | ${r.failed} | ${r.top.toFixed(0)} | ${(100 * r.asked / r.top).toFixed(0)} % |`);
  }
  // Beyond what this machine's client can open: what the schedules ask at 10 000 pages.
  const asked = (pages, every) => { let s = 0; for (let p = 1; p <= pages; p++) s += 1 / every(p); return s; };
  console.log('\n| open pages (computed) | polls/s, every 15 s | polls/s, back-off |');
  console.log('|---|---|---|');
  for (const pagesN of [10000, 100000]) {
    console.log(`| ${pagesN.toLocaleString('en-US')} | ${asked(pagesN, flat).toFixed(0)} | ${asked(pagesN, backoff).toFixed(0)} |`);
  }
} finally {
  await edge.stop();
  await capture.close();
}
