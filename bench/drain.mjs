// Benchmark (not a test): how fast a restock reaches everyone, on the real local runtime (wrangler dev →
// workerd, SQLite storage), through Resend's batch endpoint (`EMAIL_BATCH=true`) at a counting sink (it
// answers like Resend and keeps counts and arrival times, never bodies). Prints figures; asserts nothing.
//
//   node bench/drain.mjs restock [depths=10000,100000] [units=1000]
//     unpaced: per depth, a restock of `units` over that many waiting: the webhook's answer, the first
//     offer and the last message at the provider, messages/s, each alarm run's work (messages,
//     provider requests, subrequests, wall time), and disk bytes per waiter after the cycle.
//   node bench/drain.mjs paced [n=10000] [rate=100]
//     one SKU, a restock of a tenth of `n` over `n` at `rate` emails/s: the drain time against n/rate
//     and the most the provider saw in any one second.
//   node bench/drain.mjs shares [skus=10] [each=1000] [rate=100]
//     `skus` SKUs of `each` waiting restock at once through one key at `rate`: each SKU's share of the
//     sends in the first seconds and until all were told.
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { api, startEdge, standardHeaders } from '../tests/support/harness.mjs';

const mode = process.argv[2] ?? 'restock';
const secret = 'whsec_YmVuY2htYXJrLXNlY3JldC1rZXktMTIzNA==';

/** A provider that answers like Resend and only counts: arrivals as [ms, messages, sku, kind]. */
async function startSink() {
  const arrivals = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      let body = null;
      try { body = JSON.parse(Buffer.concat(chunks).toString()); } catch { /* not JSON */ }
      const emails = Array.isArray(body) ? body : body ? [body] : [];
      for (const e of emails) {
        const tag = (n) => e.tags?.find((t) => t.name === n)?.value ?? '';
        arrivals.push([at, 1, tag('sku'), tag('kind')]);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      const ids = emails.map(() => ({ id: randomUUID() }));
      res.end(JSON.stringify(req.url === '/emails/batch' ? { data: ids } : ids[0] ?? {}));
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    arrivals,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

async function until(what, cond, timeoutMs) {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function skuDbBytes(edge) {
  const dir = join(edge.persistDir, 'v3', 'do', 'restock-edge-SkuQueue');
  return readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite').map((f) => {
    const out = execFileSync('sqlite3', [join(dir, f), 'SELECT SUM(pgsize) FROM dbstat']).toString();
    return Number(out.trim()) || statSync(join(dir, f)).size;
  });
}

/** Each alarm run's work, from the dev-mode log lines `delivery run: …`. */
function runs(edge) {
  const re = /delivery run: (\d+) messages, (\d+) provider requests, (\d+) subrequests, (\d+) ms/g;
  return [...edge.output().matchAll(re)].map((m) => m.slice(1, 5).map(Number));
}

function spread(values) {
  if (values.length === 0) return '–';
  const s = [...values].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]}, max ${s[s.length - 1]}`;
}

async function setUp(a, skus) {
  await a.put('/v1/shops/bench', { name: 'Bench', from_email: 'bench@example.test', inventory_webhook_secrets: [secret], hold_hours: 24 });
  for (const sku of skus) {
    await a.put(`/v1/shops/bench/skus/${sku}`, { title: `Bench ${sku}`, url: 'https://bench.example.test/p', mode: 'restock', eta: null });
  }
}

async function seed(a, sku, count) {
  for (let done = 0; done < count; done += 50_000) {
    const r = await a.post('/v1/dev/seed', { shop: 'bench', sku, count: Math.min(50_000, count - done) });
    if (r.status !== 200) throw new Error(`seed → ${r.status} ${JSON.stringify(r.json)}`);
  }
}

async function restock(edgeUrl, sku, units) {
  const body = JSON.stringify({ sku, available: units, updated_at: new Date().toISOString() });
  const t = performance.now();
  const r = await fetch(`${edgeUrl}/v1/shops/bench/webhooks/inventory`, { method: 'POST', headers: standardHeaders(body, secret), body });
  if (r.status !== 200) throw new Error(`webhook → ${r.status} ${await r.text()}`);
  await r.text();
  return { sent: t, answered: performance.now() };
}

async function withEdge(rate, fn) {
  const sink = await startSink();
  const edge = await startEdge({
    logLevel: 'log',
    vars: { DEV_MODE: 'true', EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: sink.url, EMAIL_API_KEY: 'bench', EMAIL_BATCH: 'true', EMAIL_RATE_PER_SEC: String(rate) },
  });
  try {
    return await fn(edge, sink, api(edge.url));
  } finally {
    await edge.stop();
    await sink.close();
  }
}

/** The most messages that arrived within any one second (with `BENCH_VERBOSE`, which calls). */
function busiestSecond(arrivals) {
  let best = 0;
  let at = [0, 0];
  let sum = 0;
  let lo = 0;
  for (let hi = 0; hi < arrivals.length; hi++) {
    sum += arrivals[hi][1];
    while (arrivals[hi][0] - arrivals[lo][0] >= 1000) sum -= arrivals[lo++][1];
    if (sum > best) [best, at] = [sum, [lo, hi]];
  }
  if (process.env.BENCH_VERBOSE) {
    const calls = new Map();
    for (const [t, n, sku] of arrivals.slice(at[0], at[1] + 1)) {
      const k = `${Math.round(t - arrivals[at[0]][0])} ms ${sku}`;
      calls.set(k, (calls.get(k) ?? 0) + n);
    }
    console.log(`busiest second: ${[...calls].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  }
  return best;
}

