// Benchmark (not a test): where a signup's CPU time goes on `wrangler dev`, process by process,
// for our edge and for the floor (bench/floor) in the same run. `wrangler dev` runs three processes
// per edge: wrangler itself (Node: its inspector proxy relays and logs the runtime's network events,
// and outbound fetches pass through it), a proxy workerd in front, and the workerd that runs the
// Worker and its objects. Prints CPU ms per signup for each and signups/s; asserts nothing.
//
//   node bench/cpu.mjs [seconds=8] [clients=8]
//   EDGE_VARS='{"EMAIL_BATCH":"true"}' node bench/cpu.mjs   (more vars for our edge)
//
// CPU is read from /proc (utime + stime) before and after a timed run of concurrent signups, each
// from a fresh address and client IP, after 300 warm-up signups.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { api, ROOT, startCapture, startEdge } from '../tests/support/harness.mjs';

const seconds = Number(process.argv[2] ?? 8);
const clients = Number(process.argv[3] ?? 8);
const TICK_MS = 10; // USER_HZ = 100

/** CPU ticks of every process of `group`, and of this one, by role. */
function ticks(group) {
  const out = { client: 0, wrangler: 0, 'proxy workerd': 0, 'runtime workerd': 0 };
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat, cmd;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch { continue; }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const t = Number(f[11]) + Number(f[12]);
    if (Number(pid) === process.pid) out.client += t;
    else if (Number(f[2]) !== group) continue;
    else if (!cmd.includes('workerd')) out.wrangler += t;
    // The proxy's config is wrangler's own (ProxyWorker); the runtime's carries the user Worker.
    else if (cmd.includes('--inspector-addr')) out['runtime workerd'] += t;
    else out['proxy workerd'] += t;
  }
  return out;
}

async function measure(edge, signup) {
  for (let i = 0; i < 300; i++) await signup();
  const a = ticks(edge.processGroup());
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  let done = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < until) { await signup(); done++; }
  }));
  const b = ticks(edge.processGroup());
  const secs = (performance.now() - t0) / 1000;
  const per = Object.fromEntries(Object.keys(a).map((k) => [k, ((b[k] - a[k]) * TICK_MS) / done]));
  return { perSec: done / secs, per };
}

const capture = await startCapture({ providers: true });
let n = 0;
const ip = () => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const results = [];
{
  const edge = await startEdge({
    vars: { DEV_MODE: 'true', EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'bench', EMAIL_RATE_PER_SEC: '0', ...JSON.parse(process.env.EDGE_VARS ?? '{}') },
  });
  try {
    const admin = api(edge.url);
    await admin.put('/v1/shops/bench', { name: 'Bench', from_email: 'bench@example.test', hold_hours: 24 });
    await admin.put('/v1/shops/bench/skus/A', { title: 'A', url: 'https://bench.test/p', mode: 'restock', eta: null });
    results.push(['edge', await measure(edge, async () => {
      n++;
      const r = await fetch(`${edge.url}/v1/shops/bench/skus/A/waitlist`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'CF-Connecting-IP': ip() },
        body: JSON.stringify({ email: `p${n}@bench.test` }),
      });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`signup → ${r.status}`);
    })]);
  } finally { await edge.stop(); }
}
{
  const floor = await startEdge({ config: join(ROOT, 'bench', 'floor', 'wrangler.toml') });
  try {
    results.push(['floor', await measure(floor, async () => {
      n++;
      const r = await fetch(`${floor.url}/sku/A/signup`, { method: 'POST', body: JSON.stringify({ email: `p${n}@bench.test` }) });
      await r.arrayBuffer();
    })]);
  } finally { await floor.stop(); }
}
await capture.close();

const roles = Object.keys(results[0][1].per);
console.log(`\nCPU per signup on wrangler dev, ${clients} clients for ${seconds} s (ms of CPU per completed signup)\n`);
console.log(`| | signups/s | ${roles.join(' | ')} | total |`);
console.log(`|---|---|${roles.map(() => '---|').join('')}---|`);
for (const [name, r] of results) {
  const total = roles.reduce((s, k) => s + r.per[k], 0);
  console.log(`| ${name} | ${r.perSec.toFixed(1)} | ${roles.map((k) => r.per[k].toFixed(2)).join(' | ')} | ${total.toFixed(2)} |`);
}
