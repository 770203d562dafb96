// The provider clients end to end, against a capture server that answers like each provider:
//
// 1. Resend batches (EMAIL_BATCH=true): a restock burst of 30 offers goes out as one /emails/batch
//    call; a 503 is retried as the same batch under the same Idempotency-Key; a batch in flight when
//    the runtime is SIGKILLed is sent again after the restart with the same key and body, and the
//    provider answers it from its idempotency memory (delivered once).
// 2. Postmark email, Twilio SMS, Klaviyo (profile, subscription, events) and outgoing events signed
//    with Standard Webhooks (verified here with node:crypto); a message the provider refuses for
//    good becomes a `message.failed` event.
// 3. SendGrid's request shape.
// 4. Resend single sends and pacing: EMAIL_RATE_PER_SEC=5 holds every second to 5 requests.
//
// Each describe starts its own edge (the provider is a deployment setting).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { api, eventually, kindOf, sleep, standardHeaders, startCapture, startEdge } from './support/harness.mjs';

const FEED_SECRET = `whsec_${Buffer.from('providers-inventory-feed-key-0001').toString('base64')}`;
const HOOK_SECRET = `whsec_${Buffer.from('providers-outgoing-events-key-01').toString('base64')}`;

const emailFor = (prefix, i) => `${prefix}${String(i + 1).padStart(2, '0')}@example.com`;
const tag = (email, name) => email?.tags?.find?.((t) => t?.name === name)?.value;

async function setupShop(admin, shop, extra = {}) {
  const r = await admin.put(`/v1/shops/${shop}`, {
    name: `Shop ${shop}`,
    from_email: `hello@${shop}.example`,
    inventory_webhook_secrets: [FEED_SECRET],
    hold_hours: 24,
    ...extra,
  });
  assert.equal(r.status, 200, `PUT /v1/shops/${shop}: ${r.text}`);
}

async function putSku(admin, shop, sku) {
  const r = await admin.put(`/v1/shops/${shop}/skus/${sku}`, {
    title: `Item ${sku}`,
    url: `https://${shop}.example/products/${sku}`,
    mode: 'restock',
    eta: null,
  });
  assert.equal(r.status, 200, `PUT sku ${sku}: ${r.text}`);
}

async function signup(pub, shop, sku, email, extra = {}) {
  const r = await pub.post(`/v1/shops/${shop}/skus/${sku}/waitlist`, { email, locale: 'en', ...extra });
  assert.equal(r.status, 201, `signup ${email}: ${r.status} ${r.text}`);
  return r.json;
}

async function restock(pub, shop, sku, available) {
  const body = JSON.stringify({ sku, available, updated_at: new Date().toISOString() });
  const r = await pub.post(`/v1/shops/${shop}/webhooks/inventory`, body, standardHeaders(body, FEED_SECRET));
  assert.equal(r.status, 200, `restock ${sku}: ${r.text}`);
  return r.json;
}

