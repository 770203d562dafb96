// The foundation acceptance test: signups → confirmations, a signed Shopify restock → FIFO offers
// and honest "sold out again" messages through the (captured) email provider, exactly once.
// Also: duplicate and forged webhooks, the generic Standard Webhooks feed, CORS, admin auth.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  api, eventually, kindOf, shopifyHeaders, signShopify, signStandard, sleep, standardHeaders, startCapture, startEdge,
} from './support/harness.mjs';

const SHOP = 'acme';
const SKU = 'TEE-BLK-M';
const SKU2 = 'MUG-WHT';
const ITEM_ID = 808950810;
const LOCATION_ID = 905684977;
const SHOPIFY_SECRET = 'shpss_acme_test_secret_1';
const INVENTORY_SECRET = `whsec_${Buffer.from('acme-inventory-feed-test-key-0001').toString('base64')}`;
const ORIGIN = 'https://acme-store.example';
const FROM = 'hello@acme-store.example';
const API_KEY = 'test-key';
const EMAILS = ['ada@example.com', 'bob@example.com', 'cy@example.com', 'dee@example.com', 'eve@example.com'];

let capture;
let edge;
let admin;
let pub;

const skuPath = (sku = SKU) => `/v1/shops/${SHOP}/skus/${sku}`;
const recipients = (reqs) => reqs.map((r) => r.body?.to?.[0]?.toLowerCase());
const emailsOfKind = (kind) => capture.emailRequests().filter((r) => kindOf(r.body) === kind);

function shopifyBody(available, updatedAt = '2026-11-29T10:00:00-05:00', itemId = ITEM_ID) {
  return JSON.stringify({
    inventory_item_id: itemId,
    location_id: LOCATION_ID,
    available,
    updated_at: updatedAt,
    admin_graphql_api_id: `gid://shopify/InventoryLevel/${LOCATION_ID}?inventory_item_id=${itemId}`,
  });
}

const shopifyPost = (body, headers) => pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, body, headers);
const inventoryPost = (body, headers) => pub.post(`/v1/shops/${SHOP}/webhooks/inventory`, body, headers);

function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.equal(typeof res.json?.error?.code, 'string', `error body should be {"error":{"code","message"}}: ${res.text}`);
  assert.equal(typeof res.json.error.message, 'string', `error body should carry a message: ${res.text}`);
  if (code) assert.equal(res.json.error.code, code, res.text);
}

