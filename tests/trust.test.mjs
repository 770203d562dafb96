// Trust: "why did (or didn't) I get the email?" — the audit trail of an entry (state changes with
// their cause, messages queued / sent / failed / skipped with the reason), the dry run of an
// inventory update (who would get what; nothing changes), bounce and complaint suppression, the
// consent record, and privacy requests by phone number.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, eventually, kindOf, signStandard, standardHeaders, startCapture, startEdge } from './support/harness.mjs';

const SHOP = 'trust';
const FEED = `whsec_${Buffer.from('trust-inventory-feed-test-key-01').toString('base64')}`;
const RESEND = `whsec_${Buffer.from('trust-resend-webhook-test-key-01').toString('base64')}`;

let capture;
let edge;
let admin;
let pub;

const level = async (sku, available, at = new Date().toISOString()) => {
  const body = JSON.stringify({ sku, available, updated_at: at });
  const r = await pub.post(`/v1/shops/${SHOP}/webhooks/inventory`, body, standardHeaders(body, FEED));
  assert.equal(r.status, 200, r.text);
  return r.json;
};
const resendEvent = (type, data) => {
  const body = JSON.stringify({ type, created_at: new Date().toISOString(), data });
  const id = `msg_${Math.random().toString(36).slice(2)}`;
  const ts = Math.floor(Date.now() / 1000);
  return fetch(`${edge.url}/v1/webhooks/resend`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'svix-id': id, 'svix-timestamp': String(ts), 'svix-signature': signStandard(id, ts, body, RESEND) },
  });
};