async function queueView(admin, shop, sku) {
  const r = await admin.get(`/v1/shops/${shop}/skus/${sku}/queue`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

const messagesOf = (q) => q.entries.flatMap((e) => e.messages.map((m) => ({ ...m, email: e.email.toLowerCase() })));

/** Every email the provider accepted: single sends and batch items, with how each went. */
function acceptedEmails(capture) {
  const out = [];
  for (const r of capture.requests) {
    if (r.method !== 'POST' || r.status < 200 || r.status >= 300) continue;
    if (r.path === '/emails') out.push({ ...r.body, via: 'single', req: r });
    if (r.path === '/emails/batch') for (const e of r.body ?? []) out.push({ ...e, via: 'batch', req: r });
  }
  return out;
}

function verifyStandard(h, raw, secret) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${h['webhook-id']}.${h['webhook-timestamp']}.${raw}`).digest('base64');
  return String(h['webhook-signature']).split(' ').some((s) => s === `v1,${expected}`);
}

// ---------------------------------------------------------------------------------------------

describe('Resend batches: a restock burst in batches, keys stable across a retry and a crash', () => {
  const SHOP = 'batchy';
  let capture;
  let edge;
  let admin;
  let pub;

  before(async () => {
    capture = await startCapture({ idempotency: true, providers: true });
    edge = await startEdge({
      vars: { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 're_batch_key', EMAIL_BATCH: 'true' },
    });
    admin = api(edge);
    pub = api(edge, null);
    await setupShop(admin, SHOP);
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('30 offers go as one /emails/batch call; a 503 is retried as the same batch under the same key', { timeout: 180_000 }, async () => {
    const SKU = 'B-1';
    await putSku(admin, SHOP, SKU);
    const emails = Array.from({ length: 30 }, (_, i) => emailFor('b', i));
    for (const e of emails) await signup(pub, SHOP, SKU, e);
    await capture.waitFor(() => acceptedEmails(capture).filter((m) => tag(m, 'sku') === SKU && tag(m, 'kind') === 'signup_confirmation').length >= 30, 60_000);
    const confirmations = acceptedEmails(capture).filter((m) => tag(m, 'sku') === SKU);
    assert.equal(new Set(confirmations.map((m) => m.to[0])).size, 30, 'each signup confirmed once');
    assert.equal(confirmations.length, 30);

    capture.failNext(1, 503);
    const r = await restock(pub, SHOP, SKU, 30);
    assert.equal(r.offers, 30, JSON.stringify(r));
    const isOffers = (b) => b.body?.[0] && tag(b.body[0], 'sku') === SKU && tag(b.body[0], 'kind') === 'restock_offer';
    await capture.waitFor(() => capture.batchRequests().some((b) => isOffers(b) && b.status === 200), 30_000);
    const tries = capture.batchRequests().filter(isOffers);
    assert.deepEqual(tries.map((b) => b.status), [503, 200], 'one failed try, then the same batch accepted');
    const [first, second] = tries;
    assert.match(first.key, /^batchy:batch:[0-9a-f]{32}$/);
    assert.equal(second.key, first.key, 'the retry carries the same Idempotency-Key');
    assert.equal(second.raw, first.raw, 'the retry is the same request body');
    assert.ok(second.at - first.at >= 1000, `retried after the backoff (${second.at - first.at} ms)`);
    assert.equal(first.headers.authorization, 'Bearer re_batch_key');
    assert.match(first.headers['content-type'], /^application\/json/);
    assert.equal(second.body.length, 30);
    assert.deepEqual(second.body.map((m) => m.to[0]).sort(), [...emails].sort());
    for (const m of second.body) {
      assert.equal(tag(m, 'kind'), 'restock_offer');
      assert.equal(tag(m, 'shop'), SHOP);
      assert.equal(m.from, `Shop ${SHOP} <hello@${SHOP}.example>`);
      assert.ok(m.subject && m.html && m.text, 'subject, html and text');
      assert.match(m.headers['List-Unsubscribe'], /^<http:\/\/127\.0\.0\.1:\d+\/v1\/unsubscribe\/.+>$/);
      assert.equal(m.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    }
    assert.equal(capture.emailRequests().filter((q) => kindOf(q.body) === 'restock_offer').length, 0, 'no offer went alone');

    const q = await eventually(async () => {
      const v = await queueView(admin, SHOP, SKU);
      const offers = messagesOf(v).filter((m) => m.kind === 'restock_offer');
      return offers.length === 30 && offers.every((m) => m.status === 'sent') && v;
    }, { timeoutMs: 15_000, what: '30 offers marked sent' });
    const offers = messagesOf(q).filter((m) => m.kind === 'restock_offer');
    assert.ok(offers.every((m) => m.attempts === 2), `every member counts both tries: ${offers.map((m) => m.attempts)}`);
  });

  it('a batch in flight when the runtime is killed goes again after the restart: same key, same body, delivered once', { timeout: 240_000 }, async () => {
    const SKU = 'B-2';
    await putSku(admin, SHOP, SKU);
    const emails = Array.from({ length: 12 }, (_, i) => emailFor('k', i));
    for (const e of emails) await signup(pub, SHOP, SKU, e);
    await capture.waitFor(() => acceptedEmails(capture).filter((m) => tag(m, 'sku') === SKU).length >= 12, 60_000);

    const isOffers = (b) => b.body?.[0] && tag(b.body[0], 'sku') === SKU && tag(b.body[0], 'kind') === 'restock_offer';
    capture.delayNext(1, 5000); // the provider takes the batch, but its answer never reaches the edge
    await restock(pub, SHOP, SKU, 12);
    const inFlight = await capture.waitFor(() => capture.batchRequests().find(isOffers), 30_000);
    await sleep(150);
    await edge.crash();
    assert.equal(inFlight.answeredAt, null, 'the answer never reached the edge');
    assert.equal(inFlight.body.length, 12);
    capture.resetFaults();

    await edge.start();
    let again;
    try {
      again = await capture.waitFor(() => capture.batchRequests().filter(isOffers)[1], 30_000);
    } catch {
      // The alarm did not fire by itself after the restart: a signup to the SKU re-arms it.
      await signup(pub, SHOP, SKU, 'nudge@example.com');
      again = await capture.waitFor(() => capture.batchRequests().filter(isOffers)[1], 30_000);
    }
    assert.equal(again.key, inFlight.key, 'same Idempotency-Key after the crash');
    assert.equal(again.raw, inFlight.raw, 'same members, same order, same body');
    assert.equal(again.replayed, true, 'answered from the idempotency memory');
    assert.equal(capture.batchAccepted().get(inFlight.key).deliveries, 1, 'delivered once');

    const q = await eventually(async () => {
      const v = await queueView(admin, SHOP, SKU);
      const offers = messagesOf(v).filter((m) => m.kind === 'restock_offer');
      return offers.length === 12 && offers.every((m) => m.status === 'sent') && v;
    }, { timeoutMs: 20_000, what: '12 offers marked sent after the restart' });
    assert.equal(messagesOf(q).filter((m) => m.kind === 'restock_offer').length, 12);
    assert.equal(capture.batchRequests().filter(isOffers).length, 2, 'sent twice, never a third time');
  });
});

// ---------------------------------------------------------------------------------------------

describe('Postmark email, Twilio SMS, Klaviyo and signed outgoing events', () => {
  const SHOP = 'multi';
  const SKU = 'M-1';
  let capture;
  let edge;
  let admin;
  let pub;
  const entries = {};

  before(async () => {
    capture = await startCapture({ providers: true });
    edge = await startEdge({
      vars: {
        EMAIL_PROVIDER: 'postmark',
        EMAIL_API_BASE: capture.url,
        EMAIL_API_KEY: 'pm-server-token',
        SMS_PROVIDER: 'twilio',
        SMS_API_BASE: capture.url,
        TWILIO_ACCOUNT_SID: 'AC_test_sid',
        TWILIO_AUTH_TOKEN: 'twilio-auth-token',
        SMS_FROM: '+15550001111',
        KLAVIYO_API_BASE: capture.url,
      },
    });
    admin = api(edge);
    pub = api(edge, null);
    await setupShop(admin, SHOP, {
      event_endpoints: [{ id: 'zap', url: `${capture.url}/hooks/zap`, secret: HOOK_SECRET }],
      klaviyo: { api_key: 'pk_test_123', list_id: 'LIST1', marketing: true },
    });
    await putSku(admin, SHOP, SKU);
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('Postmark: POST /email with the server token, the message fields, List-Unsubscribe as Headers, the outbox key in Metadata', { timeout: 60_000 }, async () => {
    entries.pia = await signup(pub, SHOP, SKU, 'pia@example.com');
    const r = await capture.waitFor((reqs) => reqs.find((q) => q.path === '/email' && q.body?.To === 'pia@example.com'));
    assert.equal(r.method, 'POST');
    assert.equal(r.headers['x-postmark-server-token'], 'pm-server-token');
    assert.equal(r.headers.accept, 'application/json');
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.equal(r.headers['idempotency-key'], undefined, 'Postmark has no idempotency header');
    const b = r.body;
    assert.equal(b.From, `Shop ${SHOP} <hello@${SHOP}.example>`);
    assert.equal(b.MessageStream, 'outbound');
    assert.equal(b.Tag, 'signup_confirmation');
    assert.ok(b.Subject && b.HtmlBody && b.TextBody);
    assert.deepEqual(b.Headers.map((h) => h.Name), ['List-Unsubscribe', 'List-Unsubscribe-Post']);
    assert.match(b.Headers[0].Value, /^<http.+\/v1\/unsubscribe\/.+>$/);
    assert.equal(b.Metadata.entry, entries.pia.entry_id);
    assert.equal(b.Metadata.sku, SKU);
    const q = await eventually(async () => {
      const v = await queueView(admin, SHOP, SKU);
      const m = messagesOf(v).find((x) => x.email === 'pia@example.com' && x.kind === 'signup_confirmation');
      return m?.status === 'sent' && m;
    }, { what: 'pia confirmation sent' });
    assert.equal(b.Metadata.outbox_key, q.idempotency_key);
  });

  it('Twilio: a signup with a phone and SMS consent gets a text (Basic auth, form-encoded To/From/Body)', { timeout: 60_000 }, async () => {
    entries.sam = await signup(pub, SHOP, SKU, 'sam@example.com', { phone: '+15005550006', sms_consent: true });
    const r = await capture.waitFor((reqs) => reqs.find((q) => q.path.includes('/Messages.json') && q.form?.To === '+15005550006'), 20_000);
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/2010-04-01/Accounts/AC_test_sid/Messages.json');
    assert.equal(r.headers.authorization, `Basic ${Buffer.from('AC_test_sid:twilio-auth-token').toString('base64')}`);
    assert.equal(r.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(r.form.From, '+15550001111');
    assert.match(r.form.Body, /waitlist/i);
    assert.deepEqual(Object.keys(r.form), ['To', 'From', 'Body']);
    await eventually(async () => {
      const v = await queueView(admin, SHOP, SKU);
      const e = v.entries.find((x) => x.entry_id === entries.sam.entry_id);
      return e?.messages.some((m) => m.channel === 'sms' && m.kind === 'signup_confirmation' && m.status === 'sent');
    }, { what: 'the SMS row marked sent' });
  });

  it('Klaviyo: profile upsert, Joined Waitlist event, a marketing subscription only with its own consent; an offer → Back In Stock Offer', { timeout: 60_000 }, async () => {
    entries.kim = await signup(pub, SHOP, SKU, 'kim@example.com', {
      phone: '+15005550007', sms_consent: true, marketing_consent: true, marketing_consent_text: 'Also send me news and offers',
    });
    const mine = (q) => q.path.startsWith('/api/') && JSON.stringify(q.body ?? '').includes('kim@example.com');
    const calls = await capture.waitFor((reqs) => {
      const c = reqs.filter(mine);
      return c.length >= 3 && c;
    }, 20_000);
    assert.deepEqual(calls.map((c) => c.path), ['/api/profile-import', '/api/profile-subscription-bulk-create-jobs', '/api/events']);
    for (const c of calls) {
      assert.equal(c.method, 'POST');
      assert.equal(c.headers.authorization, 'Klaviyo-API-Key pk_test_123');
      assert.equal(c.headers.revision, '2024-10-15');
      assert.equal(c.headers['content-type'], 'application/vnd.api+json');
      assert.equal(c.headers.accept, 'application/vnd.api+json');
    }
    const [profile, sub, event] = calls.map((c) => c.body);
    assert.equal(profile.data.type, 'profile');
    assert.equal(profile.data.attributes.email, 'kim@example.com');
    assert.equal(profile.data.attributes.phone_number, '+15005550007');
    assert.equal(sub.data.type, 'profile-subscription-bulk-create-job');
    const subProfile = sub.data.attributes.profiles.data[0];
    assert.equal(subProfile.type, 'profile');
    assert.equal(subProfile.attributes.subscriptions.email.marketing.consent, 'SUBSCRIBED');
    assert.equal(subProfile.attributes.subscriptions.sms, undefined, 'texts about a turn are not SMS marketing');
    assert.deepEqual(sub.data.relationships.list.data, { type: 'list', id: 'LIST1' });
    const ev = event.data.attributes;
    assert.equal(event.data.type, 'event');
    assert.equal(ev.metric.data.attributes.name, 'Joined Waitlist');
    assert.equal(ev.profile.data.attributes.email, 'kim@example.com');
    assert.equal(ev.properties.sku, SKU);
    assert.equal(ev.properties.title, `Item ${SKU}`);
    assert.equal(ev.properties.position, 3);
    assert.equal(typeof ev.properties.eta_text, 'string');
    assert.match(ev.time, /^\d{4}-\d\d-\d\dT/);
    assert.ok(ev.unique_id.includes(entries.kim.entry_id), `unique_id is the outbox key: ${ev.unique_id}`);
    // Asking to be told about one product is not marketing consent: no subscription for pia or sam.
    for (const who of ['pia@example.com', 'sam@example.com']) {
      const theirs = await capture.waitFor((reqs) => {
        const c = reqs.filter((q) => q.path.startsWith('/api/') && JSON.stringify(q.body ?? '').includes(who));
        return c.length >= 2 && c;
      });
      assert.deepEqual(theirs.map((c) => c.path), ['/api/profile-import', '/api/events'], who);
    }
    const kimAudit = (await admin.get(`/v1/shops/${SHOP}/entries/${entries.kim.entry_id}`)).json;
    assert.deepEqual(kimAudit.consent.channels, ['email', 'sms', 'email_marketing']);
    assert.equal(kimAudit.consent.marketing_text, 'Also send me news and offers');
    const state = (await pub.get(`/v1/shops/${SHOP}/skus/${SKU}`)).json;
    assert.equal(state.marketing, true, 'the widget is told to show the marketing checkbox');

    // One unit: the offer goes to pia, first in line.
    await restock(pub, SHOP, SKU, 1);
    const offer = await capture.waitFor((reqs) => reqs.find((q) => q.path === '/api/events'
      && q.body?.data?.attributes?.metric?.data?.attributes?.name === 'Back In Stock Offer'), 20_000);
    const oa = offer.body.data.attributes;
    assert.equal(oa.profile.data.attributes.email, 'pia@example.com');
    assert.equal(oa.properties.sku, SKU);
    assert.equal(oa.properties.units, 1);
    assert.match(oa.properties.hold_until, /^\d{4}-\d\d-\d\dT/);
    assert.ok(oa.unique_id.length > 0);
  });

  it('outgoing events are signed with Standard Webhooks (checked with node:crypto), one webhook-id per event', { timeout: 60_000 }, async () => {
    const hooks = await capture.waitFor(() => {
      const h = capture.requestsTo('/hooks/zap');
      const types = h.map((r) => r.body?.type);
      return types.filter((t) => t === 'waitlist.joined').length >= 3 && types.includes('offer.sent') && h;
    }, 20_000);
    const nowSecs = Math.floor(Date.now() / 1000);
    for (const r of hooks) {
      assert.equal(r.method, 'POST');
      assert.match(r.headers['content-type'], /^application\/json/);
      assert.ok(verifyStandard(r.headers, r.raw, HOOK_SECRET), `signature of ${r.raw}`);
      assert.ok(Math.abs(nowSecs - Number(r.headers['webhook-timestamp'])) < 300, 'timestamp within the tolerance');
      assert.ok(r.headers['webhook-id'].startsWith(`${SHOP}:${r.body.type}:`), r.headers['webhook-id']);
      assert.ok(r.headers['webhook-id'].endsWith(':zap'));
    }
    assert.equal(new Set(hooks.map((r) => r.headers['webhook-id'])).size, hooks.length, 'one webhook-id per event');
    const joined = hooks.find((r) => r.body.type === 'waitlist.joined' && r.body.data.entry_id === entries.kim.entry_id);
    assert.equal(joined.body.data.email, 'kim@example.com');
    const forged = { ...joined.headers, 'webhook-id': 'another-id' };
    assert.equal(verifyStandard(forged, joined.raw, HOOK_SECRET), false, 'the signature covers the id');
  });

  it('a message the provider refuses for good is failed at once and becomes a message.failed event', { timeout: 60_000 }, async () => {
    capture.failWhen((r) => r.path === '/email' && r.body?.To === 'bad@example.com', 422, {
      body: JSON.stringify({ ErrorCode: 300, Message: 'Invalid email request' }),
    });
    const bad = await signup(pub, SHOP, SKU, 'bad@example.com');
    const failed = await capture.waitFor(() => capture.requestsTo('/hooks/zap')
      .find((r) => r.body?.type === 'message.failed' && r.body.data.entry_id === bad.entry_id), 20_000);
    assert.ok(verifyStandard(failed.headers, failed.raw, HOOK_SECRET));
    const d = failed.body.data;
    assert.equal(d.channel, 'email');
    assert.equal(d.kind, 'signup_confirmation');
    assert.match(d.reason, /^422/);
    const tries = capture.requests.filter((r) => r.path === '/email' && r.body?.To === 'bad@example.com');
    assert.equal(tries.length, 1, 'a 422 is never retried');
    const v = await queueView(admin, SHOP, SKU);
    const m = messagesOf(v).find((x) => x.email === 'bad@example.com' && x.kind === 'signup_confirmation');
    assert.equal(m.status, 'failed');
    assert.equal(m.attempts, 1);
  });
  it('a privacy erase reaches Klaviyo (deletion job) and the event endpoints (entry.erased, ids only); a refused deletion is 503 and safe to resend', { timeout: 60_000 }, async () => {
    const who = 'gus@example.com';
    const gus = await signup(pub, SHOP, SKU, who);
    await capture.waitFor((reqs) => reqs.some((q) => q.path === '/api/events' && JSON.stringify(q.body).includes(who)));
    capture.failWhen((r) => r.path === '/api/data-privacy-deletion-jobs', 503, { times: 1 });
    const first = await admin.post(`/v1/shops/${SHOP}/privacy/erase`, { email: 'GUS@example.com' });
    assert.equal(first.status, 503, first.text);
    assert.equal(first.json.error.code, 'klaviyo_unavailable');
    // Sent again: our side is erased already; Klaviyo takes the request this time.
    const again = await admin.post(`/v1/shops/${SHOP}/privacy/erase`, { email: 'GUS@example.com' });
    assert.equal(again.status, 200, again.text);
    const deletions = capture.requestsTo('/api/data-privacy-deletion-jobs');
    assert.ok(deletions.length >= 1);
    const last = deletions.at(-1);
    assert.equal(last.headers.authorization, 'Klaviyo-API-Key pk_test_123');
    assert.equal(last.body.data.type, 'data-privacy-deletion-job');
    const asked = deletions.map((r) => r.body.data.attributes.profile.data.attributes.email.toLowerCase());
    assert.ok(asked.includes(who), JSON.stringify(asked));
    assert.equal(again.json.erased_entries, 0, 'nothing left to erase here the second time');
    const hook = await capture.waitFor(() => capture.requestsTo('/hooks/zap').find((r) => r.body?.type === 'entry.erased'), 20_000);
    assert.ok(verifyStandard(hook.headers, hook.raw, HOOK_SECRET));
    assert.deepEqual(hook.body.data, { shop: SHOP, sku: SKU, entry_id: gus.entry_id });
    assert.ok(!hook.raw.includes('gus'), 'nothing personal in the event');
  });
});

// ---------------------------------------------------------------------------------------------

describe('SendGrid', () => {
  const SHOP = 'grid';
  let capture;
  let edge;

  before(async () => {
    capture = await startCapture({ providers: true });
    edge = await startEdge({ vars: { EMAIL_PROVIDER: 'sendgrid', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'SG.test-key' } });
    await setupShop(api(edge), SHOP);
    await putSku(api(edge), SHOP, 'G-1');
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('POST /v3/mail/send: Bearer, personalizations, from as an object, text then html, headers, custom_args with the outbox key', { timeout: 60_000 }, async () => {
    const e = await signup(api(edge, null), SHOP, 'G-1', 'gus@example.com');
    const r = await capture.waitFor((reqs) => reqs.find((q) => q.path === '/v3/mail/send'));
    assert.equal(r.method, 'POST');
    assert.equal(r.status, 202);
    assert.equal(r.headers.authorization, 'Bearer SG.test-key');
    const b = r.body;
    assert.deepEqual(b.personalizations, [{ to: [{ email: 'gus@example.com' }] }]);
    assert.deepEqual(b.from, { email: `hello@${SHOP}.example`, name: `Shop ${SHOP}` });
    assert.ok(b.subject);
    assert.deepEqual(b.content.map((c) => c.type), ['text/plain', 'text/html']);
    assert.ok(b.content.every((c) => c.value.length > 0));
    assert.match(b.headers['List-Unsubscribe'], /^<http.+>$/);
    assert.equal(b.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    assert.deepEqual(b.categories, ['signup_confirmation']);
    assert.equal(b.custom_args.entry, e.entry_id);
    const v = await eventually(async () => {
      const q = await queueView(api(edge), SHOP, 'G-1');
      const m = messagesOf(q).find((x) => x.kind === 'signup_confirmation');
      return m?.status === 'sent' && m;
    }, { what: 'sent after the 202' });
    assert.equal(b.custom_args.outbox_key, v.idempotency_key);
  });
});

// ---------------------------------------------------------------------------------------------

describe('Resend single sends, paced at EMAIL_RATE_PER_SEC=5', () => {
  const SHOP = 'paced';
  const SKU = 'P-1';
  const RATE = 5;
  let capture;
  let edge;
  let admin;
  let pub;

  before(async () => {
    capture = await startCapture({ idempotency: true, providers: true });
    edge = await startEdge({
      vars: {
        EMAIL_PROVIDER: 'resend',
        EMAIL_API_BASE: capture.url,
        EMAIL_API_KEY: 're_single_key',
        EMAIL_BATCH: 'false',
        EMAIL_RATE_PER_SEC: String(RATE),
      },
    });
    admin = api(edge);
    pub = api(edge, null);
    await setupShop(admin, SHOP);
    await putSku(admin, SHOP, SKU);
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('POST /emails: Bearer, Idempotency-Key = the outbox key, tags and one-click unsubscribe', { timeout: 60_000 }, async () => {
    const e = await signup(pub, SHOP, SKU, emailFor('p', 0));
    const r = await capture.waitFor(() => capture.emailRequests()[0]);
    assert.equal(r.method, 'POST');
    assert.equal(r.headers.authorization, 'Bearer re_single_key');
    assert.deepEqual(r.body.to, [emailFor('p', 0)]);
    assert.equal(r.body.from, `Shop ${SHOP} <hello@${SHOP}.example>`);
    assert.deepEqual(r.body.tags.map((t) => t.name), ['kind', 'shop', 'sku', 'entry']);
    assert.equal(tag(r.body, 'entry'), e.entry_id.replace(/[^A-Za-z0-9_-]/g, '_'));
    assert.match(r.body.headers['List-Unsubscribe'], /^<http.+>$/);
    const m = await eventually(async () => {
      const x = messagesOf(await queueView(admin, SHOP, SKU))[0];
      return x?.status === 'sent' && x;
    }, { what: 'sent' });
    assert.equal(r.key, m.idempotency_key);
  });

  it('20 offers due at once go out at most 5 per second, spread over ≥ 3 s', { timeout: 180_000 }, async () => {
    for (let i = 1; i < 20; i++) await signup(pub, SHOP, SKU, emailFor('p', i));
    await capture.waitFor(() => capture.emailRequests().filter((r) => kindOf(r.body) === 'signup_confirmation').length >= 20, 60_000);
    const r = await restock(pub, SHOP, SKU, 20);
    assert.equal(r.offers, 20, JSON.stringify(r));
    await capture.waitFor(() => capture.emailRequests().filter((q) => kindOf(q.body) === 'restock_offer').length >= 20, 60_000);
    await sleep(500);

    const all = capture.emailRequests().map((q) => q.at).sort((a, b) => a - b);
    assert.equal(all.length, 40, 'one request per message (no retries needed)');
    let worst = 0;
    for (const t of all) worst = Math.max(worst, all.filter((s) => s >= t && s < t + 1000).length);
    // The edge counts a send when it makes the request; arrival adds a few ms of jitter.
    assert.ok(worst <= RATE + 1, `at most ${RATE} (+1 jitter) requests in any second; saw ${worst}`);
    const offers = capture.emailRequests().filter((q) => kindOf(q.body) === 'restock_offer').map((q) => q.at);
    const span = Math.max(...offers) - Math.min(...offers);
    assert.ok(span >= 2800, `20 offers at ${RATE}/s spread over ≥ ~3 s, took ${span} ms`);
    console.log(`[pacing] 20 offers over ${span} ms; busiest second held ${worst} requests (rate ${RATE})`);
  });

  it(`two shops' SKUs restocking at once share the key's ${RATE}/s: the key stays inside it, and each SKU has half of the first ten sends`, { timeout: 180_000 }, async () => {
    const OTHER = 'paced-two';
    await setupShop(admin, OTHER);
    await putSku(admin, SHOP, 'P-2');
    await putSku(admin, OTHER, 'Q-1');
    for (let i = 0; i < 10; i++) {
      await signup(pub, SHOP, 'P-2', emailFor('p2-', i));
      await signup(pub, OTHER, 'Q-1', emailFor('q1-', i));
    }
    const offersOf = () => capture.emailRequests().filter((q) => kindOf(q.body) === 'restock_offer' && ['P-2', 'Q-1'].includes(tag(q.body, 'sku')));
    await capture.waitFor(() => capture.emailRequests().filter((r) => kindOf(r.body) === 'signup_confirmation').length >= 40, 60_000);
    await sleep(1200);
    const before = capture.emailRequests().length;
    const [a, b] = await Promise.all([restock(pub, SHOP, 'P-2', 10), restock(pub, OTHER, 'Q-1', 10)]);
    assert.equal(a.offers + b.offers, 20, JSON.stringify([a, b]));
    await capture.waitFor(() => offersOf().length >= 20, 60_000);
    await sleep(500);

    const sends = capture.emailRequests().slice(before).map((q) => q.at).sort((x, y) => x - y);
    assert.equal(sends.length, 20, 'only the 20 offers were sent since the webhooks');
    let worst = 0;
    for (const t of sends) worst = Math.max(worst, sends.filter((s) => s >= t && s < t + 1000).length);
    // Paced per SKU, each would send 5 a second: 10 in the busiest second. Per key: 5.
    assert.ok(worst <= RATE + 1, `at most ${RATE} (+1 jitter) requests in any second across both SKUs; saw ${worst}`);
    const firstTen = offersOf().sort((x, y) => x.at - y.at).slice(0, 10).map((q) => tag(q.body, 'sku'));
    const p2 = firstTen.filter((s) => s === 'P-2').length;
    assert.ok(p2 >= 3 && p2 <= 7, `each SKU has about half of the first 10 offers: ${firstTen.join(' ')}`);
    console.log(`[pacing] two SKUs on one key: busiest second ${worst}; first 10 offers ${firstTen.join(' ')}`);
  });
});