describe('restock: signups, a Shopify restock, offers and sold-out-again messages', () => {
  before(async () => {
    capture = await startCapture();
    edge = await startEdge({
      vars: { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: API_KEY },
    });
    admin = api(edge);
    pub = api(edge, null);
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('healthz answers 200', async () => {
    const r = await pub.get('/healthz');
    assert.equal(r.status, 200);
  });

  it('admin calls without or with a wrong token → 401 unauthorized', async () => {
    assertError(await pub.get(`${skuPath()}/queue`), 401, 'unauthorized');
    assertError(await api(edge, 'wrong-token').get(`${skuPath()}/queue`), 401, 'unauthorized');
    assertError(await pub.put(`/v1/shops/${SHOP}`, { name: 'x' }), 401, 'unauthorized');
  });

  it('without DEV_MODE the dev clock does not exist: POST /v1/dev/advance → 404 even for the admin', async () => {
    assertError(await admin.post('/v1/dev/advance', { seconds: 3600 }), 404);
  });

  it('sets up the shop and two SKUs', async () => {
    const shop = await admin.put(`/v1/shops/${SHOP}`, {
      name: 'Acme Apparel',
      from_email: FROM,
      allowed_origins: [ORIGIN],
      shopify_webhook_secrets: [SHOPIFY_SECRET],
      inventory_webhook_secrets: [INVENTORY_SECRET],
      hold_hours: 24,
    });
    assert.equal(shop.status, 200, shop.text);
    const sku = await admin.put(skuPath(), {
      title: 'Classic Tee — Black / M',
      url: 'https://acme-store.example/products/classic-tee?variant=M',
      mode: 'restock',
      eta: { earliest: '2026-12-07', latest: '2026-12-14' },
      shopify_inventory_item_id: ITEM_ID,
    });
    assert.equal(sku.status, 200, sku.text);
    const sku2 = await admin.put(skuPath(SKU2), {
      title: 'Enamel Mug — White',
      url: 'https://acme-store.example/products/mug',
      mode: 'restock',
      eta: null,
      shopify_inventory_item_id: null,
    });
    assert.equal(sku2.status, 200, sku2.text);

    const state = await pub.get(skuPath());
    assert.equal(state.status, 200, state.text);
    assert.equal(state.json.sku, SKU);
    assert.equal(state.json.mode, 'restock');
    assert.equal(state.json.available, 0);
    assert.equal(state.json.waiting, 0);
  });

  const entries = [];

  it('5 signups get positions 1..5; same email in another case → the same 201 answer, same entry; bad email → 422', async () => {
    for (const [i, email] of EMAILS.entries()) {
      const r = await pub.post(`${skuPath()}/waitlist`, { email, locale: 'en' });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.position, i + 1, r.text);
      assert.equal(r.json.status, 'waiting', r.text);
      assert.equal(typeof r.json.entry_id, 'string');
      assert.ok(r.json.entry_id.length > 0);
      assert.equal(typeof r.json.eta_text, 'string');
      entries.push(r.json);
    }
    assert.equal(new Set(entries.map((e) => e.entry_id)).size, 5, 'entry ids are distinct');

    // The answer does not tell whether the address was already on the list: 201 and the same shape.
    const again = await pub.post(`${skuPath()}/waitlist`, { email: 'ADA@Example.COM' });
    assert.equal(again.status, 201, again.text);
    assert.deepEqual(Object.keys(again.json).sort(), Object.keys(entries[0]).sort(), again.text);
    assert.notEqual(again.json.entry_id, entries[0].entry_id, 'a repeat signup gets a fresh id, never the entry id');
    assert.equal(again.json.position, 1);

    const third = await pub.post(`${skuPath()}/waitlist`, { email: ' bob@EXAMPLE.com ' });
    assert.ok([201, 422].includes(third.status), `padded address: 201 (same entry) or 422, got ${third.status} ${third.text}`);
    if (third.status === 201) assert.equal(third.json.position, 2, 'the same entry, read through a fresh id');

    for (const bad of ['not-an-email', 'a@', '@example.com', 'a b@example.com', '']) {
      assertError(await pub.post(`${skuPath()}/waitlist`, { email: bad }), 422, 'invalid_email');
    }

    const pos = await pub.get(`${skuPath()}/waitlist/${entries[3].entry_id}`);
    assert.equal(pos.status, 200, pos.text);
    assert.equal(pos.json.entry_id, entries[3].entry_id);
    assert.equal(pos.json.position, 4);
    assert.equal(pos.json.status, 'waiting');

    const state = await pub.get(skuPath());
    assert.equal(state.json.waiting, 5, state.text);
  });

  it('each signup gets exactly one signup_confirmation through the provider', async () => {
    await capture.waitFor(() => emailsOfKind('signup_confirmation').length >= 5, 15000);
    await sleep(1500); // anything extra (e.g. for the repeated signup) would arrive by now
    const confirmations = emailsOfKind('signup_confirmation');
    assert.deepEqual(recipients(confirmations).sort(), [...EMAILS].sort(), 'one confirmation per signup, none for the repeat');
    for (const r of confirmations) checkProviderRequest(r);
  });

  let webhookBody;
  let webhookId;

  it('a signed Shopify restock of 3 → offers to the first 3 (FIFO), sold_out_again to the last 2, once each', async () => {
    const before = capture.emailRequests().length;
    webhookBody = shopifyBody(3);
    webhookId = randomUUID();
    const t0 = Date.now();
    const r = await shopifyPost(webhookBody, shopifyHeaders(webhookBody, SHOPIFY_SECRET, { id: webhookId }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.outcome, 'applied', r.text);
    assert.equal(r.json.available, 3, r.text);
    assert.equal(r.json.offers, 3, r.text);
    assert.equal(r.json.sold_out_again, 2, r.text);

    const first = await capture.waitFor(() => emailsOfKind('restock_offer')[0], 15000);
    console.log(`webhook→first provider request: ${first.at - t0} ms`);

    await capture.waitFor(() => emailsOfKind('restock_offer').length >= 3 && emailsOfKind('sold_out_again').length >= 2, 15000);
    await sleep(1500);
    const offers = emailsOfKind('restock_offer');
    const soldOut = emailsOfKind('sold_out_again');
    assert.deepEqual(recipients(offers), EMAILS.slice(0, 3), 'offers go to the first 3, once each, in signup order');
    assert.deepEqual(recipients(soldOut).sort(), EMAILS.slice(3).sort(), 'sold_out_again goes to the last 2, once each');
    assert.equal(capture.emailRequests().length, before + 5, 'exactly 5 new provider requests');
    for (const r of [...offers, ...soldOut]) checkProviderRequest(r);

    // Every provider request carries its own idempotency key (no retries happened here).
    const keys = capture.emailRequests().map((r) => r.headers['idempotency-key']);
    assert.equal(new Set(keys).size, keys.length, `idempotency keys are unique: ${keys.join(', ')}`);
  });

  it('the same Shopify webhook id again → 200 duplicate, no new effect', async () => {
    const before = capture.emailRequests().length;
    const queueBefore = await admin.get(`${skuPath()}/queue`);
    const r = await shopifyPost(webhookBody, shopifyHeaders(webhookBody, SHOPIFY_SECRET, { id: webhookId }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.outcome, 'duplicate', r.text);
    await sleep(2000);
    assert.equal(capture.emailRequests().length, before, 'no new emails after a duplicate webhook');
    const queueAfter = await admin.get(`${skuPath()}/queue`);
    assert.deepEqual(statuses(queueAfter.json), statuses(queueBefore.json));
  });

  it('queue view: offered ×3, waiting ×2, every message sent with the key the provider saw', async () => {
    const q = await eventually(async () => {
      const r = await admin.get(`${skuPath()}/queue`);
      assert.equal(r.status, 200, r.text);
      const all = r.json.entries.flatMap((e) => e.messages);
      return all.length === 10 && all.every((m) => m.status === 'sent') ? r.json : null;
    }, { what: 'all 10 messages marked sent' });

    assert.equal(q.sku, SKU);
    assert.equal(q.available, 3);
    const bySeq = [...q.entries].sort((a, b) => a.seq - b.seq);
    assert.deepEqual(bySeq.map((e) => e.email.toLowerCase()), EMAILS);
    assert.deepEqual(bySeq.map((e) => e.entry_id), entries.map((e) => e.entry_id));
    assert.deepEqual(bySeq.map((e) => e.status), ['offered', 'offered', 'offered', 'waiting', 'waiting']);
    for (const e of bySeq.slice(0, 3)) {
      assert.equal(typeof e.hold_until, 'number', `offered entry has a hold: ${JSON.stringify(e)}`);
      assert.ok(e.hold_until > Date.now() + 23 * 3600_000, 'hold lasts about hold_hours (24)');
      assert.deepEqual(e.messages.map((m) => m.kind).sort(), ['restock_offer', 'signup_confirmation']);
    }
    for (const e of bySeq.slice(3)) {
      assert.deepEqual(e.messages.map((m) => m.kind).sort(), ['signup_confirmation', 'sold_out_again']);
    }
    for (const m of bySeq.flatMap((e) => e.messages)) {
      assert.equal(m.status, 'sent');
      assert.equal(m.attempts, 1, `sent on the first attempt: ${JSON.stringify(m)}`);
      assert.equal(typeof m.sent_at, 'number');
    }
    const viewKeys = bySeq.flatMap((e) => e.messages.map((m) => m.idempotency_key)).sort();
    const seenKeys = capture.emailRequests().map((r) => r.headers['idempotency-key']).sort();
    assert.deepEqual(seenKeys, viewKeys, 'the provider saw exactly the outbox messages, keyed by their idempotency keys');

    // Position counts entries still waiting or holding an offer (shared::wire::SignupResponse), so
    // the 4th shopper is still 4th while the first three hold their units.
    const pos4 = await pub.get(`${skuPath()}/waitlist/${entries[3].entry_id}`);
    assert.equal(pos4.status, 200);
    assert.equal(pos4.json.status, 'waiting');
    assert.equal(pos4.json.position, 4, pos4.text);
    const pos1 = await pub.get(`${skuPath()}/waitlist/${entries[0].entry_id}`);
    assert.equal(pos1.json.status, 'offered', pos1.text);
  });

  it('forged Shopify webhooks → 401 invalid_signature and nothing changes', async () => {
    const before = capture.emailRequests().length;
    const queueBefore = (await admin.get(`${skuPath()}/queue`)).json;
    const stateBefore = (await pub.get(skuPath())).json;
    const body = shopifyBody(10, '2026-11-29T11:00:00-05:00');

    // Signed with the wrong secret.
    assertError(await shopifyPost(body, shopifyHeaders(body, 'not-the-secret')), 401, 'invalid_signature');
    // No signature header.
    const unsigned = shopifyHeaders(body, SHOPIFY_SECRET);
    delete unsigned['x-shopify-hmac-sha256'];
    assertError(await shopifyPost(body, unsigned), 401, 'invalid_signature');
    // Empty signature header.
    assertError(await shopifyPost(body, { ...unsigned, 'x-shopify-hmac-sha256': '' }), 401, 'invalid_signature');
    // Body re-serialized with whitespace after signing.
    const pretty = JSON.stringify(JSON.parse(body), null, 2);
    assertError(await shopifyPost(pretty, shopifyHeaders(body, SHOPIFY_SECRET)), 401, 'invalid_signature');
    // Truncated signature.
    const truncated = { ...shopifyHeaders(body, SHOPIFY_SECRET) };
    truncated['x-shopify-hmac-sha256'] = truncated['x-shopify-hmac-sha256'].slice(0, 20);
    assertError(await shopifyPost(body, truncated), 401, 'invalid_signature');
    // Signature of another body.
    assertError(await shopifyPost(body, { ...unsigned, 'x-shopify-hmac-sha256': signShopify(shopifyBody(10), SHOPIFY_SECRET) }), 401, 'invalid_signature');

    await sleep(1500);
    assert.equal(capture.emailRequests().length, before, 'no emails from forged webhooks');
    const queueAfter = (await admin.get(`${skuPath()}/queue`)).json;
    assert.deepEqual(queueAfter, queueBefore, 'queue view unchanged');
    const stateAfter = (await pub.get(skuPath())).json;
    assert.equal(stateAfter.available, stateBefore.available);
    assert.equal(stateAfter.available, 3);
  });

  it('generic feed (Standard Webhooks): stale/future timestamp or bad signature → 401, valid → applied', async () => {
    const mugSignup = await pub.post(`${skuPath(SKU2)}/waitlist`, { email: 'mia@example.com' });
    assert.equal(mugSignup.status, 201, mugSignup.text);
    await capture.waitFor(() => emailsOfKind('signup_confirmation').some((r) => r.body.to[0] === 'mia@example.com'));
    const before = capture.emailRequests().length;

    const body = JSON.stringify({ sku: SKU2, available: 2, updated_at: new Date().toISOString() });
    const now = Math.floor(Date.now() / 1000);
    const tooOld = standardHeaders(body, INVENTORY_SECRET, { timestamp: now - 600 });
    assertError(await inventoryPost(body, tooOld), 401);
    const future = standardHeaders(body, INVENTORY_SECRET, { timestamp: now + 600 });
    assertError(await inventoryPost(body, future), 401);
    const wrongKey = standardHeaders(body, `whsec_${Buffer.from('some-other-key-0123456789').toString('base64')}`);
    assertError(await inventoryPost(body, wrongKey), 401);
    const valid = standardHeaders(body, INVENTORY_SECRET);
    assertError(await inventoryPost(body, { ...valid, 'webhook-signature': 'v1,' }), 401);
    assertError(await inventoryPost(body, { ...valid, 'webhook-signature': valid['webhook-signature'].replace('v1,', 'v2,') }), 401);
    assertError(await inventoryPost(` ${body}`, valid), 401);
    assert.equal((await pub.get(skuPath(SKU2))).json.available, 0, 'rejected updates changed nothing');

    // A valid one (with one stale signature alongside, as during a secret rotation).
    const rotating = { ...valid, 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')} ${valid['webhook-signature']}` };
    const ok = await inventoryPost(body, rotating);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.outcome, 'applied', ok.text);
    assert.equal(ok.json.available, 2, ok.text);
    assert.equal(ok.json.offers, 1, ok.text);
    assert.equal(ok.json.sold_out_again, 0, ok.text);
    const state = await pub.get(skuPath(SKU2));
    assert.equal(state.json.available, 2, state.text);

    const dup = await inventoryPost(body, valid);
    assert.equal(dup.status, 200, dup.text);
    assert.equal(dup.json.outcome, 'duplicate', dup.text);

    const offer = await capture.waitFor(() => emailsOfKind('restock_offer').find((r) => r.body.to[0] === 'mia@example.com'));
    checkProviderRequest(offer);
    await sleep(1500);
    assert.equal(capture.emailRequests().length, before + 1, 'exactly one new provider request (the offer)');

    // Untouched: the first SKU.
    assert.equal((await pub.get(skuPath())).json.available, 3);
  });

  it('CORS: the allowed origin is echoed, a forged origin gets no CORS headers', async () => {
    const ok = await pub.get(skuPath(), { origin: ORIGIN });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), ORIGIN);

    const forged = await pub.get(skuPath(), { origin: 'https://evil.example' });
    assert.equal(forged.status, 200, 'CORS is not authentication: the answer itself is fine');
    assert.equal(forged.headers.get('access-control-allow-origin'), null);

    const none = await pub.get(skuPath());
    assert.notEqual(none.headers.get('access-control-allow-origin'), '*');

    const pre = await pub.options(`${skuPath()}/waitlist`, {
      origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type',
    });
    assert.ok(pre.status >= 200 && pre.status < 300, `preflight status ${pre.status}`);
    assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/i);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /content-type/i);

    const preForged = await pub.options(`${skuPath()}/waitlist`, {
      origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type',
    });
    assert.equal(preForged.headers.get('access-control-allow-origin'), null);

    // A prefix / suffix of the allowed origin is not the allowed origin.
    const lookalike = await pub.get(skuPath(), { origin: `${ORIGIN}.evil.example` });
    assert.equal(lookalike.headers.get('access-control-allow-origin'), null);
  });
});

