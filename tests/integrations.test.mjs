// Integrations: the generic signed feed as a batch (levels per location, ETA changes, backorders,
// conversions; stale and duplicate events), sales channels (two locations summed, one excluded),
// outgoing signed events with retries and a delivery log, CSV import in signup order, and every
// Shopify topic from its documented sample payload (tests/fixtures/shopify).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, eventually, ROOT, shopifyHeaders, standardHeaders, startEdge } from './support/harness.mjs';

const SHOP = 'intg';
const SHOPIFY_SECRET = 'shpss_intg_old';
const SHOPIFY_SECRET_NEW = 'shpss_intg_new';
const FEED_SECRET = `whsec_${Buffer.from('intg-inventory-feed-test-key-0001').toString('base64')}`;
const HOOK_SECRET = `whsec_${Buffer.from('intg-outgoing-events-test-key-01').toString('base64')}`;
const fixture = (name) => readFileSync(join(ROOT, 'tests', 'fixtures', 'shopify', `${name}.json`), 'utf8');

let edge;
let admin;
let pub;
let hooks;

/** A merchant's automation endpoint: records every delivery, can be told to fail the next ones. */
async function startHookServer() {
  const received = [];
  let failNext = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const record = { path: req.url, headers: req.headers, raw, body: JSON.parse(raw || 'null'), at: Date.now() };
      if (failNext > 0) {
        failNext -= 1;
        record.answered = 500;
        received.push(record);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('down for maintenance');
        return;
      }
      record.answered = 204;
      received.push(record);
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    received,
    failNext: (n) => { failNext = n; },
    ok: () => received.filter((r) => r.answered === 204),
    close: () => new Promise((r) => server.close(r)),
  };
}