if (mode === 'restock') {
  const depths = (process.argv[3] ?? '10000,100000').split(',').map(Number);
  const units = Number(process.argv[4] ?? 1000);
  console.log(`| waiting | webhook answered | first offer after it | last message after it | messages/s | messages per run | requests per run | subrequests per run | ms per run | disk per waiter after |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const depth of depths) {
    await withEdge(0, async (edge, sink, a) => {
      await setUp(a, ['SKU-1']);
      await seed(a, 'SKU-1', depth);
      const t = await restock(edge.url, 'SKU-1', units);
      await until('the first offer', () => sink.arrivals.length > 0, 60_000);
      const first = sink.arrivals[0][0];
      await until('every message', () => sink.arrivals.length >= depth, 3_600_000);
      const last = sink.arrivals[sink.arrivals.length - 1][0];
      await new Promise((r) => setTimeout(r, 1500));
      const work = runs(edge);
      const [bytes] = skuDbBytes(edge);
      const perSec = depth / ((last - t.answered) / 1000);
      console.log(`| ${depth} | ${(t.answered - t.sent).toFixed(0)} ms | ${(first - t.answered).toFixed(0)} ms | ${((last - t.answered) / 1000).toFixed(1)} s | ${perSec.toFixed(0)} | ${spread(work.map((w) => w[0]))} | ${spread(work.map((w) => w[1]))} | ${spread(work.map((w) => w[2]))} | ${spread(work.map((w) => w[3]))} | ${Math.round(bytes / depth)} B |`);
      if (sink.arrivals.length !== depth) console.log(`  (${sink.arrivals.length} messages for ${depth} waiting)`);
    });
  }
} else if (mode === 'paced') {
  const n = Number(process.argv[3] ?? 10_000);
  const rate = Number(process.argv[4] ?? 100);
  await withEdge(rate, async (edge, sink, a) => {
    await setUp(a, ['SKU-1']);
    await seed(a, 'SKU-1', n);
    const t = await restock(edge.url, 'SKU-1', Math.max(1, Math.round(n / 10)));
    await until('every message', () => sink.arrivals.length >= n, 3_600_000);
    const drain = (sink.arrivals[sink.arrivals.length - 1][0] - t.answered) / 1000;
    const ideal = n / rate;
    console.log(`paced at ${rate}/s over ${n}: drained in ${drain.toFixed(1)} s against n/r = ${ideal.toFixed(1)} s (${(drain / ideal).toFixed(3)}×); busiest second at the provider: ${busiestSecond(sink.arrivals)} messages`);
    const work = runs(edge);
    console.log(`alarm runs: ${work.length}; messages per run ${spread(work.map((w) => w[0]))}; subrequests per run ${spread(work.map((w) => w[2]))}`);
  });
} else if (mode === 'shares') {
  const count = Number(process.argv[3] ?? 10);
  const each = Number(process.argv[4] ?? 1000);
  const rate = Number(process.argv[5] ?? 100);
  const skus = Array.from({ length: count }, (_, i) => `SKU-${i + 1}`);
  await withEdge(rate, async (edge, sink, a) => {
    await setUp(a, skus);
    for (const sku of skus) await seed(a, sku, each);
    const started = performance.now();
    const hooks = await Promise.all(skus.map((sku) => restock(edge.url, sku, Math.max(1, Math.round(each / 10)))));
    const total = count * each;
    await until('every message', () => sink.arrivals.length >= total, 3_600_000);
    const end = sink.arrivals[sink.arrivals.length - 1][0];
    const drain = (end - started) / 1000;
    console.log(`${count} SKUs × ${each} waiting, one key at ${rate}/s: webhooks answered in ${spread(hooks.map((h) => Math.round(h.answered - h.sent)))} ms; all ${total} told in ${drain.toFixed(1)} s against ${(total / rate).toFixed(1)} s at the rate; busiest second ${busiestSecond(sink.arrivals)}`);
    const windows = [10, 30, Math.ceil(drain)];
    console.log(`| SKU | first offer after the webhooks | ${windows.map((w) => `share of the first ${w} s`).join(' | ')} | last message |`);
    console.log(`|---|---|${windows.map(() => '---').join('|')}|---|`);
    for (const sku of skus) {
      const mine = sink.arrivals.filter((r) => r[2] === sku);
      const shares = windows.map((w) => {
        const all = sink.arrivals.filter((r) => r[0] - started <= w * 1000).length;
        const m = mine.filter((r) => r[0] - started <= w * 1000).length;
        return all ? `${((100 * m) / all).toFixed(1)} %` : '–';
      });
      console.log(`| ${sku} | ${(mine[0][0] - started).toFixed(0)} ms | ${shares.join(' | ')} | ${((mine[mine.length - 1][0] - started) / 1000).toFixed(1)} s |`);
    }
  });
} else {
  console.error('modes: restock | paced | shares');
  process.exit(2);
}
