// The bad inputs and attacks of ../shared/RELIABILITY.md that no other file tries, each a named test
// (docs/reliability.md maps every item to the test that covers it): signatures and timestamps in
// every broken form, re-serialized bodies, levels out of order, stock flapping, bad `available`
// values, one victim address from many IPs, and hostile bodies (oversized, deeply nested, duplicate
// keys, NUL / CRLF / bidi characters, a 10 kB address).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, kindOf, shopifyHeaders, signStandard, sleep, startCapture, startEdge } from './support/harness.mjs';

const SHOP = 'rel';
const OLD = `whsec_${Buffer.from('reliability-feed-old-secret-0001').toString('base64')}`;
const NEW = `whsec_${Buffer.from('reliability-feed-new-secret-0002').toString('base64')}`;
const SHOPIFY_OLD = 'shpss_rel_old';
const SHOPIFY_NEW = 'shpss_rel_new';
const ITEM = 4242;

let capture;
let edge;
let admin;
let pub;

const now = () => Math.floor(Date.now() / 1000);
const feedPost = (body, headers) => pub.post(`/v1/shops/${SHOP}/webhooks/inventory`, body, { 'content-type': 'application/json', ...headers });
const signed = (body, { secret = NEW, id = `msg_${randomUUID()}`, ts = now() } = {}) => ({
  'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signStandard(id, ts, body, secret),
});
const level = (sku, available, updatedAt) => JSON.stringify({ sku, available, updated_at: updatedAt });
const queue = async (sku) => (await admin.get(`/v1/shops/${SHOP}/skus/${sku}/queue`)).json;
const offersTo = (email) => capture.emailRequests().filter((r) => r.body.to[0] === email && ['restock_offer', 'sold_out_again'].includes(kindOf(r.body)));

function assertError(r, status, code) {
  assert.equal(r.status, status, `${status} expected: ${r.status} ${r.text}`);
  assert.equal(typeof r.json?.error?.message, 'string', r.text);
  if (code) assert.equal(r.json.error.code, code, r.text);
}