describe('trust: audit trail, dry run, bounces, consent, privacy by phone', () => {
  before(async () => {
    capture = await startCapture({ idempotency: true });
    edge = await startEdge({ vars: { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'k', RESEND_WEBHOOK_SECRET: RESEND } });
    admin = api(edge);
    pub = api(edge, null);
    const shop = { name: 'Trust Co', from_email: 'hi@trust.example', inventory_webhook_secrets: [FEED], hold_hours: 24, support_email: 'help@trust.example' };
    assert.equal((await admin.put(`/v1/shops/${SHOP}`, shop)).status, 200);
    for (const sku of ['LAMP', 'DESK']) {
      assert.equal((await admin.put(`/v1/shops/${SHOP}/skus/${sku}`, { title: sku, url: `https://trust.example/${sku}` })).status, 200);
    }
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
  });

  it('the audit trail says what happened to an entry and why, including a refused address', async () => {
    capture.failRecipient('bad@example.com', 422, { body: JSON.stringify({ name: 'validation_error', message: 'invalid `to` field' }) });
    const good = (await pub.post(`/v1/shops/${SHOP}/skus/LAMP/waitlist`, { email: 'ok@example.com' })).json;
    const bad = (await pub.post(`/v1/shops/${SHOP}/skus/LAMP/waitlist`, { email: 'bad@example.com' })).json;
    const third = (await pub.post(`/v1/shops/${SHOP}/skus/LAMP/waitlist`, { email: 'third@example.com' })).json;
    await level('LAMP', 1, '2026-11-29T10:00:00Z');
    await capture.waitFor((reqs) => reqs.filter((r) => kindOf(r.body) === 'restock_offer').length === 1 && reqs.filter((r) => kindOf(r.body) === 'sold_out_again').length >= 1);

    const a = await eventually(async () => {
      const r = await admin.get(`/v1/shops/${SHOP}/entries/${good.entry_id}`);
      assert.equal(r.status, 200, r.text);
      return r.json.trail.some((t) => t.event === 'sent' && t.detail.includes('restock_offer')) && r.json;
    }, { what: 'the offer marked sent in the trail' });
    assert.equal(a.sku, 'LAMP');
    assert.equal(a.entry.status, 'offered');
    const events = a.trail.map((t) => `${t.event}|${t.cause}`);
    assert.ok(events.includes('state|signup'), events.join('\n'));
    assert.ok(a.trail.some((t) => t.event === 'state' && t.detail.startsWith('waiting → offered') && t.cause.startsWith('inventory event inventory:')), events.join('\n'));
    assert.ok(a.trail.some((t) => t.event === 'queued' && t.detail.includes('restock_offer')));

    const b = await eventually(async () => {
      const r = await admin.get(`/v1/shops/${SHOP}/entries/${bad.entry_id}?sku=LAMP`);
      return r.json.trail.some((t) => t.event === 'failed') && r.json;
    }, { what: 'the refused address failing in the trail' });
    const failed = b.trail.find((t) => t.event === 'failed');
    assert.match(failed.detail, /422/);
    assert.equal(failed.cause, 'delivery');
    assert.ok(b.messages.some((m) => m.status === 'failed' && /422/.test(m.last_error)));

    const unknown = await admin.get(`/v1/shops/${SHOP}/entries/nope-1234`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'unknown_entry');
    assert.equal((await pub.get(`/v1/shops/${SHOP}/entries/${good.entry_id}`)).status, 401);
    assert.ok(third.entry_id);
  });

  it('a real catalogue SKU (a slash, spaces, accents) works end to end: its URL, the feed, the offer and its Resend tags', async () => {
    const sku = 'BOOT/10 wide · Größe';
    const path = `/v1/shops/${SHOP}/skus/${encodeURIComponent(sku)}`;
    assert.equal((await admin.put(path, { title: 'Boot 10 wide', url: 'https://trust.example/boot' })).status, 200);
    const s = await pub.post(`${path}/waitlist`, { email: 'walker@example.com' });
    assert.equal(s.status, 201, s.text);
    assert.equal(s.json.position, 1);
    assert.equal((await pub.get(`${path}/waitlist/${s.json.entry_id}`)).json.position, 1);
    // Surrounding spaces are not part of a SKU: the padded spelling is the same waitlist.
    const padded = await pub.get(`/v1/shops/${SHOP}/skus/${encodeURIComponent(`  ${sku} `)}`);
    assert.deepEqual([padded.status, padded.json.sku, padded.json.waiting], [200, sku, 1], padded.text);
    // The slash is the SKU's, not a path separator: an unencoded one is another route.
    assert.equal((await pub.get(`/v1/shops/${SHOP}/skus/BOOT/10`)).status, 404);

    await level(sku, 1);
    const offer = await capture.waitFor((reqs) => reqs.find((r) => kindOf(r.body) === 'restock_offer' && r.body.to[0] === 'walker@example.com'));
    const tags = Object.fromEntries(offer.body.tags.map((t) => [t.name, t.value]));
    assert.match(tags.sku, /^b64_[A-Za-z0-9_-]+$/, 'a Resend tag holds only letters, digits, _ and -');
    assert.equal(Buffer.from(tags.sku.slice(4), 'base64url').toString('utf8'), sku);
    const opened = await resendEvent('email.opened', { to: ['walker@example.com'], tags });
    assert.deepEqual(await opened.json(), { outcome: 'applied' }, 'the open reached the SKU it came from');
    const elsewhere = await resendEvent('email.opened', { to: ['walker@example.com'], tags: { ...tags, sku: 'BOOT_10_wide' } });
    assert.equal((await elsewhere.json()).outcome, 'ignored');
  });

  it('a dry run says who would get what, and changes and sends nothing', async () => {
    // The first test's sends may still be under way: compare only once nothing is pending.
    const before = await eventually(async () => {
      const q = (await admin.get(`/v1/shops/${SHOP}/skus/LAMP/queue`)).json;
      return q.entries.every((e) => e.messages.every((m) => m.status !== 'pending')) && q;
    }, { what: 'every LAMP message settled' });
    const sent = capture.emailRequests().length;
    const r = await admin.post(`/v1/shops/${SHOP}/skus/LAMP/dry-run`, { available: 3 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.dry_run, true);
    assert.equal(r.json.available_before, 1);
    assert.equal(r.json.available_after, 3);
    const offers = r.json.would_send.filter((m) => m.kind === 'restock_offer' && m.channel === 'email').map((m) => m.to);
    assert.deepEqual(offers, ['bad@example.com', 'third@example.com']);
    const after = (await admin.get(`/v1/shops/${SHOP}/skus/LAMP/queue`)).json;
    assert.deepEqual(after, before, 'nothing changed');
    await new Promise((res) => setTimeout(res, 1000));
    assert.equal(capture.emailRequests().length, sent, 'nothing sent');
    const badBody = await admin.post(`/v1/shops/${SHOP}/skus/LAMP/dry-run`, { available: 'many' });
    assert.equal(badBody.status, 422);
  });

  it('a hard bounce or a complaint suppresses the address; a soft bounce does not', async () => {
    const soft = await resendEvent('email.bounced', { to: ['soft@example.com'], bounce: { type: 'Transient' }, tags: { shop: SHOP } });
    assert.equal((await soft.json()).outcome, 'ignored');
    const hard = await resendEvent('email.bounced', { to: ['ok@example.com'], bounce: { type: 'Permanent' }, tags: { shop: SHOP } });
    assert.equal(hard.status, 200);
    assert.equal((await hard.json()).outcome, 'suppressed');
    const complaint = await resendEvent('email.complained', { to: ['third@example.com'], tags: { shop: SHOP } });
    assert.equal((await complaint.json()).reason, 'complained');
    // ok@ is now on DESK's list too; its confirmation is queued but never sent.
    const before = capture.emailRequests().length;
    const r = await pub.post(`/v1/shops/${SHOP}/skus/DESK/waitlist`, { email: 'ok@example.com' });
    assert.equal(r.status, 201, r.text);
    const entry = await eventually(async () => {
      const a = (await admin.get(`/v1/shops/${SHOP}/entries/${r.json.entry_id}`)).json;
      return a.trail.some((t) => t.event === 'skipped') && a;
    }, { what: 'the confirmation skipped' });
    assert.ok(entry.messages.every((m) => m.status === 'skipped'));
    assert.ok(!capture.emailRequests().slice(before).some((q) => q.body.to[0] === 'ok@example.com'));
  });

  it('privacy by phone number: export finds the entries, erase purges them and the audit trail', async () => {
    const r = await pub.post(`/v1/shops/${SHOP}/skus/DESK/waitlist`, { email: 'phoney@example.com', phone: '+1 415 555 0123', sms_consent: true });
    assert.equal(r.status, 201, r.text);
    const ex = await admin.post(`/v1/shops/${SHOP}/privacy/export`, { phone: '+14155550123' });
    assert.equal(ex.status, 200, ex.text);
    assert.equal(ex.json.entries.length, 1);
    assert.equal(ex.json.entries[0].email, 'phoney@example.com');
    assert.ok(Array.isArray(ex.json.entries[0].audit));
    const er = await admin.post(`/v1/shops/${SHOP}/privacy/erase`, { phone: '+14155550123' });
    assert.equal(er.status, 200, er.text);
    assert.equal(er.json.erased_entries, 1);
    const a = (await admin.get(`/v1/shops/${SHOP}/entries/${r.json.entry_id}`)).json;
    assert.equal(a.entry.email, 'erased');
    assert.equal(a.entry.phone, null);
    assert.ok(a.trail.every((t) => t.detail.endsWith('(erased)')), JSON.stringify(a.trail));
    assert.equal((await admin.post(`/v1/shops/${SHOP}/privacy/erase`, {})).status, 422);
    assert.equal((await admin.post(`/v1/shops/${SHOP}/privacy/erase`, { phone: '12' })).json.error.code, 'invalid_phone');
  });

  it('double opt-in: a signup waits for the emailed link, then takes its place by signup time', async () => {
    const shop = { name: 'DOI Co', from_email: 'hi@doi.example', inventory_webhook_secrets: [FEED], double_opt_in: true };
    assert.equal((await admin.put('/v1/shops/doi', shop)).status, 200);
    assert.equal((await admin.put('/v1/shops/doi/skus/VASE', { title: 'Vase', url: 'https://doi.example/vase' })).status, 200);
    const consentText = 'Email me when the Vase is back. Unsubscribe anytime.';
    const first = await pub.post('/v1/shops/doi/skus/VASE/waitlist', { email: 'first@example.com', consent_text: consentText, source: 'https://doi.example/vase' }, { 'user-agent': 'TrustTest/1.0' });
    const second = await pub.post('/v1/shops/doi/skus/VASE/waitlist', { email: 'second@example.com' });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.json.status, 'pending_confirmation');
    assert.equal(first.json.position, null);
    const again = await pub.post('/v1/shops/doi/skus/VASE/waitlist', { email: 'first@example.com' });
    assert.notEqual(again.json.entry_id, first.json.entry_id);
    assert.equal(again.json.status, 'pending_confirmation');

    const linkOf = async (to) => {
      const mail = await capture.waitFor((reqs) => reqs.find((r) => kindOf(r.body) === 'confirm_signup' && r.body.to[0] === to));
      assert.match(mail.body.subject, /Please confirm/);
      return mail.body.text.match(/http:\/\/\S+\/v1\/confirm\/\S+/)[0];
    };
    const firstLink = await linkOf('first@example.com');
    const secondLink = await linkOf('second@example.com');
    // Unconfirmed, nobody is in line: stock arriving now offers nothing to them.
    const body = JSON.stringify({ sku: 'VASE', available: 1, updated_at: new Date().toISOString() });
    const lvl = await pub.post('/v1/shops/doi/webhooks/inventory', body, standardHeaders(body, FEED));
    assert.equal(lvl.json.offers, 0, lvl.text);

    // A GET (a mail scanner) only shows the button.
    const page = await fetch(secondLink);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<form method="post">/);
    let q = (await admin.get('/v1/shops/doi/skus/VASE/queue')).json;
    assert.ok(q.entries.every((e) => e.status === 'pending_confirmation'));

    const c2 = await fetch(secondLink, { method: 'POST' });
    assert.equal(c2.status, 200);
    assert.match(await c2.text(), /#1 in line/);
    const c1 = await fetch(firstLink, { method: 'POST' });
    assert.match(await c1.text(), /#1 in line/, 'the earlier signup goes ahead of the earlier confirmation');
    q = (await admin.get('/v1/shops/doi/skus/VASE/queue')).json;
    assert.deepEqual(q.entries.map((e) => [e.email, e.status, e.position]), [['first@example.com', 'waiting', 1], ['second@example.com', 'waiting', 2]]);
    await capture.waitFor((reqs) => reqs.filter((r) => kindOf(r.body) === 'signup_confirmation' && r.body.to[0].endsWith('@example.com') && ['first@example.com', 'second@example.com'].includes(r.body.to[0])).length === 2);
    // The consent record: what was shown, where, by whom, and when it was confirmed.
    const audit = (await admin.get(`/v1/shops/doi/entries/${first.json.entry_id}`)).json;
    assert.equal(audit.consent.text, consentText);
    assert.equal(audit.consent.source, 'https://doi.example/vase');
    assert.equal(audit.consent.user_agent, 'TrustTest/1.0');
    assert.deepEqual(audit.consent.channels, ['email']);
    assert.match(audit.consent.confirmed_at, /^\d{4}-/);
    assert.ok(audit.trail.some((t) => t.cause === 'shopper: confirmed the signup (double opt-in)'));
    const twice = await fetch(firstLink, { method: 'POST' });
    assert.equal(twice.status, 200);
    assert.match(await twice.text(), /Already confirmed/);
    const forged = await fetch(firstLink.slice(0, -4) + 'AAAA', { method: 'POST' });
    assert.ok(forged.status >= 400 && forged.status < 500);
  });
});
