// Benchmark (not a test): what a shopper's request costs as one SKU's line grows, on the real local
// runtime (wrangler dev → workerd, SQLite-backed Durable Objects), beside a floor measured in the same
// run: bench/floor, a minimal SQLite Durable Object behind a Worker → object hop that appends one row
// per signup. Prints a table; asserts nothing.
//
//   node bench/scale.mjs [depths=0,10000,100000,1000000] [samples=60] [seconds=5]
//
// Per depth (waiting entries seeded through the dev seed, then real signups):
//   signup p50/p99, place-in-line poll p50, SKU state p50 (sequential requests);
//   signups/s with 8 concurrent clients for `seconds`;
//   rows read / written per command (SQLite's counters, as Cloudflare bills them: x-restock-rows-*);
//   disk bytes per waiter for real signups (the object's database size before and after).
import { join } from 'node:path';
import { api, ROOT, startCapture, startEdge } from '../tests/support/harness.mjs';

const depths = (process.argv[2] ?? '0,10000,100000,1000000').split(',').map(Number);
const samples = Number(process.argv[3] ?? 60);
const seconds = Number(process.argv[4] ?? 5);
const CLIENTS = 8;
// The dev seed takes at most 100 000 per call.
const SEED_CHUNK = 100_000;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '–');
let ipCounter = 0;
/** A fresh client address per signup: the per-IP limit (100 per 10 min) is not what is measured. */
const ip = () => { ipCounter++; return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`; };

async function timed(fn) {
  const t = performance.now();
  const r = await fn();
  return { ms: performance.now() - t, r };
}

/** Runs `one()` from CLIENTS clients for `seconds`; answers completed calls per second. */
async function throughput(one) {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < until) {
      const ok = await one().catch(() => false);
      if (ok) done++; else failed++;
    }
  }));
  return { perSec: done / seconds, failed };
}

const capture = await startCapture();
const edge = await startEdge({
  vars: { DEV_MODE: 'true', EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'bench', EMAIL_RATE_PER_SEC: '0' },
});
const floor = await startEdge({ config: join(ROOT, 'bench', 'floor', 'wrangler.toml') });
const admin = api(edge.url);
const rows = [];
let n = 0;
try {
  const shop = await admin.put('/v1/shops/bench', { name: 'Bench', from_email: 'bench@example.test', hold_hours: 24 });
  if (shop.status !== 200) throw new Error(`shop → ${shop.status} ${shop.text}`);

  const signup = async (sku) => {
    const email = `s${++n}@bench.test`;
    const r = await fetch(`${edge.url}/v1/shops/bench/skus/${sku}/waitlist`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'CF-Connecting-IP': ip() },
      body: JSON.stringify({ email }),
    });
    const body = await r.json();
    if (r.status !== 201) throw new Error(`signup → ${r.status} ${JSON.stringify(body)}`);
    return { r, body };
  };
  const floorSignup = async (sku) => {
    const r = await fetch(`${floor.url}/sku/${sku}/signup`, { method: 'POST', body: JSON.stringify({ email: `f${++n}@bench.test` }) });
    await r.arrayBuffer();
    if (r.status !== 201) throw new Error(`floor → ${r.status}`);
    return r;
  };
  const counted = (r) => [Number(r.headers.get('x-restock-rows-read')), Number(r.headers.get('x-restock-rows-written'))];

  // Warm-up of both runtimes, not measured: the first requests of a run pay for compiling (and
  // tiering up) the code and creating the shop's limiter shards, which a live edge paid long ago.
  {
    const put = await admin.put('/v1/shops/bench/skus/WARM', { title: 'Warm-up', url: 'https://bench.test/p', mode: 'restock', eta: null });
    if (put.status !== 200) throw new Error(`sku → ${put.status} ${put.text}`);
    for (let i = 0; i < 200; i++) {
      await signup('WARM');
      await floorSignup('WARM');
    }
  }

  for (const depth of depths) {
    const sku = `D${depth}`;
    const put = await admin.put(`/v1/shops/bench/skus/${sku}`, { title: `Depth ${depth}`, url: 'https://bench.test/p', mode: 'restock', eta: null });
    if (put.status !== 200) throw new Error(`sku → ${put.status} ${put.text}`);
    const seedStart = performance.now();
    for (let done = 0; done < depth; done += SEED_CHUNK) {
      const count = Math.min(SEED_CHUNK, depth - done);
      const r = await admin.post('/v1/dev/seed', { shop: 'bench', sku, count });
      if (r.status !== 200) throw new Error(`seed → ${r.status} ${r.text}`);
      const f = await fetch(`${floor.url}/sku/${sku}/seed`, { method: 'POST', body: JSON.stringify({ count }) });
      if (f.status !== 200) throw new Error(`floor seed → ${f.status}`);
    }
    const seeded = (performance.now() - seedStart) / 1000;
    // Warm-up, not measured: the first requests after a bulk write pay for its checkpoint.
    for (let i = 0; i < 10; i++) {
      await signup(sku);
      await floorSignup(sku);
    }

    // Sequential: signup, poll, state.
    const sign = [];
    let signRows = [];
    let bytesBefore = null;
    let bytesAfter = null;
    let entry = null;
    for (let i = 0; i < samples; i++) {
      const { ms: t, r } = await timed(() => signup(sku));
      sign.push(t);
      signRows = counted(r.r);
      const bytes = Number(r.r.headers.get('x-restock-db-bytes'));
      if (bytesBefore === null) bytesBefore = bytes;
      bytesAfter = bytes;
      entry ??= r.body.entry_id;
    }
    const poll = [];
    let pollRows = [];
    for (let i = 0; i < samples; i++) {
      const { ms: t, r } = await timed(() => fetch(`${edge.url}/v1/shops/bench/skus/${sku}/waitlist/${entry}`));
      await r.arrayBuffer();
      poll.push(t);
      pollRows = counted(r);
    }
    const state = [];
    let stateRows = [];
    for (let i = 0; i < samples; i++) {
      const { ms: t, r } = await timed(() => fetch(`${edge.url}/v1/shops/bench/skus/${sku}`));
      await r.arrayBuffer();
      state.push(t);
      stateRows = counted(r);
    }
    const floorSign = [];
    for (let i = 0; i < samples; i++) floorSign.push((await timed(() => floorSignup(sku))).ms);
    const ours = await throughput(() => signup(sku).then(() => true));
    const polls = await throughput(() => fetch(`${edge.url}/v1/shops/bench/skus/${sku}/waitlist/${entry}`).then(async (r) => { await r.arrayBuffer(); return r.status === 200; }));
    const base = await throughput(() => floorSignup(sku).then(() => true));
    const perWaiter = bytesAfter !== null && samples > 1 ? (bytesAfter - bytesBefore) / (samples - 1) : NaN;
    rows.push({
      depth, seeded, sign, poll, state, floorSign, ours, base, polls, signRows, pollRows, stateRows, perWaiter,
    });
    console.log(`depth ${depth}: seeded in ${seeded.toFixed(1)} s; signup p50 ${ms(pct(sign, 50))} (floor ${ms(pct(floorSign, 50))}), `
      + `poll ${ms(pct(poll, 50))}, state ${ms(pct(state, 50))}, ${ours.perSec.toFixed(1)} signups/s (floor ${base.perSec.toFixed(1)})`);
  }

  console.log(`\nOne SKU, ${samples} sequential requests each, ${CLIENTS} clients for ${seconds} s; rows = read/written per command.`);
  console.log('| waiting | signup p50 | signup p99 | poll p50 | state p50 | signups/s (8 clients) | polls/s (8 clients) | rows: signup | rows: poll | rows: state | disk bytes / waiter | floor signup p50 | floor signup p99 | floor signups/s | signup p50 ÷ floor | signups/s ÷ floor |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const f50 = pct(r.floorSign, 50);
    console.log(`| ${r.depth.toLocaleString('en-US')} | ${ms(pct(r.sign, 50))} | ${ms(pct(r.sign, 99))} | ${ms(pct(r.poll, 50))} | ${ms(pct(r.state, 50))} | `
      + `${r.ours.perSec.toFixed(1)}${r.ours.failed ? ` (${r.ours.failed} failed)` : ''} | ${r.polls.perSec.toFixed(0)} | ${r.signRows.join(' / ')} | ${r.pollRows.join(' / ')} | ${r.stateRows.join(' / ')} | `
      + `${Number.isFinite(r.perWaiter) ? Math.round(r.perWaiter) : '–'} | ${ms(f50)} | ${ms(pct(r.floorSign, 99))} | ${r.base.perSec.toFixed(1)} | `
      + `${(pct(r.sign, 50) / f50).toFixed(2)}× | ${(100 * r.ours.perSec / r.base.perSec).toFixed(0)} % |`);
  }
  // What open widgets ask of one SKU (widget/src/signup.rs `poll_ticks`: every 15 s up to place 50,
  // 30 s to 500, 60 s to 5 000, 2 min beyond), pages spread over places 1..N.
  const every = (p) => (p <= 50 ? 15 : p <= 500 ? 30 : p <= 5000 ? 60 : 120);
  console.log('\n| open pages on one SKU | polls/s, every 15 s | polls/s, thinned out |');
  console.log('|---|---|---|');
  for (const pages of [1000, 5000, 10000, 100000]) {
    let thinned = 0;
    for (let p = 1; p <= pages; p++) thinned += 1 / every(p);
    console.log(`| ${pages.toLocaleString('en-US')} | ${(pages / 15).toFixed(0)} | ${thinned.toFixed(0)} |`);
  }
} finally {
  await edge.stop();
  await floor.stop();
  await capture.close();
}