describe('reliability: hostile and broken input', () => {
  before(async () => {
    capture = await startCapture({ idempotency: true });
    edge = await startEdge({ vars: { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'k', EMAIL_RATE_PER_SEC: '0' } });
    admin = api(edge);
    pub = api(edge, null);
    const shop = { name: 'Rel', from_email: 'hi@rel.example', hold_hours: 24, inventory_webhook_secrets: [OLD, NEW], shopify_webhook_secrets: [SHOPIFY_OLD, SHOPIFY_NEW] };
    assert.equal((await admin.put(`/v1/shops/${SHOP}`, shop)).status, 200);
    for (const sku of ['R-1', 'R-5', 'R-6', 'R-7']) {
      assert.equal((await admin.put(`/v1/shops/${SHOP}/skus/${sku}`, { title: sku, shopify_inventory_item_id: sku === 'R-1' ? ITEM : null })).status, 200);
    }
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('R1: a body re-serialized or with whitespace changed after signing → 401, no state change', async () => {
    await pub.post(`/v1/shops/${SHOP}/skus/R-1/waitlist`, { email: 'r1@example.com' });
    const body = level('R-1', 3, '2026-11-29T10:00:00Z');
    const headers = signed(body);
    const reserialized = JSON.stringify(JSON.parse(body), null, 1);
    assertError(await feedPost(reserialized, headers), 401, 'invalid_signature');
    assertError(await feedPost(`${body} `, headers), 401, 'invalid_signature');
    const shopifyBody = JSON.stringify({ inventory_item_id: ITEM, location_id: 1, available: 3, updated_at: '2026-11-29T10:00:00Z' });
    const h = shopifyHeaders(shopifyBody, SHOPIFY_NEW);
    assertError(await pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, shopifyBody.replace(':3', ': 3'), h), 401, 'invalid_signature');
    assert.equal((await queue('R-1')).available, 0);
  });

  it('R2: signature missing, empty, "v1,", truncated, "v2,", not base64 → 401; one valid among several, old and new secrets → accepted', async () => {
    const body = level('R-1', 0, '2026-11-29T09:00:00Z');
    const good = signed(body);
    const sig = good['webhook-signature'];
    for (const bad of [undefined, '', 'v1,', sig.slice(0, -6), sig.replace('v1,', 'v2,'), 'v1,!!!not base64!!!', 'v1', ' ']) {
      const h = { ...good };
      if (bad === undefined) delete h['webhook-signature']; else h['webhook-signature'] = bad;
      assertError(await feedPost(body, h), 401, 'invalid_signature');
    }
    const several = { ...good, 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} v2,abc ${sig}` };
    assert.equal((await feedPost(body, several)).status, 200);
    assert.equal((await feedPost(level('R-1', 0, '2026-11-29T09:00:01Z'), signed(level('R-1', 0, '2026-11-29T09:00:01Z'), { secret: OLD }))).status, 200);
    const sb = JSON.stringify({ inventory_item_id: ITEM, location_id: 1, available: 0, updated_at: '2026-11-29T09:00:00Z' });
    assert.equal((await pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, sb, shopifyHeaders(sb, SHOPIFY_OLD))).status, 200);
    assert.equal((await pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, sb, shopifyHeaders(sb, SHOPIFY_NEW))).status, 200);
    for (const bad of ['', 'AAAA', 'not base64 at all']) {
      const h = shopifyHeaders(sb, SHOPIFY_NEW);
      h['x-shopify-hmac-sha256'] = bad;
      assertError(await pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, sb, h), 401, 'invalid_signature');
    }
  });

  it('R3: timestamps older than 5 min, more than 5 min ahead, negative, non-numeric, overflowing → 401', async () => {
    const body = level('R-1', 0, '2026-11-29T09:00:02Z');
    for (const ts of [now() - 330, now() + 330, -5, 'soon', '99999999999999999999999', '1e3', '']) {
      const id = `msg_${randomUUID()}`;
      const h = { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signStandard(id, ts, body, NEW) };
      assertError(await feedPost(body, h), 401, 'invalid_signature');
    }
  });

  it('R5: levels out of order (0 @ t2 before 5 @ t1) → the newest wins and nobody is told from the stale one', async () => {
    await pub.post(`/v1/shops/${SHOP}/skus/R-5/waitlist`, { email: 'r5@example.com' });
    const b2 = level('R-5', 0, '2026-11-29T12:00:00Z');
    assert.equal((await feedPost(b2, signed(b2))).json.outcome, 'applied');
    const b1 = level('R-5', 5, '2026-11-29T11:00:00Z');
    const r = await feedPost(b1, signed(b1));
    assert.equal(r.json.outcome, 'stale', r.text);
    assert.equal(r.json.offers, 0);
    assert.equal((await queue('R-5')).available, 0);
    await sleep(800);
    assert.equal(offersTo('r5@example.com').length, 0);
  });

  it('R6: stock flapping 0 → 5 → 0 → 5 → each waiter gets at most one message per restock, in FIFO order', async () => {
    const emails = Array.from({ length: 7 }, (_, i) => `flap${i}@example.com`);
    for (const email of emails) assert.equal((await pub.post(`/v1/shops/${SHOP}/skus/R-6/waitlist`, { email })).status, 201);
    let t = Date.parse('2026-11-29T13:00:00Z');
    for (const n of [0, 5, 0, 5]) {
      t += 60_000;
      const b = level('R-6', n, new Date(t).toISOString());
      assert.equal((await feedPost(b, signed(b))).status, 200);
    }
    await capture.waitFor((reqs) => reqs.filter((r) => r.body?.to?.[0]?.startsWith('flap') && ['restock_offer', 'sold_out_again'].includes(kindOf(r.body))).length >= 7);
    await sleep(1000);
    const q = await queue('R-6');
    // The first 5 hold their units through the flap (holds outlive a level of 0): one offer each.
    const offered = q.entries.filter((e) => e.status === 'offered').map((e) => e.email);
    assert.deepEqual(offered, emails.slice(0, 5));
    for (const e of q.entries) {
      const keys = e.messages.map((m) => m.idempotency_key);
      assert.equal(new Set(keys).size, keys.length, `${e.email}: no key twice`);
    }
    for (const email of emails.slice(0, 5)) assert.equal(offersTo(email).filter((r) => kindOf(r.body) === 'restock_offer').length, 1, email);
    for (const email of emails.slice(5)) {
      const got = offersTo(email);
      assert.ok(got.every((r) => kindOf(r.body) === 'sold_out_again'), email);
      assert.ok(got.length <= 2, `${email}: at most one per restock`);
    }
  });

  it('R7: available of -1, 1e309, "5", missing SKU, unknown item → a clear 4xx; nothing changes', async () => {
    const cases = [
      ['{"sku":"R-7","available":-1,"updated_at":"2026-11-29T10:00:00Z"}', 422, 'invalid_available'],
      // Not a representable number: the JSON itself is refused.
      ['{"sku":"R-7","available":1e309,"updated_at":"2026-11-29T10:00:00Z"}', 400, 'invalid_json'],
      ['{"sku":"R-7","available":"5","updated_at":"2026-11-29T10:00:00Z"}', 422, 'invalid_payload'],
      ['{"available":5,"updated_at":"2026-11-29T10:00:00Z"}', 422, 'invalid_payload'],
      ['{"sku":"NO-SUCH","available":5,"updated_at":"2026-11-29T10:00:00Z"}', 404, 'unknown_sku'],
    ];
    for (const [body, status, code] of cases) {
      const r = await feedPost(body, signed(body));
      assert.ok(r.status >= 400 && r.status < 500, `${body} → ${r.status}`);
      assertError(r, status, code);
    }
    const sb = JSON.stringify({ inventory_item_id: 999999, location_id: 1, available: 5, updated_at: '2026-11-29T10:00:00Z' });
    const r = await pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, sb, shopifyHeaders(sb, SHOPIFY_NEW));
    assert.equal(r.status, 200);
    assert.equal(r.json.outcome, 'ignored', 'unknown inventory items are not ours (a 4xx would make Shopify retry)');
    assert.equal((await queue('R-7')).available, 0);
  });

  it('R13: one victim address from many IPs → at most one confirmation per window, and the same reply every time', async () => {
    const answers = [];
    for (let i = 0; i < 6; i += 1) {
      const sku = i % 2 ? 'R-6' : 'R-7';
      const r = await pub.post(`/v1/shops/${SHOP}/skus/${sku}/waitlist`, { email: i % 2 ? 'Victim+x@example.com' : 'victim@example.com' }, { 'cf-connecting-ip': `203.0.113.${i + 1}` });
      assert.equal(r.status, 201, r.text);
      answers.push(Object.keys(r.json).sort().join());
    }
    assert.equal(new Set(answers).size, 1, 'the same shape every time');
    await sleep(1500);
    const confirmations = capture.emailRequests().filter((r) => /^victim/i.test(r.body.to[0]) && kindOf(r.body) === 'signup_confirmation');
    assert.equal(confirmations.length, 1, confirmations.map((c) => c.body.to[0]).join());
    const q7 = await queue('R-7');
    assert.equal(q7.entries.filter((e) => /^victim/i.test(e.email)).length, 1, 'one entry per SKU');
    const q6 = await queue('R-6');
    const held = q6.entries.find((e) => /^victim/i.test(e.email));
    assert.equal(held.email, 'Victim+x@example.com', 'stored as typed');
    const trail = (await admin.get(`/v1/shops/${SHOP}/entries/${held.entry_id}`)).json.trail;
    assert.ok(trail.some((t) => t.event === 'skipped' && /within the last 15 minutes/.test(t.detail)), JSON.stringify(trail));
  });

  it('R17: oversized, deeply nested, duplicate keys, NUL / CRLF / bidi characters, a 10 kB address → 4xx, never a crash', async () => {
    const signup = (body) => pub.post(`/v1/shops/${SHOP}/skus/R-7/waitlist`, body);
    assertError(await signup(JSON.stringify({ email: 'a@example.com', pad: 'x'.repeat(70 * 1024) })), 413, 'body_too_large');
    // The same without Content-Length (chunked): refused as well; only the first 64 KiB are kept
    // while it is read, and the rest is read and dropped, so the requests after it still work.
    const chunks = ['{"email":"a@example.com","pad":"', ...Array.from({ length: 40 }, () => 'x'.repeat(4096)), '"}'];
    const chunked = await fetch(`${edge.url}/v1/shops/${SHOP}/skus/R-7/waitlist`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({ pull(c) { const next = chunks.shift(); if (next === undefined) c.close(); else c.enqueue(new TextEncoder().encode(next)); } }),
      duplex: 'half',
    });
    assertError({ status: chunked.status, json: await chunked.json() }, 413, 'body_too_large');
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const r = await signup(deep);
    assert.ok([400, 422].includes(r.status), `deep nesting → ${r.status}`);
    const dup = await signup('{"email":"dup1@example.com","email":"dup2@example.com"}');
    assert.ok([400, 422].includes(dup.status), `duplicate keys → ${dup.status} ${dup.text}`);
    for (const email of ['nul\u0000@example.com', 'crlf@example.com\r\nBcc: x@evil.example', 'bidi\u202e@example.com', `${'a'.repeat(10 * 1024)}@example.com`, '']) {
      assertError(await signup({ email }), 422, 'invalid_email');
    }
    for (const sku of ['R%0D%0A7', 'R%E2%80%AE7', 'R%007', 'R%097', 'x'.repeat(256), '%20%20']) {
      const res = await pub.post(`/v1/shops/${SHOP}/skus/${sku}/waitlist`, { email: 'ok@example.com' });
      assertError(res, 422, 'invalid_sku');
    }
    const notUtf8 = await pub.post(`/v1/shops/${SHOP}/skus/R%FF7/waitlist`, { email: 'ok@example.com' });
    assertError(notUtf8, 400, 'invalid_path');
    const batch = JSON.stringify({ events: [{ type: 'level', sku: 'R-7\u202e', available: 1, updated_at: '2026-11-29T10:00:00Z' }] });
    const fr = await feedPost(batch, signed(batch));
    assert.equal(fr.json.results[0].error.code, 'invalid_sku');
    assert.equal((await pub.get('/healthz')).status, 200, 'still up');
  });
});