function verifyStandard(h, raw, secret) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${h['webhook-id']}.${h['webhook-timestamp']}.${raw}`).digest('base64');
  return String(h['webhook-signature']).split(' ').some((s) => s === `v1,${expected}`);
}

const feed = (events, id = `msg_${randomUUID()}`) => {
  const body = JSON.stringify({ events });
  return pub.post(`/v1/shops/${SHOP}/webhooks/inventory`, body, standardHeaders(body, FEED_SECRET, { id }));
};
const shopify = (topic, body, { id = randomUUID(), secret = SHOPIFY_SECRET, eventId } = {}) => {
  const headers = shopifyHeaders(body, secret, { id, topic });
  if (eventId) headers['x-shopify-event-id'] = eventId;
  return pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, body, headers);
};
const queue = async (sku) => {
  const r = await admin.get(`/v1/shops/${SHOP}/skus/${sku}/queue`);
  assert.equal(r.status, 200, r.text);
  return r.json;
};
const signup = async (sku, email, extra = {}) => {
  const r = await pub.post(`/v1/shops/${SHOP}/skus/${sku}/waitlist`, { email, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.json;
};
const putSku = async (sku, cfg) => {
  const r = await admin.put(`/v1/shops/${SHOP}/skus/${sku}`, { title: sku, ...cfg });
  assert.equal(r.status, 200, r.text);
};
const kinds = (entry) => entry.messages.map((m) => m.kind);

describe('integrations: feed batches, channels, outgoing events, import, Shopify topics', () => {
  before(async () => {
    hooks = await startHookServer();
    edge = await startEdge({ vars: { EMAIL_PROVIDER: 'outbox', DEV_MODE: 'true' } });
    admin = api(edge);
    pub = api(edge, null);
    const r = await admin.put(`/v1/shops/${SHOP}`, {
      name: 'Integration Goods',
      from_email: 'hello@intg.example',
      storefront_url: 'https://intg.example',
      shopify_webhook_secrets: [SHOPIFY_SECRET, SHOPIFY_SECRET_NEW],
      inventory_webhook_secrets: [FEED_SECRET],
      hold_hours: 24,
      channels: { online_store: ['wh-east', 'wh-west', '24826418', '655441491'], amazon: ['fba'] },
      event_endpoints: [{ id: 'zap', url: `${hooks.url}/zap`, secret: HOOK_SECRET }],
    });
    assert.equal(r.status, 200, r.text);
  });

  after(async () => {
    await edge?.stop();
    await hooks?.close();
  });

  it('shop settings reject a bad endpoint, an unknown event type and an empty channel', async () => {
    const base = { name: 'x', from_email: 'a@b.example' };
    for (const bad of [
      { event_endpoints: [{ id: 'a', url: 'ftp://x', secret: HOOK_SECRET }] },
      { event_endpoints: [{ id: 'a', url: 'https://x.example', secret: 'plain' }] },
      { event_endpoints: [{ id: 'a', url: 'https://x.example', secret: HOOK_SECRET, events: ['offer.sentt'] }] },
      { channels: { online_store: [] } },
      { storefront_url: 'intg.example' },
      { shopify_domain: 'intg.example.com' },
    ]) {
      const r = await admin.put('/v1/shops/intg-bad', { ...base, ...bad });
      assert.equal(r.status, 422, `${JSON.stringify(bad)} → ${r.text}`);
      assert.equal(r.json.error.code, 'invalid_field');
    }
  });

  it('a feed batch: two sellable locations summed, a channel excluded, stale and unknown events answered per event', async () => {
    await putSku('BOOT-9', {});
    const a = await signup('BOOT-9', 'ana@example.com');
    const b = await signup('BOOT-9', 'ben@example.com');
    await signup('BOOT-9', 'cat@example.com');
    const events = [
      { type: 'level', sku: 'BOOT-9', location: 'wh-east', available: 1, updated_at: '2026-11-29T10:00:00Z' },
      { type: 'level', sku: 'BOOT-9', location: 'wh-west', available: 1, updated_at: '2026-11-29T10:00:00Z' },
      { type: 'level', sku: 'BOOT-9', location: 'fba', available: 50, updated_at: '2026-11-29T10:00:00Z' },
      { type: 'level', sku: 'BOOT-9', location: 'wh-east', available: 9, updated_at: '2026-11-29T09:00:00Z' },
      { type: 'eta', sku: 'BOOT-9', eta: { earliest: '2027-01-04', latest: '2027-01-08' }, updated_at: '2026-11-29T10:00:00Z' },
      { type: 'backorder', sku: 'BOOT-9', order_id: 'ERP-77', email: 'dan@example.com', quantity: 1, ordered_at: '2026-11-29T10:01:00Z' },
      { type: 'restock', sku: 'BOOT-9' },
      { type: 'level', sku: 'NOPE-1', location: 'wh-east', available: 3, updated_at: '2026-11-29T10:00:00Z' },
      { type: 'level', sku: 'BOOT-9', location: 'wh-east', available: -2, updated_at: '2026-11-29T11:00:00Z' },
    ];
    const id = `msg_${randomUUID()}`;
    const r = await feed(events, id);
    assert.equal(r.status, 200, r.text);
    const out = r.json.results.map((x) => x.outcome);
    assert.deepEqual(out, ['applied', 'applied', 'applied', 'stale', 'applied', 'applied', 'rejected', 'rejected', 'rejected'], r.text);
    assert.equal(r.json.results[6].error.code, 'unknown_event_type');
    assert.equal(r.json.results[7].error.code, 'unknown_sku');
    assert.equal(r.json.results[8].error.code, 'invalid_available');
    assert.deepEqual(r.json.results.map((x) => x.index), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(r.json.totals, { applied: 5, rejected: 3, stale: 1 });

    // The offers are written with the level; everyone else hears it sold out again from the alarm,
    // right after (the restock's fan-out).
    const q = await eventually(async () => {
      const q = await queue('BOOT-9');
      const cat = q.entries.find((e) => e.email === 'cat@example.com');
      return kinds(cat).includes('sold_out_again') && q;
    }, { timeoutMs: 10000, what: 'the fan-out telling cat@example.com sold_out_again' });
    // 1 + 1 from the storefront's warehouses; the 50 at Amazon FBA are not the storefront's to sell.
    assert.equal(q.available, 2);
    assert.deepEqual(q.levels.map((l) => [l.location, l.available, l.sellable]), [['fba', 50, false], ['wh-east', 1, true], ['wh-west', 1, true]]);
    assert.deepEqual(q.channels, { amazon: 50, online_store: 2 });
    assert.equal(q.waitlist_channel, 'online_store');
    const byEmail = Object.fromEntries(q.entries.map((e) => [e.email, e]));
    assert.equal(byEmail['ana@example.com'].status, 'offered');
    assert.equal(byEmail['ben@example.com'].status, 'offered');
    assert.ok(kinds(byEmail['cat@example.com']).includes('eta_changed'), kinds(byEmail['cat@example.com']).join());
    assert.equal(byEmail['dan@example.com'].kind, 'backorder');
    assert.equal(byEmail['dan@example.com'].order_id, 'ERP-77');
    const state = await pub.get(`/v1/shops/${SHOP}/skus/BOOT-9`);
    assert.match(state.json.eta_text, /January 4/);

    // The same delivery again (the sender retried): nothing is applied twice.
    const again = await feed(events, id);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json.results.map((x) => x.outcome),
      ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'rejected', 'rejected', 'rejected'], again.text);
    const q2 = await queue('BOOT-9');
    assert.equal(q2.entries.length, q.entries.length);
    assert.equal(q2.entries.flatMap((e) => e.messages).length, q.entries.flatMap((e) => e.messages).length);

    // A conversion from the ERP, then the same event again.
    const conv = { type: 'conversion', id: 'conv-1', sku: 'BOOT-9', order_id: 'ERP-80', email: 'ana@example.com', revenue: 89.5 };
    const c1 = await feed([conv]);
    assert.equal(c1.json.results[0].outcome, 'applied', c1.text);
    const c2 = await feed([conv]);
    assert.equal(c2.json.results[0].outcome, 'duplicate', c2.text);
    const q3 = await queue('BOOT-9');
    assert.equal(q3.entries.find((e) => e.entry_id === a.entry_id).status, 'converted');
    assert.equal(q3.entries.find((e) => e.entry_id === b.entry_id).status, 'offered');
  });

  it('a broken batch is refused whole: bad signature 401, not JSON 400, empty batch 422', async () => {
    const body = JSON.stringify({ events: [] });
    const bad = standardHeaders(body, FEED_SECRET);
    bad['webhook-signature'] = 'v1,AAAA';
    assert.equal((await pub.post(`/v1/shops/${SHOP}/webhooks/inventory`, body, bad)).status, 401);
    const notJson = '{"events": [';
    const r = await pub.post(`/v1/shops/${SHOP}/webhooks/inventory`, notJson, standardHeaders(notJson, FEED_SECRET));
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'invalid_json');
    const empty = await feed([]);
    assert.equal(empty.status, 422);
    assert.equal(empty.json.error.code, 'invalid_batch');
  });

  it('outgoing events are signed, retried after a failure, and listed in the delivery log', async () => {
    const ok = await eventually(() => {
      const got = hooks.ok().map((r) => r.body.type);
      return got.filter((t) => t === 'offer.sent').length >= 2 && got.includes('entry.converted') && got;
    }, { timeoutMs: 30000, what: 'offer.sent ×2 and entry.converted at the endpoint' });
    assert.equal(ok.filter((t) => t === 'waitlist.joined').length, 4, ok.join()); // 3 signups + the ERP backorder
    for (const r of hooks.received) {
      assert.ok(verifyStandard(r.headers, r.raw, HOOK_SECRET), `bad signature on ${r.raw}`);
      assert.equal(r.path, '/zap');
      assert.ok(r.headers['webhook-id'] && r.headers['webhook-timestamp']);
    }
    const offer = hooks.ok().find((r) => r.body.type === 'offer.sent');
    assert.equal(offer.body.data.sku, 'BOOT-9');
    assert.equal(offer.body.data.shop, SHOP);
    assert.match(offer.body.timestamp, /^\d{4}-\d\d-\d\dT/);

    // The endpoint fails twice: the event still arrives, once, with the same webhook-id.
    hooks.failNext(2);
    const before = hooks.received.length;
    await signup('BOOT-9', 'eli@example.com');
    const tries = await eventually(() => {
      const mine = hooks.received.slice(before).filter((r) => r.body?.data?.email === 'eli@example.com');
      return mine.some((r) => r.answered === 204) && mine;
    }, { timeoutMs: 40000, what: 'the retried waitlist.joined' });
    assert.equal(tries.length, 3, tries.map((t) => t.answered).join());
    assert.equal(new Set(tries.map((t) => t.headers['webhook-id'])).size, 1);

    const log = await admin.get(`/v1/shops/${SHOP}/events`);
    assert.equal(log.status, 200, log.text);
    const row = log.json.deliveries.find((d) => d.id === tries[0].headers['webhook-id']);
    assert.ok(row, 'the delivery is in the log');
    assert.equal(row.status, 'sent');
    assert.equal(row.attempts, 3);
    assert.equal(row.endpoint, 'zap');
    assert.equal(row.event, 'waitlist.joined');
    assert.equal((await pub.get(`/v1/shops/${SHOP}/events`)).status, 401);
  });

  it('a CSV export from another app is imported in signup order, without emails; a dry run writes nothing', async () => {
    await putSku('BOOT-10', { shopify_variant_id: 4455 });
    await signup('BOOT-10', 'first@example.com');
    const csv = [
      'Email,Phone,Product,Variant SKU,Variant ID,Signup Date',
      'late@example.com,,Boot,BOOT-10,,2026-10-03 12:00:00',
      'early@example.com,+14155550100,"Boot, size 10",,4455,2026-10-01 08:00:00',
      'middle@example.com,,Boot,BOOT-10,,2026-10-02T09:30:00Z',
      'not-an-email,,Boot,BOOT-10,,2026-10-02',
      'other@example.com,,Hat,HAT-1,,2026-10-02',
      'MIDDLE@example.com,,Boot,BOOT-10,,2026-10-05',
    ].join('\n');
    const post = (q = '') => admin.request('POST', `/v1/shops/${SHOP}/imports${q}`, { body: csv, headers: { 'content-type': 'text/csv' } });
    const dry = await post('?dry_run=true');
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.json.dry_run, true);
    assert.equal((await queue('BOOT-10')).entries.length, 1);

    const r = await post();
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.imported, 3, r.text);
    assert.deepEqual(r.json.rejected.map((x) => x.code).sort(), ['invalid_email', 'unknown_sku'], r.text);
    assert.equal(r.json.duplicates, 1, 'MIDDLE@ is middle@ again: the earliest signup counts');
    const q = await queue('BOOT-10');
    assert.deepEqual(q.entries.map((e) => e.email), ['first@example.com', 'early@example.com', 'middle@example.com', 'late@example.com']);
    for (const e of q.entries.slice(1)) {
      assert.deepEqual(e.messages, [], `${e.email} was imported, not signed up here: no email`);
      assert.equal(e.status, 'waiting');
    }
    assert.equal(new Date(q.entries[1].created_at).toISOString(), '2026-10-01T08:00:00.000Z');
    // Importing the same file again adds nobody.
    const again = await post();
    assert.equal(again.json.imported, 0, again.text);
    assert.equal((await queue('BOOT-10')).entries.length, 4);

    const noEmail = await admin.request('POST', `/v1/shops/${SHOP}/imports`, { body: 'Name,SKU\nx,BOOT-10\n', headers: { 'content-type': 'text/csv' } });
    assert.equal(noEmail.status, 422, noEmail.text);
    assert.equal(noEmail.json.error.code, 'missing_column');
    assert.equal((await pub.request('POST', `/v1/shops/${SHOP}/imports`, { body: csv })).status, 401);
  });

  it('Shopify: products sync the SKU map, levels per location, orders convert and backorder, fulfillments tell with tracking', async () => {
    // products/create, signed with the rotated-in secret: both variants get a waitlist.
    const created = await shopify('products/create', fixture('products_create'), { secret: SHOPIFY_SECRET_NEW });
    assert.equal(created.status, 200, created.text);
    assert.deepEqual(created.json.variants.map((v) => v.sku), ['TSHIRT-S', 'TSHIRT-M']);
    const s = await pub.get(`/v1/shops/${SHOP}/skus/TSHIRT-S`);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.title, 'Example T-Shirt – Small');
    // products/update: a variant without a SKU is left out, the others stay in sync.
    const updated = await shopify('products/update', fixture('products_update'));
    assert.equal(updated.status, 200, updated.text);
    assert.ok(updated.json.variants.length >= 2, updated.text);
    // A long description (115 KiB) is a normal Shopify payload; past 1 MiB it is refused.
    const long = (kib) => fixture('products_update').replace('"An example T-Shirt"', JSON.stringify(`<p>${'Soft cotton. '.repeat(kib * 79)}</p>`));
    const big = await shopify('products/update', long(115));
    assert.equal(big.status, 200, `${big.status} ${big.text.slice(0, 200)}`);
    const huge = await shopify('products/update', long(1100));
    assert.equal(huge.status, 413, huge.text.slice(0, 200));
    assert.equal(huge.json.error.code, 'body_too_large');

    await signup('TSHIRT-S', 'jon@example.com');
    const amy = await signup('TSHIRT-S', 'amy@example.com');
    // One unit at a storefront location (Shopify's sample with 10 → 1), and 5 at a location
    // outside the storefront channel.
    const one = fixture('inventory_levels_update').replace('"available": 10', '"available": 1');
    const r1 = await shopify('inventory_levels/update', one);
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.json.outcome, 'applied', r1.text);
    const elsewhere = fixture('inventory_levels_update').replace('"available": 10', '"available": 5').replace('"location_id": 24826418', '"location_id": 777');
    assert.equal((await shopify('inventory_levels/update', elsewhere)).status, 200);
    let q = await queue('TSHIRT-S');
    assert.equal(q.available, 1);
    assert.equal(q.entries.find((e) => e.email === 'jon@example.com').status, 'offered');
    assert.equal(q.entries.find((e) => e.email === 'amy@example.com').status, 'waiting');

    // TSHIRT-M is connected to the location with nothing in stock.
    const conn = await shopify('inventory_levels/connect', fixture('inventory_levels_connect'));
    assert.equal(conn.status, 200, conn.text);

    // orders/create: the TSHIRT-S line converts Jon's offer (2 × 19.99); the TSHIRT-M line oversold
    // the item, so it becomes a backorder; the third line has no waitlist.
    const eventId = randomUUID();
    const order = await shopify('orders/create', fixture('orders_create'), { eventId });
    assert.equal(order.status, 200, order.text);
    const lines = Object.fromEntries(order.json.lines.map((l) => [l.sku, l.result]));
    assert.deepEqual(Object.keys(lines).sort(), ['TSHIRT-M', 'TSHIRT-S']);
    assert.equal(lines['TSHIRT-S'].outcome, 'converted', order.text);
    assert.equal(lines['TSHIRT-S'].revenue, 39.98);
    assert.equal(lines['TSHIRT-M'].outcome, 'backorder', order.text);
    // The same event through a second subscription (new webhook id, same event id): nothing new.
    const dup = await shopify('orders/create', fixture('orders_create'), { eventId });
    assert.deepEqual(dup.json.lines.map((l) => l.result.outcome), ['duplicate', 'duplicate'], dup.text);
    q = await queue('TSHIRT-S');
    assert.equal(q.entries.find((e) => e.email === 'jon@example.com').status, 'converted');
    let m = await queue('TSHIRT-M');
    assert.equal(m.entries.length, 1);
    assert.equal(m.entries[0].kind, 'backorder');
    assert.equal(m.entries[0].order_id, '820982911946154508');
    assert.ok(kinds(m.entries[0]).includes('backorder_ack'));

    // fulfillments/create: Jon's waitlist purchase → order_shipped; the backorder → ship_notice; both with UPS tracking.
    const f = await shopify('fulfillments/create', fixture('fulfillments_create'));
    assert.equal(f.status, 200, f.text);
    assert.equal(f.json.tracking.number, '1z827wk74630');
    q = await queue('TSHIRT-S');
    assert.ok(kinds(q.entries.find((e) => e.email === 'jon@example.com')).includes('order_shipped'));
    m = await queue('TSHIRT-M');
    assert.equal(m.entries[0].status, 'converted');
    assert.ok(kinds(m.entries[0]).includes('ship_notice'));
    const mail = await eventually(async () => {
      const r = await pub.get(`/dev/mailbox.json?shop=${SHOP}`);
      const shipped = r.json.filter((x) => x.kind === 'order_shipped' || x.kind === 'ship_notice');
      return shipped.length === 2 && shipped;
    }, { what: 'two shipping emails in the mailbox' });
    for (const x of mail) {
      assert.match(x.text, /1z827wk74630/);
      assert.match(x.text, /UPS/);
    }
    // fulfillments/update with the same tracking number: nothing new to say.
    const fu = await shopify('fulfillments/update', fixture('fulfillments_update'));
    assert.equal(fu.status, 200, fu.text);
    assert.deepEqual(fu.json.lines.map((l) => l.result.outcome), ['ignored', 'ignored'], fu.text);

    // A second oversold order, then cancelled: its backorder leaves the line.
    const order2 = fixture('orders_create').replaceAll('820982911946154508', '820982911946154999');
    assert.equal((await shopify('orders/create', order2)).status, 200);
    const cancelled = await shopify('orders/cancelled', fixture('orders_cancelled').replaceAll('820982911946154508', '820982911946154999'));
    assert.equal(cancelled.status, 200, cancelled.text);
    m = await queue('TSHIRT-M');
    assert.equal(m.entries.find((e) => e.order_id === '820982911946154999').status, 'cancelled');

    // inventory_levels/disconnect: the location no longer stocks TSHIRT-S.
    const disc = await shopify('inventory_levels/disconnect', fixture('inventory_levels_disconnect'));
    assert.equal(disc.status, 200, disc.text);
    q = await queue('TSHIRT-S');
    assert.deepEqual(q.levels.map((l) => l.location), ['777']);
    assert.equal(q.available, 0);
    assert.equal(q.entries.find((e) => e.entry_id === amy.entry_id).status, 'waiting');
  });

  it('Shopify: an unknown topic is ignored, a forged or unidentified delivery refused', async () => {
    const body = '{"id":1}';
    const r = await shopify('collections/create', body);
    assert.equal(r.status, 200);
    assert.equal(r.json.outcome, 'ignored');
    const forged = shopifyHeaders(body, 'not-the-secret', { topic: 'orders/create' });
    assert.equal((await pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, body, forged)).status, 401);
    const noId = shopifyHeaders(body, SHOPIFY_SECRET, { topic: 'orders/create' });
    delete noId['x-shopify-webhook-id'];
    const r2 = await pub.post(`/v1/shops/${SHOP}/webhooks/shopify`, body, noId);
    assert.equal(r2.status, 400);
    assert.equal(r2.json.error.code, 'missing_webhook_id');
    const broken = await shopify('orders/create', '{"line_items": 7}');
    assert.equal(broken.status, 422, broken.text);
  });

  it('the local mailbox shows a message\'s HTML in a sandboxed frame, never in its own page', async () => {
    const hostile = '<p>Hi</p><img src="x" onerror="window.pwned=1"><a href="https://intg.example">shop</a>';
    const t = await admin.put(`/v1/shops/${SHOP}/templates/signup_confirmation`, { subject: 'On the list', text: 'You are on the list.', html: hostile });
    assert.equal(t.status, 200, t.text);
    await putSku('MAIL-1', {});
    await signup('MAIL-1', 'mailbox-reader@example.com');
    const page = await eventually(async () => {
      const r = await fetch(`${edge.url}/dev/mailbox?shop=${SHOP}`);
      const html = await r.text();
      return html.includes('mailbox-reader@example.com') && { r, html };
    }, { what: 'the message in the mailbox page' });
    assert.match(page.r.headers.get('content-security-policy') ?? '', /script-src 'none'/);
    assert.ok(!page.html.includes('<p>Hi</p>'), 'the message HTML is not part of the page');
    assert.ok(page.html.includes('sandbox srcdoc="') && page.html.includes('&lt;p&gt;Hi&lt;/p&gt;'), 'it is in a sandboxed frame');
    // The allowlist took the handler out before the message was written: it is nowhere.
    assert.ok(!page.html.includes('onerror') && !page.html.includes('pwned'), 'the onerror handler was sanitized away');
    assert.ok(page.html.includes('&lt;img src=&quot;x&quot;&gt;'), 'the image itself stays');
  });

  it('Shopify privacy topics: data request exports, customer redact erases, shop redact removes the shop', async () => {
    const asJon = (name, shop = SHOP) => fixture(name).replaceAll('john@example.com', 'jon@example.com').replace('{shop}', shop);
    // Signed with the app's one secret but naming another shop: nothing is exported or erased.
    for (const topic of ['customers/data_request', 'customers/redact']) {
      const misrouted = await shopify(topic, asJon(topic.replace('/', '_'), 'someone-else'));
      assert.equal(misrouted.status, 200, misrouted.text);
      assert.deepEqual(misrouted.json, { outcome: 'ignored', reason: 'shop_domain_mismatch' }, topic);
    }
    assert.ok((await queue('TSHIRT-S')).entries.some((e) => e.email === 'jon@example.com'), 'jon is still on the list');
    const dr = await shopify('customers/data_request', asJon('customers_data_request'));
    assert.equal(dr.status, 200, dr.text);
    assert.equal(dr.json.outcome, 'exported');
    assert.ok(dr.json.entries.length >= 2, dr.text);
    assert.ok(dr.json.entries.every((e) => e.email === 'jon@example.com'));

    const cr = await shopify('customers/redact', asJon('customers_redact'));
    assert.equal(cr.status, 200, cr.text);
    assert.ok(cr.json.erased_entries >= 2, cr.text);
    const q = await queue('TSHIRT-S');
    assert.ok(!q.entries.some((e) => e.email === 'jon@example.com'));

    // An address that used up its hourly signups: its limiter shard goes with the shop.
    const join = (email) => pub.post(`/v1/shops/${SHOP}/skus/TSHIRT-S/waitlist`, { email });
    for (let i = 0; i < 10; i++) await signup('TSHIRT-S', `spent+${i}@example.com`);
    assert.equal((await join('spent+10@example.com')).status, 429);

    // Shopify signs every shop's webhooks with the app's one secret: a shop/redact for another
    // shop, sent to this shop's address, is ignored and changes nothing.
    const other = await shopify('shop/redact', fixture('shop_redact').replace('{shop}', 'someone-else'));
    assert.equal(other.status, 200, other.text);
    assert.deepEqual(other.json, { outcome: 'ignored', reason: 'shop_domain_mismatch' });
    assert.equal((await pub.get(`/v1/shops/${SHOP}/skus/TSHIRT-S`)).status, 200, 'the shop is still there');

    const sr = await shopify('shop/redact', fixture('shop_redact').replace('{shop}', SHOP));
    assert.equal(sr.status, 200, sr.text);
    assert.equal(sr.json.outcome, 'redacted', sr.text);
    const gone = await pub.get(`/v1/shops/${SHOP}/skus/TSHIRT-S`);
    assert.equal(gone.status, 404, gone.text);
    assert.equal(gone.json.error.code, 'unknown_shop');

    // Installed again, the shop starts from nothing: the address's count went with the old one.
    assert.equal((await admin.put(`/v1/shops/${SHOP}`, { name: 'Integration Goods', from_email: 'hello@intg.example' })).status, 200);
    await putSku('TSHIRT-S', {});
    const fresh = await join('spent+11@example.com');
    assert.equal(fresh.status, 201, fresh.text);
  });
});
