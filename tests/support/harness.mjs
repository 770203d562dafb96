// Test harness for the end-to-end tests: a capture server standing in for the email provider
// (Resend), the real local Workers runtime (`wrangler dev` → workerd) and small HTTP helpers.
// Node built-ins only (plus the global fetch of Node 20).

import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The operator token and link secret every test edge gets unless its vars say otherwise (the
 *  checkout's .dev.vars is for `scripts/dev`; tests bring their own). */
export const DEFAULT_ADMIN_TOKEN = 'test-operator-token-0b6f';
export const DEFAULT_LINK_SECRET = 'test-link-secret-5d21';
export { sleep };

// ---------------------------------------------------------------------------------------------
// Ports

/** A free TCP port on 127.0.0.1 (the OS picks it; tiny race window until the caller binds it). */
export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createNetServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Capture server (stands in for the Resend API)

/**
 * Starts a local HTTP server that records every request and answers `POST /emails` like Resend
 * (200 `{"id":"<uuid>"}`). Other paths answer 404 (still recorded).
 *
 * Faults: `failNext(n, status, headers, body)` makes the next n requests answer `status` with the
 * given headers (e.g. `{ 'retry-after': '1' }`); `delayNext(n, ms)` delays the next n answers
 * (simulates a slow provider / timeout). Fault queues are consumed in order of arrival.
 *
 * Each record: `{ method, path, headers (lowercased keys), body (parsed JSON or null), raw, at, status }`
 * where `at` is `Date.now()` on arrival and `status` is what the server answered. `POST /emails`
 * records also carry `key` (the `Idempotency-Key` header), `fault` (`'queued'`, `'recipient'` or
 * `'random'` when a fault answered it), `replayed` (answered from the idempotency memory) and
 * `answeredAt` (when the answer was written, or `null` if the client had gone).
 *
 * More provider behaviour (all off unless asked for, so the default stays "every POST → 200"):
 * - `startCapture({ idempotency: true })`: like Resend, a key already accepted (2xx) is answered
 *   with the same 200 and the same id and does not count as a second delivery.
 * - `setFailureRate(rate, seed, { status, headers, body })`: each `POST /emails` not answered by a
 *   queued fault or recipient rule fails with `status` (default 503) with probability `rate`, drawn
 *   from a seeded PRNG (mulberry32) so a run is reproducible for a given arrival order.
 * - `failRecipient(email, status, { headers, body, times })`: every request to that address
 *   (case-insensitive; `times` limits how many) answers `status`.
 * Every key answered 2xx is tracked: `accepted()` → Map key → `{ id, at, deliveries, replays }`;
 * `deliveryStats()` sums it up.
 *
 * `startCapture({ providers: true })` also answers the other providers' send endpoints like they do
 * (all off by default, so the default stays "only `POST /emails` → 200, the rest 404"):
 * - Resend `POST /emails/batch` → 200 `{"data":[{"id"},…]}`, one id per email; with `idempotency`, a
 *   batch key already accepted is answered with the same ids (`replayed`), see `batchAccepted()`;
 * - Postmark `POST /email` → 200 `{"MessageID",…,"ErrorCode":0}`;
 * - SendGrid `POST /v3/mail/send` → 202, empty, `X-Message-Id` header;
 * - Twilio `POST /2010-04-01/Accounts/{sid}/Messages.json` → 201 `{"sid":"SM…","status":"queued"}`
 *   (records of a form-encoded body carry `form`, the decoded fields);
 * - Klaviyo `POST /api/profile-import` → 201 with `data.id`, `/api/profile-subscription-bulk-create-jobs`
 *   `/api/events` and `/api/data-privacy-deletion-jobs` → 202, empty;
 * - any `POST /hooks/…` (outgoing event endpoints) → 204.
 * `failWhen(predicate, status, { headers, body, times })`: every request whose record matches
 * `predicate(record)` (any path) answers `status`, after queued faults and recipient rules.
 */
export async function startCapture({ idempotency = false, providers = false } = {}) {
  const requests = [];
  const faults = []; // { status, headers, body }
  const delays = []; // ms
  const accepted = new Map(); // idempotency key → { id, at, deliveries, replays }
  const recipientRules = []; // { email, status, headers, body, remaining }
  let failure = null; // { rate, rng, status, headers, body }
  const batchAccepted = new Map(); // batch idempotency key → { ids, at, deliveries, replays }
  const pathRules = []; // { predicate, status, headers, body, remaining }
  const waiters = new Set();
  const wake = () => { for (const w of [...waiters]) w(); };

  // The answer of the other providers' send endpoints (`providers: true`); computed once per record.
  const answers = new WeakMap();
  const providerAnswer = (path, record, key, at) => {
    if (answers.has(record)) return answers.get(record);
    const json = (status, body, extra = {}) => ({
      status, headers: { 'content-type': 'application/json', ...extra }, body: JSON.stringify(body),
    });
    const empty = (status, extra = {}) => ({ status, headers: { ...extra }, body: '' });
    let a = null;
    if (path === '/emails/batch') {
      const n = Array.isArray(record.body) ? record.body.length : 0;
      const known = key ? batchAccepted.get(key) : undefined;
      if (idempotency && known) {
        known.replays += 1;
        record.replayed = true;
        a = json(200, { data: known.ids.map((id) => ({ id })) });
      } else {
        const ids = Array.from({ length: n }, () => randomUUID());
        if (key) {
          if (known) known.deliveries += 1;
          else batchAccepted.set(key, { ids, at, deliveries: 1, replays: 0 });
        }
        a = json(200, { data: ids.map((id) => ({ id })) });
      }
    } else if (path === '/email') {
      a = json(200, { To: record.body?.To, SubmittedAt: new Date(at).toISOString(), MessageID: randomUUID(), ErrorCode: 0, Message: 'OK' });
    } else if (path === '/v3/mail/send') {
      a = empty(202, { 'x-message-id': randomUUID().replace(/-/g, '') });
    } else if (/^\/2010-04-01\/Accounts\/[^/]+\/Messages\.json$/.test(path)) {
      a = json(201, { sid: `SM${randomUUID().replace(/-/g, '')}`, status: 'queued', to: record.form?.To, body: record.form?.Body });
    } else if (path === '/api/profile-import') {
      a = json(201, { data: { type: 'profile', id: `01${randomUUID().replace(/-/g, '').slice(0, 24).toUpperCase()}` } });
    } else if (['/api/profile-subscription-bulk-create-jobs', '/api/events', '/api/data-privacy-deletion-jobs'].includes(path)) {
      a = empty(202);
    } else if (path.startsWith('/hooks/')) {
      a = empty(204);
    }
    answers.set(record, a);
    return a;
  };

  const server = createServer((req, res) => {
    const at = Date.now();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = null;
      try { body = raw ? JSON.parse(raw) : null; } catch { body = null; }
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
      const path = new URL(req.url, 'http://capture').pathname;
      const record = { method: req.method, path, headers, body, raw, at, status: null };
      const isEmail = req.method === 'POST' && path === '/emails';
      const isBatch = providers && req.method === 'POST' && path === '/emails/batch';
      const key = typeof headers['idempotency-key'] === 'string' ? headers['idempotency-key'] : null;
      if (isEmail) Object.assign(record, { key, fault: null, replayed: false, answeredAt: null });
      if (isBatch) Object.assign(record, { key, fault: null, replayed: false, answeredAt: null, batch: true });
      if (providers && String(headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        record.form = Object.fromEntries(new URLSearchParams(raw));
      }

      const fault = faults.shift();
      const delay = delays.shift();
      let status; let respHeaders; let respBody;
      const faultAnswer = (f, kind) => {
        status = f.status;
        respHeaders = { 'content-type': 'application/json', ...f.headers };
        respBody = f.body ?? JSON.stringify({ statusCode: status, name: 'capture_fault', message: `injected fault ${status}` });
        if (isEmail || isBatch) record.fault = kind;
      };
      const to = isEmail ? String(body?.to?.[0] ?? '').toLowerCase() : '';
      const rule = isEmail && !fault ? recipientRules.find((r) => r.email === to && r.remaining > 0) : undefined;
      const pathRule = !fault && !rule ? pathRules.find((r) => r.remaining > 0 && r.predicate(record)) : undefined;
      if (fault) {
        faultAnswer(fault, 'queued');
      } else if (rule) {
        rule.remaining -= 1;
        faultAnswer(rule, 'recipient');
      } else if (pathRule) {
        pathRule.remaining -= 1;
        faultAnswer(pathRule, 'rule');
      } else if (isEmail && failure && failure.rng() < failure.rate) {
        faultAnswer(failure, 'random');
      } else if (isEmail && idempotency && key && accepted.has(key)) {
        const a = accepted.get(key);
        a.replays += 1;
        record.replayed = true;
        status = 200;
        respHeaders = { 'content-type': 'application/json' };
        respBody = JSON.stringify({ id: a.id });
      } else if (isEmail) {
        const id = randomUUID();
        if (key) {
          const a = accepted.get(key);
          if (a) a.deliveries += 1; // only without idempotency: a second real delivery
          else accepted.set(key, { id, at, deliveries: 1, replays: 0 });
        }
        status = 200;
        respHeaders = { 'content-type': 'application/json' };
        respBody = JSON.stringify({ id });
      } else if (providers && req.method === 'POST' && providerAnswer(path, record, key, at)) {
        ({ status, headers: respHeaders, body: respBody } = providerAnswer(path, record, key, at));
      } else {
        status = 404;
        respHeaders = { 'content-type': 'application/json' };
        respBody = JSON.stringify({ statusCode: 404, name: 'not_found', message: 'capture server: unknown path' });
      }
      record.status = status;
      requests.push(record);
      wake();
      if (delay) await sleep(delay);
      if (!res.destroyed) {
        res.writeHead(status, respHeaders);
        res.end(respBody);
        if (isEmail || isBatch) record.answeredAt = Date.now();
      }
    });
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address();

  const capture = {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** Bodies of every `POST /emails` (including ones answered with an injected fault). */
    emails: () => requests.filter((r) => r.method === 'POST' && r.path === '/emails').map((r) => r.body),
    /** Records (not just bodies) of every `POST /emails`. */
    emailRequests: () => requests.filter((r) => r.method === 'POST' && r.path === '/emails'),
    failNext(n, status, headers = {}, body = undefined) {
      for (let i = 0; i < n; i++) faults.push({ status, headers, body });
    },
    delayNext(n, ms) {
      for (let i = 0; i < n; i++) delays.push(ms);
    },
    /** Clears pending faults and delays (recorded requests are kept). */
    resetFaults() {
      faults.length = 0;
      delays.length = 0;
    },
    /**
     * From now on each `POST /emails` (not answered by a queued fault or a recipient rule) fails
     * with probability `rate` (seeded PRNG). `rate` 0 or `null` turns it off.
     */
    setFailureRate(rate, seed = 1, { status = 503, headers = {}, body = undefined } = {}) {
      failure = rate ? { rate, rng: mulberry32(seed), status, headers, body } : null;
    },
    /** Every request to `email` answers `status` (at most `times` times). */
    failRecipient(email, status, { headers = {}, body = undefined, times = Infinity } = {}) {
      recipientRules.push({ email: String(email).toLowerCase(), status, headers, body, remaining: times });
    },
    /** Keys answered 2xx: Map key → `{ id, at, deliveries, replays }`. */
    accepted: () => accepted,
    /** `providers: true`: batch keys answered 2xx: Map key → `{ ids, at, deliveries, replays }`. */
    batchAccepted: () => batchAccepted,
    /** Records of every `POST /emails/batch`. */
    batchRequests: () => requests.filter((r) => r.method === 'POST' && r.path === '/emails/batch'),
    /** Records whose path starts with `prefix` (any method). */
    requestsTo: (prefix) => requests.filter((r) => r.path.startsWith(prefix)),
    /** Every request matching `predicate(record)` answers `status` (at most `times` times). */
    failWhen(predicate, status, { headers = {}, body = undefined, times = Infinity } = {}) {
      pathRules.push({ predicate, status, headers, body, remaining: times });
    },
    /**
     * `{ requests, failed, replays, acceptedKeys, deliveredTwice, requestedKeys }`
     * over `POST /emails` so far: `deliveredTwice` lists keys delivered more than once (always
     * empty with idempotency on); `replays` counts requests answered from the idempotency memory.
     */
    deliveryStats() {
      const emails = requests.filter((r) => r.method === 'POST' && r.path === '/emails');
      const vals = [...accepted.entries()];
      return {
        requests: emails.length,
        failed: emails.filter((r) => r.status < 200 || r.status >= 300).length,
        replays: vals.reduce((n, [, a]) => n + a.replays, 0),
        acceptedKeys: accepted.size,
        deliveredTwice: vals.filter(([, a]) => a.deliveries > 1).map(([k]) => k),
        requestedKeys: new Set(emails.map((r) => r.key)).size,
      };
    },
    /**
     * Resolves with the predicate's first truthy result; `predicate(requests, capture)` is checked
     * now and after every new request. Rejects after `timeoutMs` with a summary of what arrived.
     */
    waitFor(predicate, timeoutMs = 15000) {
      return new Promise((ok, fail) => {
        let timer;
        const check = () => {
          let v;
          try { v = predicate(requests, capture); } catch (e) { cleanup(); fail(e); return; }
          if (v) { cleanup(); ok(v); }
        };
        const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
        timer = setTimeout(() => {
          cleanup();
          fail(new Error(`capture.waitFor timed out after ${timeoutMs} ms; ${requests.length} request(s) arrived:\n` +
            requests.map((r) => `  ${r.method} ${r.path} → ${r.status} ${summarize(r.body)}`).join('\n')));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close() {
      return new Promise((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      });
    },
  };
  return capture;
}

/** Small seeded PRNG (mulberry32): a function returning floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function summarize(body) {
  if (!body || typeof body !== 'object') return '';
  const kind = kindOf(body);
  return `to=${JSON.stringify(body.to)}${kind ? ` kind=${kind}` : ''}`;
}

/** The `kind` tag of a provider request body (`tags: [{name:'kind', value}]`). */
export function kindOf(body) {
  return body?.tags?.find?.((t) => t?.name === 'kind')?.value;
}

// ---------------------------------------------------------------------------------------------
// The edge (wrangler dev)

const liveEdges = new Set();

function killGroup(pid, signal) {
  try { process.kill(-pid, signal); return true; } catch { return false; }
}

function groupAlive(pid) {
  try { process.kill(-pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

// Last resort: never leave a workerd behind, even when a test file crashes or is interrupted.
const killAllEdges = () => { for (const e of liveEdges) killGroup(e.pid, 'SIGKILL'); };
process.once('exit', killAllEdges);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAllEdges();
    process.kill(process.pid, sig); // default action now that our one-shot handler is gone
  });
}

/**
 * Starts `wrangler dev` from the repo root with a fresh `--persist-to` directory and waits for
 * `GET /healthz` → 200 (or what `healthy(status)` accepts). `vars` become `--var KEY:VALUE`
 * (`PUBLIC_BASE_URL` defaults to the edge's URL, `ADMIN_TOKEN` and `LINK_SECRET` to the tests'
 * values above). Returns `{ url, port, persistDir, output(), stop(), restart() }`; `restart()` keeps port
 * and state, `stop()` also deletes the state directory. `config` (or env `RESTOCK_WRANGLER_CONFIG`)
 * points wrangler at another config file; by default it uses the repo's wrangler.toml. `logLevel`
 * (default `warn`): wrangler's; benchmarks that read the objects' `console.log` lines pass `log`.
 */
export async function startEdge({ vars = {}, timeoutMs = 180_000, config = process.env.RESTOCK_WRANGLER_CONFIG, healthy = (status) => status === 200, logLevel = 'warn' } = {}) {
  const port = await freePort();
  let inspectorPort = await freePort();
  while (inspectorPort === port) inspectorPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const persistDir = mkdtempSync(join(tmpdir(), 'restock-edge-'));
  // Every name the checkout's .dev.vars sets (scripts/setup) is given here, so that file never
  // reaches a test: `--var` wins over it. An empty SUPPRESSION_KEY means "unset" (LINK_SECRET's).
  const allVars = { PUBLIC_BASE_URL: url, ADMIN_TOKEN: DEFAULT_ADMIN_TOKEN, LINK_SECRET: DEFAULT_LINK_SECRET, SUPPRESSION_KEY: '', ...vars };
  let args = [
    'dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--persist-to', persistDir,
    '--show-interactive-dev-session=false',
    '--log-level', logLevel,
  ];
  for (const [k, v] of Object.entries(allVars)) args.push('--var', `${k}:${v}`);
  // Optional: another wrangler config (e.g. a prebuilt snapshot without a [build] step).
  if (config) args.push('--config', resolve(config));
  args.push('--inspector-port', String(inspectorPort));
  const env = {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_SEND_METRICS: 'false',
    CI: 'true',
  };

  let out = '';
  let stopMs = 0;
  let child = null;
  const handle = { pid: 0 };

  const launch = async () => {
    out = '';
    child = spawn(join(ROOT, 'node_modules', '.bin', 'wrangler'), args, {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    handle.pid = child.pid;
    liveEdges.add(handle);
    const exited = new Promise((ok) => child.once('exit', (code, sig) => ok({ code, sig })));
    child.exited = exited;
    // Kept for error messages: the tail only (wrangler logs every request; a benchmark makes millions).
    const keep = (d) => { out += d; if (out.length > 1 << 20) out = out.slice(-(1 << 19)); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (e) => { out += `\n[spawn error] ${e.stack || e}`; });

    const deadline = Date.now() + timeoutMs;
    let dead = null;
    exited.then((r) => { dead = r; });
    while (Date.now() < deadline) {
      if (dead) break;
      try {
        const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
        // Bounded: an abort that lands while the body is being read can leave the body promise
        // pending forever (nodejs/node#56917), which hung `start()` after a crash.
        await Promise.race([r.arrayBuffer().catch(() => {}), sleep(2500)]);
        if (healthy(r.status)) return;
      } catch { /* not up yet */ }
      await sleep(250);
    }
    const why = dead ? `wrangler exited (code ${dead.code}, signal ${dead.sig})` : `no 200 from ${url}/healthz within ${timeoutMs} ms`;
    const output = out;
    await kill();
    console.error(`---- wrangler dev output ----\n${output}\n---- end of wrangler dev output ----`);
    throw new Error(`edge did not start: ${why}`);
  };

  const kill = async () => {
    if (!child) return;
    const c = child;
    const pid = c.pid;
    child = null;
    if (pid) {
      killGroup(pid, 'SIGTERM');
      const done = await Promise.race([c.exited.then(() => true), sleep(5000).then(() => false)]);
      if (!done) killGroup(pid, 'SIGKILL');
      // workerd is in the same process group; make sure nothing of the group outlives wrangler.
      for (let i = 0; i < 30 && groupAlive(pid); i++) await sleep(100);
      if (groupAlive(pid)) killGroup(pid, 'SIGKILL');
      for (let i = 0; i < 30 && groupAlive(pid); i++) await sleep(100);
    }
    liveEdges.delete(handle);
  };

  try {
    await launch();
  } catch (e) {
    rmSync(persistDir, { recursive: true, force: true });
    throw e;
  }
  return {
    url,
    port,
    /** The runtime's DevTools inspector (a CPU profile of the Worker and its objects). */
    inspectorPort,
    /** wrangler's process group: wrangler and the workerd processes it runs. */
    processGroup: () => handle.pid,
    persistDir,
    /** Everything wrangler printed since the last (re)start. */
    output: () => out,
    /** How long the last stop took in `restart()` (ms). */
    lastStopMs: () => stopMs,
    async stop() {
      await kill();
      rmSync(persistDir, { recursive: true, force: true });
    },
    /** Kills the runtime and starts it again on the same port with the same persisted state
     *  (`vars`: some of its vars changed, as a redeploy with new settings would). */
    async restart({ vars: changed } = {}) {
      const t = Date.now();
      await kill();
      if (changed) {
        Object.assign(allVars, changed);
        args = args.filter((a, i) => a !== '--var' && args[i - 1] !== '--var');
        for (const [k, v] of Object.entries(allVars)) args.push('--var', `${k}:${v}`);
      }
      stopMs = Date.now() - t;
      await launch();
    },
    /** Kills the runtime hard (SIGKILL to the whole group), keeping state, without restarting. */
    async crash() {
      if (!child) return;
      killGroup(child.pid, 'SIGKILL');
      await kill();
    },
    /** Starts it again after `crash()`. */
    async start() {
      if (!child) await launch();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

/**
 * `api(edge, token)`: JSON helpers against an edge (`{url}` or a base URL string). Every call sends
 * `Authorization: Bearer <token>` unless `token` is `null`. `body` may be an object (sent as JSON)
 * or a string (sent raw). Each resolves to `{ status, headers, json, text }`.
 */
export function api(edge, token = DEFAULT_ADMIN_TOKEN) {
  const base = (typeof edge === 'string' ? edge : edge.url).replace(/\/+$/, '');
  const request = async (method, path, { body, headers = {} } = {}) => {
    const h = { ...headers };
    if (token !== null && token !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'authorization')) {
      h.authorization = `Bearer ${token}`;
    }
    let payload;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const r = await fetch(base + path, { method, headers: h, body: payload });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    return { status: r.status, headers: r.headers, json, text };
  };
  return {
    request,
    get: (path, headers) => request('GET', path, { headers }),
    put: (path, body, headers) => request('PUT', path, { body, headers }),
    post: (path, body, headers) => request('POST', path, { body, headers }),
    options: (path, headers) => request('OPTIONS', path, { headers }),
    del: (path, headers) => request('DELETE', path, { headers }),
  };
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures

/** Shopify: base64 HMAC-SHA256 of the raw body with the app's secret. */
export function signShopify(body, secret) {
  return createHmac('sha256', secret).update(body, 'utf8').digest('base64');
}

/**
 * Standard Webhooks: the value of `webhook-signature` (`v1,<base64 HMAC-SHA256>`) over
 * `${id}.${timestamp}.${body}`, keyed with the base64-decoded part of `whsec_<base64>`.
 */
export function signStandard(id, timestampSecs, body, secret) {
  const key = Buffer.from(String(secret).replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', key).update(`${id}.${timestampSecs}.${body}`, 'utf8').digest('base64');
  return `v1,${sig}`;
}

/** The three Standard Webhooks headers for a body (timestamp defaults to now). */
export function standardHeaders(body, secret, { id = `msg_${randomUUID()}`, timestamp = Math.floor(Date.now() / 1000) } = {}) {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signStandard(id, timestamp, body, secret),
  };
}

/** Headers for a Shopify `inventory_levels/update` delivery. */
export function shopifyHeaders(body, secret, { id = randomUUID(), shopDomain = 'acme.myshopify.com', topic = 'inventory_levels/update' } = {}) {
  return {
    'content-type': 'application/json',
    'x-shopify-topic': topic,
    'x-shopify-hmac-sha256': signShopify(body, secret),
    'x-shopify-webhook-id': id,
    'x-shopify-shop-domain': shopDomain,
    'x-shopify-api-version': '2026-01',
  };
}

/** Polls `fn` until it returns something truthy (resolves with it) or throws after `timeoutMs`. */
export async function eventually(fn, { timeoutMs = 15000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (true) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (e) { last = e; }
    if (Date.now() > deadline) {
      throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}
