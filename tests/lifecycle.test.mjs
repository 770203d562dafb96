// Full lifecycle on one edge with the dev clock (DEV_MODE=true): pre-orders walked through their
// schedule (check-in, ETA change, heads-up, ready), a hold that runs out and passes down the line
// (non-opener nudge, reminder, expiry, click tracking, conversion), backorders (ack with a cancel
// link, ship notice ahead of notify entries, cancel page vs. cancel), the no-hold policy (notify
// multiplier, urgency follow-up) and, over everything, exactly one provider request per
// idempotency key.
//
// The dev clock is global: every advance ticks every registered shop. Scenarios run in order, each
// in its own shop, and each asserts only on its own shop's messages (filtered by the `shop` tag);
// dates are computed from the edge's clock (real now + offset), not the wall clock.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, eventually, kindOf, sleep, standardHeaders, startCapture, startEdge,
} from './support/harness.mjs';

const API_KEY = 'test-key';
const LINK_SECRET = 'test-link-secret';
const INVENTORY_SECRET = `whsec_${Buffer.from('lifecycle-inventory-feed-key-0001').toString('base64')}`;
const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
/** After the expected messages arrived: how long to wait for any extra (duplicate) one. */
const SETTLE_MS = 1500;

let capture;
let edge;
let admin;
let pub;
/** The dev clock's offset as the edge last reported it. */
let offsetMs = 0;

const edgeNow = () => Date.now() + offsetMs;
const tag = (body, name) => body?.tags?.find?.((t) => t?.name === name)?.value;
const to = (r) => r.body?.to?.[0]?.toLowerCase();

/** Captured provider requests, filtered by shop / sku / kind / recipient / entry. */
function sent({ shop, sku, kind, email, entry } = {}) {
  return capture.emailRequests().filter((r) => (!shop || tag(r.body, 'shop') === shop)
    && (!sku || tag(r.body, 'sku') === sku)
    && (!kind || kindOf(r.body) === kind)
    && (!email || to(r) === email.toLowerCase())
    && (!entry || tag(r.body, 'entry') === entry));
}

/** `{kind: count}` of a shop's messages. */
function kindCounts(shop) {
  const out = {};
  for (const r of sent({ shop })) out[kindOf(r.body)] = (out[kindOf(r.body)] ?? 0) + 1;
  return out;
}

async function waitSent(filter, n, what, timeoutMs = 20000) {
  try {
    return await capture.waitFor(() => (sent(filter).length >= n ? sent(filter) : null), timeoutMs);
  } catch (e) {
    throw new Error(`waiting for ${n}× ${what} (${JSON.stringify(filter)}); got ${sent(filter).length}.\n` +
      `shop kinds so far: ${JSON.stringify(filter.shop ? kindCounts(filter.shop) : {})}\n${e.message}`);
  }
}

/** Moves the dev clock forward and runs what is due. */
async function advance(seconds) {
  const secs = Math.ceil(seconds);
  const r = await admin.post('/v1/dev/advance', { seconds: secs });
  assert.equal(r.status, 200, `POST /v1/dev/advance ${secs}: ${r.status} ${r.text}`);
  assert.equal(typeof r.json?.offset_seconds, 'number', r.text);
  offsetMs = r.json.offset_seconds * 1000;
  return r.json;
}

/** Advances the dev clock to `targetMs` (edge time) plus a minute. */
async function advanceTo(targetMs) {
  const secs = (targetMs - edgeNow()) / 1000 + 60;
  assert.ok(secs > 0, `advanceTo: target ${new Date(targetMs).toISOString()} already passed (edge now ${new Date(edgeNow()).toISOString()})`);
  return advance(secs);
}