/** Checks one captured provider request against the Resend contract. */
function checkProviderRequest(r) {
  assert.equal(r.method, 'POST');
  assert.equal(r.path, '/emails');
  assert.equal(r.headers.authorization, `Bearer ${API_KEY}`);
  assert.match(r.headers['content-type'] ?? '', /application\/json/);
  const key = r.headers['idempotency-key'];
  assert.equal(typeof key, 'string');
  assert.ok(key.length > 0 && key.length <= 256, `idempotency key length: ${key}`);
  const b = r.body;
  assert.ok(b && typeof b === 'object', `JSON body: ${r.raw}`);
  assert.ok(String(b.from).includes(FROM), `from carries the shop's from_email: ${b.from}`);
  assert.ok(Array.isArray(b.to) && b.to.length === 1, `to is a one-element array: ${JSON.stringify(b.to)}`);
  for (const f of ['subject', 'html', 'text']) assert.ok(typeof b[f] === 'string' && b[f].length > 0, `${f} is set`);
  assert.ok(Array.isArray(b.tags), 'tags is an array');
  for (const t of b.tags) {
    // Resend: tag names and values are ASCII letters, numbers, underscores or dashes, ≤ 256 chars.
    assert.match(t.name, /^[A-Za-z0-9_-]{1,256}$/, `tag name ${t.name}`);
    assert.match(t.value, /^[A-Za-z0-9_-]{1,256}$/, `tag value ${t.value}`);
  }
  assert.ok(['signup_confirmation', 'restock_offer', 'sold_out_again'].includes(kindOf(b)), `kind tag: ${JSON.stringify(b.tags)}`);
}

function statuses(q) {
  return q.entries.map((e) => [e.entry_id, e.status, e.messages.map((m) => `${m.kind}:${m.status}`).sort().join(',')]);
}
