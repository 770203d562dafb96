// Merchant templates (PUT /v1/shops/{shop}/templates/{kind}) and the provider's open/click events
// (POST /v1/webhooks/resend, Svix-signed): a stored template is what the shopper gets; a bad one is
// refused with a clear error; an "opened" event marks the offer engaged, so no non-opener nudge.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, kindOf, signStandard, sleep, standardHeaders, startCapture, startEdge } from './support/harness.mjs';

const INVENTORY_SECRET = `whsec_${Buffer.from('templates-events-inventory-key-01').toString('base64')}`;
const RESEND_SECRET = `whsec_${Buffer.from('resend-webhook-signing-key-000001').toString('base64')}`;
const tag = (body, name) => body?.tags?.find?.((t) => t?.name === name)?.value;

let capture;
let edge;
let admin;

async function restock(shop, sku, available) {
  const body = JSON.stringify({ sku, available, updated_at: new Date().toISOString() });
  const r = await fetch(`${edge.url}/v1/shops/${shop}/webhooks/inventory`, { method: 'POST', headers: standardHeaders(body, INVENTORY_SECRET), body });
  assert.equal(r.status, 200, await r.text());
}

function resendEvent(type, tags) {
  const body = JSON.stringify({ type, created_at: new Date().toISOString(), data: { email_id: 'em_1', to: ['x@example.com'], tags } });
  const id = `msg_${Math.random().toString(36).slice(2)}`;
  const ts = Math.floor(Date.now() / 1000);
  return { body, headers: { 'content-type': 'application/json', 'svix-id': id, 'svix-timestamp': String(ts), 'svix-signature': signStandard(id, ts, body, RESEND_SECRET) } };
}