/** `YYYY-MM-DD` of `ms` (UTC). */
const isoDate = (ms) => new Date(ms).toISOString().slice(0, 10);
/** Midnight UTC of `days` after the edge's today. */
const dayMs = (days) => Date.UTC(...(() => { const d = new Date(edgeNow()); return [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()]; })()) + days * DAY;
/** "March 5" — the start of `Date::long_text` (a year may follow). */
const monthDay = (ms) => { const d = new Date(ms); return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`; };

async function setupShop(shop, extra = {}) {
  const r = await admin.put(`/v1/shops/${shop}`, {
    name: `Shop ${shop}`,
    from_email: `hello@${shop}.example`,
    allowed_origins: [],
    shopify_webhook_secrets: [`shpss_${shop}_secret`],
    inventory_webhook_secrets: [INVENTORY_SECRET],
    hold_hours: 24,
    hold_reminder_hours: 4,
    support_email: `help@${shop}.example`,
    postal_address: '1 Test Street, Springfield',
    utc_offset_minutes: -300,
    time_zone_label: 'EST',
    ...extra,
  });
  assert.equal(r.status, 200, `PUT /v1/shops/${shop}: ${r.text}`);
}

async function putSku(shop, sku, body) {
  const r = await admin.put(`/v1/shops/${shop}/skus/${sku}`, { shopify_inventory_item_id: null, ...body });
  assert.equal(r.status, 200, `PUT /v1/shops/${shop}/skus/${sku}: ${r.text}`);
  return r;
}

async function signup(shop, sku, email, position) {
  const r = await pub.post(`/v1/shops/${shop}/skus/${sku}/waitlist`, { email });
  assert.equal(r.status, 201, `signup ${email}: ${r.text}`);
  if (position !== undefined) assert.equal(r.json.position, position, r.text);
  assert.equal(r.json.status, 'waiting', r.text);
  return r.json;
}

/** Per-SKU increasing `updated_at` for the feed. */
const lastUpdate = new Map();
async function feed(shop, sku, available) {
  const prev = lastUpdate.get(`${shop}/${sku}`) ?? 0;
  const at = Math.max(edgeNow(), prev + 1000);
  lastUpdate.set(`${shop}/${sku}`, at);
  const body = JSON.stringify({ sku, available, updated_at: new Date(at).toISOString() });
  const r = await pub.post(`/v1/shops/${shop}/webhooks/inventory`, body, standardHeaders(body, INVENTORY_SECRET));
  assert.equal(r.status, 200, `inventory feed ${shop}/${sku}=${available}: ${r.text}`);
  assert.equal(r.json.outcome, 'applied', r.text);
  return r.json;
}

async function queue(shop, sku) {
  const r = await admin.get(`/v1/shops/${shop}/skus/${sku}/queue`);
  assert.equal(r.status, 200, `queue ${shop}/${sku}: ${r.text}`);
  return r.json;
}

async function entryStatuses(shop, sku) {
  const q = await queue(shop, sku);
  return Object.fromEntries(q.entries.map((e) => [e.email.toLowerCase(), e.status]));
}

/** The first `…/v1/l/<token>` link in a message (text, else html). */
function trackedLink(r) {
  const m = `${r.body.text}\n${r.body.html}`.match(/https?:\/\/[^\s"'<>]+\/v1\/l\/([A-Za-z0-9_.-]+)/);
  assert.ok(m, `no tracked link in ${kindOf(r.body)}:\n${r.body.text}`);
  return { url: m[0], token: m[1] };
}

function cancelLink(r) {
  const m = `${r.body.text}\n${r.body.html}`.match(/https?:\/\/[^\s"'<>]+\/v1\/cancel\/([A-Za-z0-9_.-]+)/);
  assert.ok(m, `no cancel link in ${kindOf(r.body)}:\n${r.body.text}`);
  return { url: m[0], token: m[1] };
}

/** Flips one character in the signature part of a token. */
function tamper(token) {
  const i = token.length - 3;
  const c = token[i] === 'A' ? 'B' : 'A';
  return token.slice(0, i) + c + token.slice(i + 1);
}

function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.equal(typeof res.json?.error?.code, 'string', `error body should be {"error":{"code","message"}}: ${res.text}`);
  if (code) assert.equal(res.json.error.code, code, res.text);
}

function assert4xx(res, code) {
  assert.ok(res.status >= 400 && res.status < 500, `expected 4xx, got ${res.status}: ${res.text}`);
  assert.equal(res.json?.error?.code, code, res.text);
}

/** Each address got exactly one message of this kind (and nobody else did). */
function assertOncePerRecipient(filter, emails, what) {
  const got = sent(filter).map(to).sort();
  assert.deepEqual(got, emails.map((e) => e.toLowerCase()).sort(), `${what}: one each to ${emails.join(', ')}; got ${JSON.stringify(got)}`);
}

describe('lifecycle: pre-orders, holds, backorders, no-hold policy and the message schedule', () => {
  before(async () => {
    capture = await startCapture();
    edge = await startEdge({
      vars: {
        EMAIL_PROVIDER: 'resend',
        EMAIL_API_BASE: capture.url,
        EMAIL_API_KEY: API_KEY,
        DEV_MODE: 'true',
        LINK_SECRET,
      },
    });
    admin = api(edge);
    pub = api(edge, null);
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('dev clock: admin only, bounded, reports its offset', async () => {
    assertError(await pub.post('/v1/dev/advance', { seconds: 1 }), 401, 'unauthorized');
    const neg = await admin.post('/v1/dev/advance', { seconds: -5 });
    assert.ok(neg.status >= 400 && neg.status < 500, `negative seconds → 4xx, got ${neg.status} ${neg.text}`);
    const r = await advance(0);
    assert.equal(r.offset_seconds, 0, JSON.stringify(r));
  });

  // -------------------------------------------------------------------------------------------
  describe('1. a pre-order SKU walked through its schedule', () => {
    const SHOP = 'life-pre';
    const SKU = 'PRE-JACKET';
    const EMAILS = ['pa@example.com', 'pb@example.com', 'pc@example.com'];
    let firstEarliest;
    let newEarliest;
    let oldEarliest;

    it('setup: ETA ~30 days out; 3 pre-orders → signup_confirmation ×3', async () => {
      await setupShop(SHOP);
      firstEarliest = dayMs(30);
      oldEarliest = firstEarliest;
      await putSku(SHOP, SKU, {
        title: 'Storm Jacket (pre-order)',
        url: `https://${SHOP}.example/products/storm-jacket`,
        mode: 'preorder',
        eta: { earliest: isoDate(firstEarliest), latest: isoDate(dayMs(37)) },
      });
      for (const [i, email] of EMAILS.entries()) {
        const r = await signup(SHOP, SKU, email, i + 1);
        assert.deepEqual(r.eta, { earliest: isoDate(firstEarliest), latest: isoDate(dayMs(37)) }, JSON.stringify(r));
      }
      const q = await queue(SHOP, SKU);
      assert.deepEqual(q.entries.map((e) => e.kind), ['preorder', 'preorder', 'preorder'], JSON.stringify(q.entries));
      await waitSent({ shop: SHOP, kind: 'signup_confirmation' }, 3, 'signup_confirmation');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'signup_confirmation' }, EMAILS, 'signup_confirmation');
      assert.deepEqual(kindCounts(SHOP), { signup_confirmation: 3 });
    });

    it('advance 16 days → midwait_checkin ×3, exactly once, nothing else', async () => {
      await advance(16 * DAY / 1000);
      await waitSent({ shop: SHOP, kind: 'midwait_checkin' }, 3, 'midwait_checkin');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'midwait_checkin' }, EMAILS, 'midwait_checkin');
      // A second tick at the same time changes nothing.
      await advance(0);
      await sleep(SETTLE_MS);
      assert.deepEqual(kindCounts(SHOP), { signup_confirmation: 3, midwait_checkin: 3 });
    });

    it('a later ETA → eta_changed ×3 at once, naming old and new dates', async () => {
      newEarliest = firstEarliest + 15 * DAY;
      const newLatest = newEarliest + 10 * DAY;
      await putSku(SHOP, SKU, {
        title: 'Storm Jacket (pre-order)',
        url: `https://${SHOP}.example/products/storm-jacket`,
        mode: 'preorder',
        eta: { earliest: isoDate(newEarliest), latest: isoDate(newLatest) },
      });
      const msgs = await waitSent({ shop: SHOP, kind: 'eta_changed' }, 3, 'eta_changed (no clock advance)');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'eta_changed' }, EMAILS, 'eta_changed');
      for (const r of msgs) {
        assert.ok(r.body.text.includes(monthDay(newEarliest)), `eta_changed names the new date ${monthDay(newEarliest)}:\n${r.body.text}`);
        assert.ok(r.body.text.includes(monthDay(oldEarliest)), `eta_changed names the old date ${monthDay(oldEarliest)}:\n${r.body.text}`);
      }
      const state = await pub.get(`/v1/shops/${SHOP}/skus/${SKU}`);
      assert.equal(state.json.eta.earliest, isoDate(newEarliest), state.text);
      // Setting the same ETA again is not news.
      await putSku(SHOP, SKU, {
        title: 'Storm Jacket (pre-order)',
        url: `https://${SHOP}.example/products/storm-jacket`,
        mode: 'preorder',
        eta: { earliest: isoDate(newEarliest), latest: isoDate(newLatest) },
      });
      await sleep(SETTLE_MS);
      assert.equal(sent({ shop: SHOP, kind: 'eta_changed' }).length, 3, 'an unchanged ETA sends nothing');
    });

    it('advance to 4 days before the new earliest → shipping_imminent ×3, no second midwait', async () => {
      // Just before the heads-up: nothing yet.
      await advanceTo(newEarliest - 4 * DAY - 2 * HOUR);
      await sleep(SETTLE_MS);
      assert.equal(sent({ shop: SHOP, kind: 'shipping_imminent' }).length, 0, 'no heads-up before its time');
      await advanceTo(newEarliest - 4 * DAY);
      await waitSent({ shop: SHOP, kind: 'shipping_imminent' }, 3, 'shipping_imminent');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'shipping_imminent' }, EMAILS, 'shipping_imminent');
      assert.deepEqual(kindCounts(SHOP), { signup_confirmation: 3, midwait_checkin: 3, eta_changed: 3, shipping_imminent: 3 });
    });

    it('inventory 2 → preorder_ready to the first 2 (with a tracked link), sold_out_again to the 3rd', async () => {
      const r = await feed(SHOP, SKU, 2);
      assert.equal(r.available, 2, JSON.stringify(r));
      assert.equal(r.offers, 2, JSON.stringify(r));
      assert.equal(r.sold_out_again, 1, JSON.stringify(r));
      await waitSent({ shop: SHOP, kind: 'preorder_ready' }, 2, 'preorder_ready');
      await waitSent({ shop: SHOP, kind: 'sold_out_again' }, 1, 'sold_out_again');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'preorder_ready' }, EMAILS.slice(0, 2), 'preorder_ready');
      assertOncePerRecipient({ shop: SHOP, kind: 'sold_out_again' }, EMAILS.slice(2), 'sold_out_again');
      for (const m of sent({ shop: SHOP, kind: 'preorder_ready' })) trackedLink(m);
      assert.deepEqual(kindCounts(SHOP), {
        signup_confirmation: 3, midwait_checkin: 3, eta_changed: 3, shipping_imminent: 3, preorder_ready: 2, sold_out_again: 1,
      });
      assert.deepEqual(await entryStatuses(SHOP, SKU), { [EMAILS[0]]: 'offered', [EMAILS[1]]: 'offered', [EMAILS[2]]: 'waiting' });
      const state = await pub.get(`/v1/shops/${SHOP}/skus/${SKU}`);
      assert.equal(state.json.reserved, 2, state.text);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('2. a hold that runs out and moves down the line', () => {
    const SHOP = 'life-hold';
    const SKU = 'TEE-HOLD';
    const PRODUCT_URL = `https://${SHOP}.example/products/tee?variant=M`;
    const [A, B, C] = ['ha@example.com', 'hb@example.com', 'hc@example.com'];
    const ids = {};
    let holdUntilA;
    let holdUntilB;
    let linkB;

    it('setup: 3 signups, stock 1 → restock_offer to #1, sold_out_again to #2 and #3', async () => {
      await setupShop(SHOP);
      await putSku(SHOP, SKU, { title: 'Tee — M', url: PRODUCT_URL, mode: 'restock', eta: null });
      for (const [i, email] of [A, B, C].entries()) ids[email] = (await signup(SHOP, SKU, email, i + 1)).entry_id;
      await waitSent({ shop: SHOP, kind: 'signup_confirmation' }, 3, 'signup_confirmation');

      const r = await feed(SHOP, SKU, 1);
      assert.equal(r.offers, 1, JSON.stringify(r));
      assert.equal(r.sold_out_again, 2, JSON.stringify(r));
      await waitSent({ shop: SHOP, kind: 'restock_offer' }, 1, 'restock_offer');
      await waitSent({ shop: SHOP, kind: 'sold_out_again' }, 2, 'sold_out_again');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'restock_offer' }, [A], 'restock_offer');
      assertOncePerRecipient({ shop: SHOP, kind: 'sold_out_again' }, [B, C], 'sold_out_again');
      trackedLink(sent({ shop: SHOP, kind: 'restock_offer' })[0]);

      const q = await queue(SHOP, SKU);
      const a = q.entries.find((e) => e.entry_id === ids[A]);
      assert.equal(a.status, 'offered', JSON.stringify(a));
      assert.equal(typeof a.hold_until, 'number', JSON.stringify(a));
      const lead = a.hold_until - edgeNow();
      assert.ok(lead > 23 * HOUR && lead <= 24 * HOUR + 60 * SECOND, `hold lasts 24 h of edge time, got ${lead / HOUR} h`);
      holdUntilA = a.hold_until;
      const state = await pub.get(`/v1/shops/${SHOP}/skus/${SKU}`);
      assert.equal(state.json.reserved, 1, state.text);
      assert.equal(state.json.reserved_until, holdUntilA, state.text);
    });

    it('advance 8 h → nonopener_followup to #1 (with a link), no reminder yet', async () => {
      await advanceTo(holdUntilA - 16 * HOUR);
      await waitSent({ shop: SHOP, kind: 'nonopener_followup' }, 1, 'nonopener_followup');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'nonopener_followup' }, [A], 'nonopener_followup');
      trackedLink(sent({ shop: SHOP, kind: 'nonopener_followup' })[0]);
      assert.equal(sent({ shop: SHOP, kind: 'hold_reminder' }).length, 0, 'no reminder 16 h before the end');
    });

    it('advance to 4 h before the end → hold_reminder to #1', async () => {
      await advanceTo(holdUntilA - 4 * HOUR);
      await waitSent({ shop: SHOP, kind: 'hold_reminder' }, 1, 'hold_reminder');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'hold_reminder' }, [A], 'hold_reminder');
      trackedLink(sent({ shop: SHOP, kind: 'hold_reminder' })[0]);
      assert.equal(sent({ shop: SHOP, kind: 'hold_expired' }).length, 0);
      assert.equal((await entryStatuses(SHOP, SKU))[A], 'offered');
    });

    it('advance past the end → hold_expired to #1 and restock_offer to #2 at once', async () => {
      await advanceTo(holdUntilA);
      await waitSent({ shop: SHOP, kind: 'hold_expired' }, 1, 'hold_expired');
      await waitSent({ shop: SHOP, kind: 'restock_offer' }, 2, 'restock_offer to #2');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'hold_expired' }, [A], 'hold_expired');
      assertOncePerRecipient({ shop: SHOP, kind: 'restock_offer' }, [A, B], 'restock_offer');
      assert.equal(sent({ shop: SHOP, email: C, kind: 'restock_offer' }).length, 0, '#3 gets nothing new');
      assert.deepEqual(await entryStatuses(SHOP, SKU), { [A]: 'expired', [B]: 'offered', [C]: 'waiting' });
      const q = await queue(SHOP, SKU);
      const b = q.entries.find((e) => e.entry_id === ids[B]);
      assert.equal(b.units, 1, JSON.stringify(b));
      holdUntilB = b.hold_until;
      assert.ok(holdUntilB > edgeNow() + 23 * HOUR, `#2's hold runs a fresh 24 h: ${JSON.stringify(b)}`);
      const state = await pub.get(`/v1/shops/${SHOP}/skus/${SKU}`);
      assert.equal(state.json.reserved, 1, state.text);
    });

    it('links: a tampered token → invalid_link; #2 clicks → 302 to the product with restock_claim; the claim is live', async () => {
      const offerB = sent({ shop: SHOP, kind: 'restock_offer', email: B })[0];
      linkB = trackedLink(offerB);
      assert.ok(linkB.url.startsWith(`${edge.url}/v1/l/`), `tracked link on PUBLIC_BASE_URL: ${linkB.url}`);

      const bad = await fetch(`${edge.url}/v1/l/${tamper(linkB.token)}`, { redirect: 'manual' });
      const badText = await bad.text();
      assert.ok(bad.status >= 400 && bad.status < 500, `tampered click → 4xx, got ${bad.status} ${badText}`);
      assert.equal(JSON.parse(badText)?.error?.code, 'invalid_link', badText);
      assert.equal(bad.headers.get('location'), null, 'no redirect for a tampered link');

      const click = await fetch(linkB.url, { redirect: 'manual' });
      await click.arrayBuffer();
      assert.equal(click.status, 302, `click → 302, got ${click.status}`);
      const location = click.headers.get('location');
      assert.ok(location?.startsWith(`${PRODUCT_URL}&restock_claim=`), `redirect to the product with the claim: ${location}`);
      const claimToken = new URL(location).searchParams.get('restock_claim');
      assert.ok(claimToken);

      const claim = await pub.get(`/v1/shops/${SHOP}/skus/${SKU}/claims/${claimToken}`);
      assert.equal(claim.status, 200, claim.text);
      assert.equal(claim.json.entry_id, ids[B], claim.text);
      assert.equal(claim.json.status, 'offered', claim.text);
      assert.equal(claim.json.units, 1, claim.text);
      assert.equal(claim.json.hold_until, holdUntilB, claim.text);
      assert.equal(claim.json.live, true, claim.text);

      assert4xx(await pub.get(`/v1/shops/${SHOP}/skus/${SKU}/claims/${tamper(claimToken)}`), 'invalid_link');
      // A click token is not a claim token.
      assert4xx(await pub.get(`/v1/shops/${SHOP}/skus/${SKU}/claims/${linkB.token}`), 'invalid_link');
    });

    it('advance 8 h → no nonopener_followup for #2 (clicked)', async () => {
      await advance(8 * HOUR / 1000 + 120);
      await sleep(SETTLE_MS * 2);
      assert.equal(sent({ shop: SHOP, kind: 'nonopener_followup', email: B }).length, 0,
        `clicked offer gets no non-opener nudge; shop kinds ${JSON.stringify(kindCounts(SHOP))}`);
      assert.equal(sent({ shop: SHOP, kind: 'nonopener_followup' }).length, 1, 'still only #1\'s nudge');
      assert.equal((await entryStatuses(SHOP, SKU))[B], 'offered');
    });

    it('conversion of #2 → 200 converted; reserved 0; an expired entry or a repeat → 409 not_convertible', async () => {
      const r = await admin.post(`/v1/shops/${SHOP}/skus/${SKU}/conversions`, { entry_id: ids[B], order_id: 'ORD-B-1', quantity: 1, revenue: 25 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.entry_id, ids[B], r.text);
      assert.equal(r.json.status, 'converted', r.text);
      assert.equal(r.json.units, 1, r.text);
      assert.equal(r.json.revenue, 25, r.text);

      assertError(await admin.post(`/v1/shops/${SHOP}/skus/${SKU}/conversions`, { entry_id: ids[B], order_id: 'ORD-B-2', quantity: 1, revenue: 25 }), 409, 'not_convertible');
      assertError(await admin.post(`/v1/shops/${SHOP}/skus/${SKU}/conversions`, { email: A, order_id: 'ORD-A-1', quantity: 1, revenue: 25 }), 409, 'not_convertible');
      assertError(await pub.post(`/v1/shops/${SHOP}/skus/${SKU}/conversions`, { entry_id: ids[C], order_id: 'x', quantity: 1, revenue: 1 }), 401, 'unauthorized');

      const state = await pub.get(`/v1/shops/${SHOP}/skus/${SKU}`);
      assert.equal(state.status, 200, state.text);
      assert.equal(state.json.reserved, 0, state.text);
      assert.equal(state.json.reserved_until ?? null, null, state.text);
      assert.deepEqual(await entryStatuses(SHOP, SKU), { [A]: 'expired', [B]: 'converted', [C]: 'waiting' });
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('3. backorders: ack with a cancel link, served before notify entries, cancel', () => {
    const SHOP = 'life-back';
    const SKU = 'BOOT-BO';
    const [B1, B2, N] = ['b1@example.com', 'b2@example.com', 'bn@example.com'];
    const ids = {};

    it('setup: backorder SKU with ETA; a notify signup and two backorders → backorder_ack with a cancel link', async () => {
      await setupShop(SHOP);
      await putSku(SHOP, SKU, {
        title: 'Trail Boot — 42',
        url: `https://${SHOP}.example/products/trail-boot`,
        mode: 'backorder',
        eta: { earliest: isoDate(dayMs(20)), latest: isoDate(dayMs(27)) },
      });
      // The notify signup comes first in time; backorders (paid) still go ahead of it.
      ids[N] = (await signup(SHOP, SKU, N, 1)).entry_id;
      const r1 = await admin.post(`/v1/shops/${SHOP}/skus/${SKU}/backorders`, {
        order_id: 'ORD-1001', email: B1, quantity: 1, ordered_at: new Date(edgeNow() - 2 * HOUR).toISOString(),
      });
      assert.equal(r1.status, 201, r1.text);
      ids[B1] = r1.json.entry_id;
      assert4xx(await pub.post(`/v1/shops/${SHOP}/skus/${SKU}/backorders`, {
        order_id: 'ORD-X', email: 'x@example.com', quantity: 1, ordered_at: new Date(edgeNow()).toISOString(),
      }), 'unauthorized');
      const ack1 = (await waitSent({ shop: SHOP, kind: 'backorder_ack' }, 1, 'backorder_ack'))[0];
      assert.equal(to(ack1), B1);
      cancelLink(ack1);

      const r2 = await admin.post(`/v1/shops/${SHOP}/skus/${SKU}/backorders`, {
        order_id: 'ORD-1002', email: B2, quantity: 1, ordered_at: new Date(edgeNow() - 1 * HOUR).toISOString(),
      });
      assert.equal(r2.status, 201, r2.text);
      ids[B2] = r2.json.entry_id;
      // The same order again → the same entry.
      const again = await admin.post(`/v1/shops/${SHOP}/skus/${SKU}/backorders`, {
        order_id: 'ORD-1002', email: B2, quantity: 1, ordered_at: new Date(edgeNow() - 1 * HOUR).toISOString(),
      });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.json.entry_id, ids[B2], again.text);

      await waitSent({ shop: SHOP, kind: 'backorder_ack' }, 2, 'backorder_ack');
      await waitSent({ shop: SHOP, kind: 'signup_confirmation' }, 1, 'signup_confirmation');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'backorder_ack' }, [B1, B2], 'backorder_ack');
      for (const m of sent({ shop: SHOP, kind: 'backorder_ack' })) {
        const order = to(m) === B1 ? 'ORD-1001' : 'ORD-1002';
        assert.ok(m.body.text.includes(order), `backorder_ack names the order ${order}:\n${m.body.text}`);
        cancelLink(m);
      }

      const q = await queue(SHOP, SKU);
      const byEmail = Object.fromEntries(q.entries.map((e) => [e.email.toLowerCase(), e]));
      assert.equal(byEmail[B1].kind, 'backorder');
      assert.equal(byEmail[B1].order_id, 'ORD-1001');
      assert.equal(byEmail[N].kind, 'notify');
      assert.deepEqual([byEmail[B1].position, byEmail[B2].position, byEmail[N].position], [1, 2, 3], 'backorders ahead of the notify signup');
    });

    it('stock 1 → ship_notice to the first backorder (before the notify entry); nothing to the others', async () => {
      const r = await feed(SHOP, SKU, 1);
      assert.equal(r.available, 1, JSON.stringify(r));
      await waitSent({ shop: SHOP, kind: 'ship_notice' }, 1, 'ship_notice');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'ship_notice' }, [B1], 'ship_notice');
      assert.equal(sent({ shop: SHOP, kind: 'restock_offer' }).length, 0, 'the notify entry gets no offer: the unit is the backorder\'s');
      const q = await queue(SHOP, SKU);
      const byEmail = Object.fromEntries(q.entries.map((e) => [e.email.toLowerCase(), e]));
      assert.equal(byEmail[B1].status, 'allocated', JSON.stringify(byEmail[B1]));
      assert.equal(byEmail[B1].units, 1, JSON.stringify(byEmail[B1]));
      assert.equal(byEmail[B2].status, 'waiting');
      assert.equal(byEmail[N].status, 'waiting');
    });

    it('GET the cancel link → a page with a form, nothing cancelled; POST → cancelled; a tampered token → invalid_link', async () => {
      const ack2 = sent({ shop: SHOP, kind: 'backorder_ack', email: B2 })[0];
      const link = cancelLink(ack2);
      assert.ok(link.url.startsWith(`${edge.url}/v1/cancel/`), link.url);

      const page = await fetch(link.url);
      const html = await page.text();
      assert.equal(page.status, 200, html);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      assert.match(html, /<form[^>]*method="post"/i, html);
      assert.equal((await entryStatuses(SHOP, SKU))[B2], 'waiting', 'GET does not cancel');

      const bad = await fetch(`${edge.url}/v1/cancel/${tamper(link.token)}`, { method: 'POST' });
      const badText = await bad.text();
      assert.ok(bad.status >= 400 && bad.status < 500, `tampered cancel → 4xx, got ${bad.status}`);
      assert.equal(JSON.parse(badText)?.error?.code, 'invalid_link', badText);
      assert.equal((await entryStatuses(SHOP, SKU))[B2], 'waiting');

      const post = await fetch(link.url, { method: 'POST' });
      const done = await post.text();
      assert.equal(post.status, 200, done);
      assert.match(done, /cancelled/i, done);
      const statuses = await entryStatuses(SHOP, SKU);
      assert.deepEqual(statuses, { [B1]: 'allocated', [B2]: 'cancelled', [N]: 'waiting' });

      const twice = await fetch(link.url, { method: 'POST' });
      const twiceText = await twice.text();
      assert.ok(twice.status < 500, `a second cancel is not an error page: ${twice.status} ${twiceText}`);
      assert.equal((await entryStatuses(SHOP, SKU))[B2], 'cancelled');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('4. no-hold policy: notify multiplier and urgency follow-up', () => {
    const SHOP = 'life-nohold';
    const SKU = 'CAP-NH';
    const EMAILS = ['na@example.com', 'nb@example.com', 'nc@example.com', 'nd@example.com'];

    it('hold_hours 0, multiplier 1.5: 4 signups, stock 2 → restock_offer ×3 (notified), sold_out_again ×1', async () => {
      await setupShop(SHOP, { hold_hours: 0, notify_multiplier: 1.5 });
      await putSku(SHOP, SKU, { title: 'Cap', url: `https://${SHOP}.example/products/cap`, mode: 'restock', eta: null });
      for (const [i, email] of EMAILS.entries()) await signup(SHOP, SKU, email, i + 1);
      await waitSent({ shop: SHOP, kind: 'signup_confirmation' }, 4, 'signup_confirmation');

      const r = await feed(SHOP, SKU, 2);
      assert.equal(r.offers, 3, JSON.stringify(r));
      assert.equal(r.sold_out_again, 1, JSON.stringify(r));
      await waitSent({ shop: SHOP, kind: 'restock_offer' }, 3, 'restock_offer');
      await waitSent({ shop: SHOP, kind: 'sold_out_again' }, 1, 'sold_out_again');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'restock_offer' }, EMAILS.slice(0, 3), 'restock_offer');
      assertOncePerRecipient({ shop: SHOP, kind: 'sold_out_again' }, EMAILS.slice(3), 'sold_out_again');
      for (const m of sent({ shop: SHOP, kind: 'restock_offer' })) trackedLink(m);

      const q = await queue(SHOP, SKU);
      const bySeq = [...q.entries].sort((a, b) => a.seq - b.seq);
      assert.deepEqual(bySeq.map((e) => e.status), ['notified', 'notified', 'notified', 'waiting'], JSON.stringify(bySeq));
      for (const e of bySeq.slice(0, 3)) assert.equal(e.hold_until ?? null, null, `no hold: ${JSON.stringify(e)}`);
      const state = await pub.get(`/v1/shops/${SHOP}/skus/${SKU}`);
      assert.equal(state.json.reserved, 0, state.text);
      assert.equal(state.json.available, 2, state.text);
    });

    it('advance 24 h → urgency_followup ×3 (stock remains), once each', async () => {
      await advance(23 * HOUR / 1000);
      await sleep(SETTLE_MS);
      assert.equal(sent({ shop: SHOP, kind: 'urgency_followup' }).length, 0, 'not before 24 h');
      await advance(HOUR / 1000 + 120);
      await waitSent({ shop: SHOP, kind: 'urgency_followup' }, 3, 'urgency_followup');
      await sleep(SETTLE_MS);
      assertOncePerRecipient({ shop: SHOP, kind: 'urgency_followup' }, EMAILS.slice(0, 3), 'urgency_followup');
      await advance(DAY / 1000);
      await sleep(SETTLE_MS);
      assert.equal(sent({ shop: SHOP, kind: 'urgency_followup' }).length, 3, 'urgency_followup only once');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('5. exactly once', () => {
    it('every provider request has its own idempotency key, well-formed tags, and matches the outbox', async () => {
      const SKUS = [['life-pre', 'PRE-JACKET'], ['life-hold', 'TEE-HOLD'], ['life-back', 'BOOT-BO'], ['life-nohold', 'CAP-NH']];
      // Wait until every outbox message of every SKU has been handed over.
      const views = await eventually(async () => {
        const qs = [];
        for (const [shop, sku] of SKUS) qs.push([shop, await queue(shop, sku)]);
        const all = qs.flatMap(([, q]) => q.entries.flatMap((e) => e.messages));
        return all.every((m) => m.status === 'sent') ? qs : null;
      }, { what: 'every outbox message sent', timeoutMs: 20000 });
      await sleep(SETTLE_MS);

      const reqs = capture.emailRequests();
      const byKey = new Map();
      for (const r of reqs) {
        const k = r.headers['idempotency-key'];
        assert.equal(typeof k, 'string', `Idempotency-Key present: ${JSON.stringify(r.headers)}`);
        byKey.set(k, [...(byKey.get(k) ?? []), r]);
        assert.equal(r.status, 200);
        assert.equal(r.headers.authorization, `Bearer ${API_KEY}`);
        for (const name of ['kind', 'shop', 'sku', 'entry']) {
          assert.match(tag(r.body, name) ?? '', /^[A-Za-z0-9_-]{1,256}$/, `tag ${name} in ${JSON.stringify(r.body.tags)}`);
        }
        assert.ok(k.includes(tag(r.body, 'entry')) && k.includes(kindOf(r.body)), `key ${k} names its entry and kind`);
      }
      const dups = [...byKey].filter(([, rs]) => rs.length > 1).map(([k, rs]) => `${k} ×${rs.length}`);
      assert.deepEqual(dups, [], 'no idempotency key reached the provider twice');

      const outboxKeys = [];
      for (const [, q] of views) {
        for (const e of q.entries) {
          for (const m of e.messages) {
            assert.equal(m.attempts, 1, `first-attempt delivery: ${JSON.stringify(m)}`);
            outboxKeys.push(m.idempotency_key);
          }
        }
      }
      assert.deepEqual([...byKey.keys()].sort(), outboxKeys.sort(), 'the provider saw exactly the outbox, key for key');

      console.log(`lifecycle: ${reqs.length} provider requests, ${byKey.size} distinct keys`);
    });

    it('every kind of the lifecycle was exercised', () => {
      const kinds = new Set(capture.emailRequests().map((r) => kindOf(r.body)));
      console.log(`lifecycle: kinds seen: ${[...kinds].sort().join(', ')}`);
      for (const k of ['signup_confirmation', 'midwait_checkin', 'eta_changed', 'shipping_imminent', 'preorder_ready', 'sold_out_again',
        'restock_offer', 'nonopener_followup', 'hold_reminder', 'hold_expired', 'backorder_ack', 'ship_notice', 'urgency_followup']) {
        assert.ok(kinds.has(k), `kind ${k} was exercised`);
      }
    });
  });
});