describe('merchant templates and provider events', () => {
  before(async () => {
    capture = await startCapture();
    edge = await startEdge({
      vars: { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'k', DEV_MODE: 'true', LINK_SECRET: 'tl-secret', RESEND_WEBHOOK_SECRET: RESEND_SECRET },
    });
    admin = api(edge.url);
    const shop = { name: 'Tmpl & Co', from_email: 'hi@tmpl.example', inventory_webhook_secrets: [INVENTORY_SECRET], hold_hours: 24 };
    assert.equal((await admin.put('/v1/shops/tmpl', shop)).status, 200);
    assert.equal((await admin.put('/v1/shops/tmpl/skus/MUG', { title: 'Mug <Blue>', url: 'https://tmpl.example/mug', mode: 'restock', eta: null })).status, 200);
  });
  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('bad templates are refused with a clear error and stored ones are used', async () => {
    const bad = [
      [{ subject: 'Hi {{ product_title', text: 'x' }, 422, 'invalid_template'],
      [{ subject: 'Hi {{ no_such_variable }}', text: 'x' }, 422, 'invalid_template'],
      [{ subject: 'Hi', text: 'x', html: '<script>alert(1)</script>' }, 422, 'invalid_template'],
      [{ subject: 'Hi', text: 'x', extra: 1 }, 422, 'invalid_payload'],
    ];
    for (const [body, status, code] of bad) {
      const r = await admin.put('/v1/shops/tmpl/templates/restock_offer', body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.text}`);
      assert.equal(r.json?.error?.code, code, r.text);
    }
    const unknown = await admin.put('/v1/shops/tmpl/templates/no_such_kind', { subject: 'Hi', text: 'x' });
    assert.equal(unknown.status, 404, unknown.text);
    const anon = await api(edge.url, null).put('/v1/shops/tmpl/templates/restock_offer', { subject: 'Hi', text: 'x' });
    assert.equal(anon.status, 401);

    const good = { subject: '{{ product_title }} is yours for now', text: 'You were #{{ position }}. Claim it: {{ claim_url }}' };
    assert.equal((await admin.put('/v1/shops/tmpl/templates/restock_offer', good)).status, 200);
    for (const email of ['t1@example.com', 't2@example.com']) {
      assert.equal((await api(edge.url, null).post('/v1/shops/tmpl/skus/MUG/waitlist', { email })).status, 201);
    }
    await restock('tmpl', 'MUG', 1);
    const offer = await capture.waitFor((reqs) => reqs.find((r) => kindOf(r.body) === 'restock_offer'));
    assert.equal(offer.body.subject, 'Mug <Blue> is yours for now');
    assert.match(offer.body.text, /You were #1\. Claim it: http:\/\/127\.0\.0\.1:\d+\/v1\/l\//);
    // The footer stays, and the HTML made from the text is escaped.
    assert.match(offer.body.text, /because you joined the waitlist for Mug <Blue> at Tmpl & Co/);
    assert.match(offer.body.html, /Mug &lt;Blue&gt;|You were #1/);
    assert.ok(!offer.body.html.includes('<Blue>'), offer.body.html);
  });

  it('an "opened" event from the provider stops the non-opener nudge; forged events are refused', async () => {
    const q = await admin.get('/v1/shops/tmpl/skus/MUG/queue');
    const holder = q.json.entries.find((e) => e.status === 'offered');
    assert.ok(holder, q.text);

    const forged = resendEvent('email.opened', { shop: 'tmpl', sku: 'MUG', entry: holder.entry_id });
    forged.headers['svix-signature'] = 'v1,' + Buffer.alloc(32).toString('base64');
    const r1 = await fetch(`${edge.url}/v1/webhooks/resend`, { method: 'POST', headers: forged.headers, body: forged.body });
    assert.equal(r1.status, 401);
    assert.equal((await r1.json()).error.code, 'invalid_signature');

    const other = resendEvent('email.delivered', { shop: 'tmpl', sku: 'MUG', entry: holder.entry_id });
    const r2 = await fetch(`${edge.url}/v1/webhooks/resend`, { method: 'POST', headers: other.headers, body: other.body });
    assert.equal(r2.status, 200);
    assert.equal((await r2.json()).outcome, 'ignored');

    const opened = resendEvent('email.opened', { shop: 'tmpl', sku: 'MUG', entry: holder.entry_id });
    const r3 = await fetch(`${edge.url}/v1/webhooks/resend`, { method: 'POST', headers: opened.headers, body: opened.body });
    assert.equal(r3.status, 200, await r3.text());

    const adv = await admin.post('/v1/dev/advance', { seconds: 9 * 3600 });
    assert.equal(adv.status, 200, adv.text);
    await sleep(1500);
    const nudges = capture.emailRequests().filter((r) => kindOf(r.body) === 'nonopener_followup' && tag(r.body, 'entry') === holder.entry_id);
    assert.equal(nudges.length, 0, 'no nudge after the shopper opened the offer');
  });

  it('one-click unsubscribe: GET only asks, POST leaves the line and suppresses the address shop-wide', async () => {
    const pub = api(edge.url, null);
    assert.equal((await admin.put('/v1/shops/tmpl/skus/BOWL', { title: 'Bowl', url: 'https://tmpl.example/bowl', mode: 'restock', eta: null })).status, 200);
    assert.equal((await pub.post('/v1/shops/tmpl/skus/BOWL/waitlist', { email: 'T2@example.com' })).status, 201);
    // t2 is waiting on MUG; its sold_out_again carries the unsubscribe link and the RFC 8058 headers.
    const soldOut = await capture.waitFor((reqs) => reqs.find((r) => kindOf(r.body) === 'sold_out_again' && r.body.to[0] === 't2@example.com'));
    const link = soldOut.body.headers?.['List-Unsubscribe']?.match(/^<(.+)>$/)?.[1];
    assert.ok(link?.startsWith(`${edge.url}/v1/unsubscribe/`), JSON.stringify(soldOut.body.headers));
    assert.equal(soldOut.body.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    assert.ok(soldOut.body.text.includes(link), 'the footer carries the same link');

    const page = await fetch(link);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<form method="post">/);
    const tampered = await fetch(link.slice(0, -3) + 'AAA', { method: 'POST' });
    assert.ok(tampered.status >= 400 && tampered.status < 500, `tampered → ${tampered.status}`);
    let q = await admin.get('/v1/shops/tmpl/skus/MUG/queue');
    assert.equal(q.json.entries.find((e) => e.email === 't2@example.com').status, 'waiting', 'a GET changes nothing');

    const post = await fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    assert.equal(post.status, 200, await post.text());
    q = await admin.get('/v1/shops/tmpl/skus/MUG/queue');
    assert.equal(q.json.entries.find((e) => e.email === 't2@example.com').status, 'cancelled');

    // The same address on another SKU of the shop: its offer is queued but skipped at send time.
    const before = capture.emailRequests().length;
    await restock('tmpl', 'BOWL', 1);
    const bowl = await (async () => {
      for (let i = 0; i < 50; i++) {
        const v = await admin.get('/v1/shops/tmpl/skus/BOWL/queue');
        const m = v.json.entries[0]?.messages?.find((x) => x.kind === 'restock_offer');
        if (m && m.status !== 'pending') return m;
        await sleep(200);
      }
      return null;
    })();
    assert.equal(bowl?.status, 'skipped', JSON.stringify(bowl));
    assert.match(bowl.last_error, /unsubscribed/);
    assert.ok(!capture.emailRequests().slice(before).some((r) => r.body?.to?.[0] === 't2@example.com'), 'nothing sent to the unsubscribed address');

    // A bare signup does not undo the unsubscribe: the address must confirm first (the opt-out
    // holds until it does). Its confirmation is held back here: the address got one from this shop
    // within the last 15 minutes. Another signup just before it leaves the shop's settings fresh in
    // the Worker, so this one asks no shop: the opt-out comes from the address's limiter shard.
    assert.equal((await pub.post('/v1/shops/tmpl/skus/MUG/waitlist', { email: 'just-before@example.com' })).status, 201);
    const again = await pub.post('/v1/shops/tmpl/skus/MUG/waitlist', { email: 't2@example.com' });
    assert.equal(again.status, 201);
    assert.equal(again.json.status, 'pending_confirmation');
    const trail = (await admin.get(`/v1/shops/tmpl/entries/${again.json.entry_id}`)).json.trail;
    assert.ok(trail.some((t) => t.event === 'skipped' && /within the last 15 minutes/.test(t.detail)), JSON.stringify(trail));
  });

  it('signups for one address share one limit (case, +tag, Gmail dots): the 11th in an hour → 429 with Retry-After', async () => {
    const pub = api(edge.url, null);
    const variants = ['Victim@gmail.com', 'victim+a@gmail.com', 'v.ictim@gmail.com', 'VICTIM+b@googlemail.com', 'vi.c.tim+c@gmail.com',
      'victim+d@gmail.com', 'victim+e@gmail.com', 'victim+f@gmail.com', 'victim+g@gmail.com', 'victim+h@gmail.com'];
    for (const email of variants) {
      const r = await pub.post('/v1/shops/tmpl/skus/MUG/waitlist', { email });
      assert.ok(r.status === 201 || r.status === 200, `${email} → ${r.status} ${r.text}`);
    }
    const r = await pub.post('/v1/shops/tmpl/skus/MUG/waitlist', { email: 'victim+zzz@GMAIL.com' });
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.code, 'rate_limited');
    assert.ok(Number(r.headers.get('retry-after')) > 0, 'Retry-After header');
    // Another address is not affected.
    assert.equal((await pub.post('/v1/shops/tmpl/skus/MUG/waitlist', { email: 'someone.else@example.com' })).status, 201);
    // The honeypot: a filled hidden field stores nothing and sends nothing.
    const bot = await pub.post('/v1/shops/tmpl/skus/MUG/waitlist', { email: 'bot@example.com', website: 'http://spam.example' });
    assert.equal(bot.status, 202);
    const q = await admin.get('/v1/shops/tmpl/skus/MUG/queue');
    assert.ok(!q.json.entries.some((e) => e.email === 'bot@example.com'));
  });

  it('signups from one client IP share one limit (100 a minute); a refused one uses up none of its address\'s allowance', async () => {
    // Its own SKU: the crowd's confirmations are paced in that SKU's object, not ahead of others' mail.
    assert.equal((await admin.put('/v1/shops/tmpl/skus/CROWD', { title: 'Crowd', url: 'https://tmpl.example/crowd', mode: 'restock', eta: null })).status, 200);
    const from = (ip, email) => fetch(`${edge.url}/v1/shops/tmpl/skus/CROWD/waitlist`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'CF-Connecting-IP': ip },
      body: JSON.stringify({ email }),
    });
    // The IP's limit counts per minute of the clock (as the runtime's Rate Limiting binding does
    // locally): the hundred and the refused one go within one minute.
    while (Date.now() % 60_000 > 40_000) await sleep(250);
    for (let i = 0; i < 100; i++) {
      const r = await from('198.51.100.7', `crowd${i}@example.com`);
      assert.equal(r.status, 201, `signup ${i + 1} from one IP → ${r.status} ${await r.text()}`);
    }
    const refused = await from('198.51.100.7', 'late@example.com');
    assert.equal(refused.status, 429);
    assert.equal((await refused.json()).error.code, 'rate_limited');
    // The same address from elsewhere: its own allowance is whole (10 an hour), so 10 more go through.
    for (let i = 0; i < 10; i++) {
      const r = await from(`203.0.113.${i + 1}`, 'late@example.com');
      assert.ok([200, 201].includes(r.status), `late@ from another IP, try ${i + 1} → ${r.status}`);
    }
    assert.equal((await from('203.0.113.99', 'late@example.com')).status, 429, 'then its own limit');
    // Another client is not affected.
    assert.equal((await from('192.0.2.1', 'crowd-next@example.com')).status, 201);
  });

  it('privacy: export returns what is held about an address; erase purges it everywhere and keeps it out', async () => {
    const pub = api(edge.url, null);
    assert.equal((await pub.post('/v1/shops/tmpl/skus/BOWL/waitlist', { email: 'Gone@Example.com' })).status, 201);
    assert.equal((await pub.post('/v1/shops/tmpl/skus/MUG/waitlist', { email: 'gone@example.com' })).status, 201);
    // One confirmation per address per window: the first signup's.
    await capture.waitFor((reqs) => reqs.filter((r) => kindOf(r.body) === 'signup_confirmation' && r.body.to[0].toLowerCase() === 'gone@example.com').length === 1);
    const exp = await admin.post('/v1/shops/tmpl/privacy/export', { email: 'GONE@example.com' });
    assert.equal(exp.status, 200, exp.text);
    assert.deepEqual(exp.json.entries.map((e) => e.sku).sort(), ['BOWL', 'MUG']);
    assert.ok(exp.json.entries.some((e) => e.messages.length >= 1), 'messages are part of the export');
    assert.ok(exp.json.entries.every((e) => e.audit.length >= 1), 'the audit trail is part of the export');
    assert.equal((await api(edge.url, null).post('/v1/shops/tmpl/privacy/export', { email: 'gone@example.com' })).status, 401);

    const er = await admin.post('/v1/shops/tmpl/privacy/erase', { email: 'gone@example.com' });
    assert.equal(er.status, 200, er.text);
    assert.equal(er.json.erased_entries, 2);
    const after = await admin.post('/v1/shops/tmpl/privacy/export', { email: 'gone@example.com' });
    assert.deepEqual(after.json.entries, []);
    for (const sku of ['BOWL', 'MUG']) {
      const q = await admin.get(`/v1/shops/tmpl/skus/${sku}/queue`);
      assert.ok(!q.text.toLowerCase().includes('gone@example.com'), `${sku} queue still mentions the address`);
    }
    // Signing up again does not bring the erased address back into the mail stream.
    const before = capture.emailRequests().length;
    await pub.post('/v1/shops/tmpl/skus/BOWL/waitlist', { email: 'gone@example.com' });
    await sleep(1500);
    assert.ok(!capture.emailRequests().slice(before).some((r) => r.body?.to?.[0]?.toLowerCase() === 'gone@example.com'));
  });

  it('shop settings are checked: schedule and policy values out of range → 422 with a clear code', async () => {
    const base = { name: 'S', from_email: 's@s.example' };
    for (const extra of [{ schedule: { nonopener_hours: 0 } }, { schedule: { imminent_days: 40 } }, { schedule: { bogus: 1 } },
      { notify_multiplier: 0.5 }, { hold_hours: 100000 }, { allowed_origins: ['https://shop.example/path'] }, { inventory_webhook_secrets: ['not-a-whsec'] }]) {
      const r = await admin.put('/v1/shops/settings-check', { ...base, ...extra });
      assert.equal(r.status, 422, `${JSON.stringify(extra)} → ${r.status} ${r.text}`);
      assert.ok(['invalid_field', 'invalid_payload'].includes(r.json.error.code), r.text);
    }
    const ok = await admin.put('/v1/shops/settings-check', { ...base, schedule: { nonopener_hours: 6, urgency_hours: 48, imminent_days: 3 } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.schedule.nonopener_hours, 6);
  });
});
