// Consent and signup trust: Cloudflare Turnstile on signups (a local server stands in for siteverify,
// failing closed), the same answer whether or not an address was already on the list, and SMS
// keywords from Twilio's inbound webhook (STOP / START / HELP, signed with X-Twilio-Signature) with
// their effect on the texts the waitlist sends (a local server also stands in for Twilio's API).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { api, eventually, kindOf, sleep, standardHeaders, startCapture, startEdge } from './support/harness.mjs';

const TWILIO_TOKEN = 'twilio-auth-token-for-tests';
const TWILIO_SID = 'ACtest0000000000000000000000000000';
const TS_SECRET = '0x4AAAAAAAtest-secret';
const FEED = `whsec_${Buffer.from('consent-inventory-feed-test-key1').toString('base64')}`;

const GATE = 'gate'; // a shop with Turnstile
const SMS = 'texts'; // a shop whose shoppers get texts
const PHONE = '+14155550101';
const OTHER_PHONE = '+14155550102';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let capture;
let fake;
let edge;
let admin;
let pub;

/**
 * One local server standing in for Cloudflare's siteverify and Twilio's Messages API.
 * siteverify answers by token: `ok`, `bad` (invalid-input-response), `other-host`, `other-action`,
 * `internal` (internal-error), `down` (500), `flaky` (503 once per idempotency key, then ok),
 * `reset` (connection dropped), `badsecret` (invalid-input-secret).
 */
async function startFake() {
  const verifies = [];
  const texts = [];
  const failedOnce = new Set();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = new URL(req.url, 'http://fake').pathname;
      const form = Object.fromEntries(new URLSearchParams(raw));
      const send = (status, body) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && path === '/turnstile/v0/siteverify') {
        const params = (req.headers['content-type'] ?? '').includes('json') ? JSON.parse(raw) : form;
        verifies.push({ ...params, contentType: req.headers['content-type'] });
        const good = { success: true, 'error-codes': [], challenge_ts: new Date().toISOString(), hostname: 'shop.gate.example', action: 'waitlist' };
        const no = (code) => send(200, { success: false, 'error-codes': [code], messages: [] });
        if (params.secret !== TS_SECRET) return no('invalid-input-secret');
        switch (params.response) {
          case 'ok': return send(200, good);
          case 'other-host': return send(200, { ...good, hostname: 'evil.example' });
          case 'other-action': return send(200, { ...good, action: 'login' });
          case 'no-action': { const { action: _a, ...rest } = good; return send(200, rest); }
          case 'internal': return no('internal-error');
          case 'down': return send(500, { error: 'down' });
          case 'flaky':
            if (failedOnce.has(params.idempotency_key)) return send(200, good);
            failedOnce.add(params.idempotency_key);
            return send(503, { error: 'try again' });
          case 'reset': req.socket.destroy(); return undefined;
          default: return no('invalid-input-response');
        }
      }
      const m = path.match(/^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/);
      if (req.method === 'POST' && m) {
        const sid = `SM${String(texts.length + 1).padStart(32, '0')}`;
        texts.push({ ...form, sid, at: Date.now() });
        return send(201, { sid, status: 'queued', to: form.To, from: form.From });
      }
      return send(404, { message: 'fake: unknown path' });
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    verifies,
    texts,
    textsTo: (to) => texts.filter((t) => t.To === to),
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }),
  };
}

/** Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by the sorted params (name + value). */
function twilioSignature(token, url, params) {
  const data = Object.keys(params).sort().reduce((acc, k) => acc + k + params[k], url);
  return createHmac('sha1', token).update(data, 'utf8').digest('base64');
}

/** Posts an inbound SMS like Twilio does (form-encoded, signed unless `signature` is given). */
async function inbound(shop, body, { from = PHONE, signature, token = TWILIO_TOKEN, signedUrl } = {}) {
  const path = `/v1/shops/${shop}/webhooks/twilio`;
  const params = {
    ToCountry: 'US', SmsMessageSid: 'SMinbound', NumMedia: '0', MessageSid: 'SMinbound', AccountSid: TWILIO_SID,
    From: from, To: '+15550001111', Body: body, NumSegments: '1', ApiVersion: '2010-04-01',
  };
  // `signature: null` sends no header at all.
  const sig = signature === undefined ? twilioSignature(token, signedUrl ?? `${edge.url}${path}`, params) : signature;
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (sig !== null) headers['x-twilio-signature'] = sig;
  const r = await fetch(edge.url + path, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
}

function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.equal(res.json?.error?.code, code, res.text);
  assert.equal(typeof res.json.error.message, 'string', res.text);
}

const signup = (shop, sku, body) => pub.post(`/v1/shops/${shop}/skus/${sku}/waitlist`, body);
const queueEmails = async (shop, sku) => {
  const q = await admin.get(`/v1/shops/${shop}/skus/${sku}/queue`);
  assert.equal(q.status, 200, q.text);
  return q.json.entries.map((e) => e.email);
};
const level = async (shop, sku, available) => {
  const body = JSON.stringify({ sku, available, updated_at: new Date().toISOString() });
  const r = await pub.post(`/v1/shops/${shop}/webhooks/inventory`, body, standardHeaders(body, FEED));
  assert.equal(r.status, 200, r.text);
};
const emailsTo = (to, kind) => capture.emailRequests().filter((r) => r.body?.to?.[0]?.toLowerCase() === to && (!kind || kindOf(r.body) === kind));

describe('consent: Turnstile, the same answer for a repeat signup, SMS keywords', () => {
  before(async () => {
    capture = await startCapture();
    fake = await startFake();
    edge = await startEdge({
      vars: {
        EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'k',
        TURNSTILE_API_BASE: fake.url,
        SMS_PROVIDER: 'twilio', SMS_API_BASE: fake.url, TWILIO_ACCOUNT_SID: TWILIO_SID, SMS_FROM: '+15550001111',
        SMS_RATE_PER_SEC: '0', TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
      },
    });
    admin = api(edge);
    pub = api(edge, null);
    const gate = {
      name: 'Gate Goods', from_email: 'hi@gate.example',
      turnstile: { secret: TS_SECRET, hostnames: ['shop.gate.example', 'gate.example'], action: 'waitlist' },
    };
    assert.equal((await admin.put(`/v1/shops/${GATE}`, gate)).status, 200);
    const texts = {
      name: 'Lamps & Co <Texts>', from_email: 'hi@lamps.example', support_email: 'help@lamps.example',
      inventory_webhook_secrets: [FEED], hold_hours: 24,
    };
    assert.equal((await admin.put(`/v1/shops/${SMS}`, texts)).status, 200);
    for (const [shop, sku] of [[GATE, 'BOOT'], [SMS, 'LAMP'], [SMS, 'DESK'], [SMS, 'VASE'], [SMS, 'RUG'], [SMS, 'POT'], [SMS, 'CUP'], [SMS, 'MUG'], [SMS, 'JAR']]) {
      const r = await admin.put(`/v1/shops/${shop}/skus/${sku}`, { title: sku, url: `https://${shop}.example/${sku}` });
      assert.equal(r.status, 200, r.text);
    }
  });

  after(async () => {
    await edge?.stop();
    await capture?.close();
    await fake?.close();
  });

  describe('Turnstile', () => {
    it('shop settings: a bad secret, hostname or action → 422 invalid_field', async () => {
      const base = { name: 'X', from_email: 'x@x.example' };
      for (const turnstile of [
        { secret: '' },
        { secret: 'a b' },
        { secret: 's', hostnames: ['https://shop.example'] },
        { secret: 's', hostnames: ['shop.example/path'] },
        { secret: 's', hostnames: ['shop.example:443'] },
        { secret: 's', action: 'x'.repeat(33) },
        { secret: 's', action: 'has space' },
      ]) {
        assertError(await admin.put('/v1/shops/badts', { ...base, turnstile }), 422, 'invalid_field');
      }
      const ok = await admin.put('/v1/shops/okts', { ...base, turnstile: { secret: 's', hostnames: ['Shop.Example.com'], action: 'wait-list_1' } });
      assert.equal(ok.status, 200, ok.text);
    });

    it('token missing or blank → 422 turnstile_required; siteverify is not called and nothing is stored', async () => {
      const before = fake.verifies.length;
      assertError(await signup(GATE, 'BOOT', { email: 'none@example.com' }), 422, 'turnstile_required');
      assertError(await signup(GATE, 'BOOT', { email: 'none@example.com', turnstile_token: '   ' }), 422, 'turnstile_required');
      assert.equal(fake.verifies.length, before);
      assert.deepEqual(await queueEmails(GATE, 'BOOT'), []);
    });

    it('the honeypot still comes first; a bad email is reported before the token is spent', async () => {
      const before = fake.verifies.length;
      const bot = await signup(GATE, 'BOOT', { email: 'bot@example.com', website: 'http://spam.example' });
      assert.equal(bot.status, 202, bot.text);
      assertError(await signup(GATE, 'BOOT', { email: 'not-an-email', turnstile_token: 'ok' }), 422, 'invalid_email');
      assert.equal(fake.verifies.length, before, 'no siteverify call');
    });

    it('a valid token → 201; siteverify gets secret, token, remote IP and a UUID idempotency key', async () => {
      const r = await signup(GATE, 'BOOT', { email: 'ana@example.com', turnstile_token: 'ok' });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.position, 1, r.text);
      const v = fake.verifies.at(-1);
      assert.equal(v.secret, TS_SECRET);
      assert.equal(v.response, 'ok');
      assert.match(v.idempotency_key, UUID_RE);
      assert.ok(v.remoteip === undefined || v.remoteip.length > 0, JSON.stringify(v));
      assert.deepEqual(await queueEmails(GATE, 'BOOT'), ['ana@example.com']);
    });

    it('refused tokens → 403 turnstile_failed (invalid, wrong hostname, wrong or missing action, too long), nothing stored', async () => {
      for (const token of ['bad', 'other-host', 'other-action', 'no-action', 'x'.repeat(2049)]) {
        const before = fake.verifies.length;
        const r = await signup(GATE, 'BOOT', { email: `failed-${token.length}-${token.slice(0, 12)}@example.com`, turnstile_token: token });
        assertError(r, 403, 'turnstile_failed');
        // A refused token is not retried: single-use tokens cannot pass a second time.
        assert.ok(fake.verifies.length - before <= 1, `${token}: ${fake.verifies.length - before} siteverify calls`);
      }
      assert.deepEqual(await queueEmails(GATE, 'BOOT'), ['ana@example.com']);
    });

    it('siteverify down, dropping the connection, internal-error or refusing the secret → 503 turnstile_unavailable, nothing stored', async () => {
      for (const token of ['down', 'reset', 'internal']) {
        const before = fake.verifies.length;
        const r = await signup(GATE, 'BOOT', { email: `down-${token}@example.com`, turnstile_token: token });
        assertError(r, 503, 'turnstile_unavailable');
        assert.ok(Number(r.headers.get('retry-after')) > 0, 'Retry-After');
        const calls = fake.verifies.slice(before);
        assert.equal(calls.length, 2, `${token}: one retry`);
        assert.equal(calls[0].idempotency_key, calls[1].idempotency_key, 'the retry reuses the idempotency key');
      }
      // The merchant's secret is wrong: not the shopper's fault, still nothing stored.
      assert.equal((await admin.put('/v1/shops/wrongsecret', { name: 'W', from_email: 'w@w.example', turnstile: { secret: 'nope' } })).status, 200);
      assert.equal((await admin.put('/v1/shops/wrongsecret/skus/HAT', { title: 'Hat' })).status, 200);
      assertError(await signup('wrongsecret', 'HAT', { email: 'w@example.com', turnstile_token: 'ok' }), 503, 'turnstile_unavailable');
      assert.deepEqual(await queueEmails('wrongsecret', 'HAT'), []);
      assert.deepEqual(await queueEmails(GATE, 'BOOT'), ['ana@example.com']);
      assert.equal(emailsTo('down-down@example.com').length + emailsTo('failed-3-bad@example.com').length, 0);
    });

    it('a transient siteverify failure is retried with the same idempotency key → 201', async () => {
      const r = await signup(GATE, 'BOOT', { email: 'flaky@example.com', turnstile_token: 'flaky' });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(await queueEmails(GATE, 'BOOT'), ['ana@example.com', 'flaky@example.com']);
    });

    it("a bot failing Turnstile with a victim's address does not use up that address's allowance", async () => {
      // The per-address limit is 10 signups an hour; 12 failed attempts must not count.
      for (let i = 0; i < 12; i++) {
        assertError(await signup(GATE, 'BOOT', { email: 'victim@example.com', turnstile_token: 'bad' }), 403, 'turnstile_failed');
      }
      const r = await signup(GATE, 'BOOT', { email: 'victim@example.com', turnstile_token: 'ok' });
      assert.equal(r.status, 201, r.text);
    });

    it('a repeat signup through Turnstile: the same 201 and body shape', async () => {
      const first = await signup(GATE, 'BOOT', { email: 'twice@example.com', turnstile_token: 'ok' });
      const again = await signup(GATE, 'BOOT', { email: 'Twice@Example.com', turnstile_token: 'ok' });
      assert.equal(first.status, 201, first.text);
      assert.equal(again.status, 201, again.text);
      assert.deepEqual(Object.keys(again.json).sort(), Object.keys(first.json).sort());
      assert.notEqual(again.json.entry_id, first.json.entry_id, 'a repeat signup never hands out the entry id');
    });
  });

  describe('the same answer for a repeat signup', () => {
    it('new and already-listed addresses both get 201 with entry_id, position, status, eta, eta_text', async () => {
      const first = await signup(SMS, 'RUG', { email: 'rug@example.com' });
      const again = await signup(SMS, 'RUG', { email: 'RUG@example.com' });
      for (const r of [first, again]) {
        assert.equal(r.status, 201, r.text);
        assert.deepEqual(Object.keys(r.json).sort(), ['entry_id', 'eta', 'eta_text', 'position', 'status']);
        assert.equal(r.headers.get('content-type'), first.headers.get('content-type'));
      }
      // A fresh id bound to the same entry: it reads the same place; the entry's own id is not in it.
      assert.notEqual(again.json.entry_id, first.json.entry_id);
      assert.ok(!again.text.includes(first.json.entry_id));
      const [p1, p2] = await Promise.all([first, again].map((r) => api(edge, null).get(`/v1/shops/${SMS}/skus/RUG/waitlist/${r.json.entry_id}`)));
      assert.equal(p2.status, 200, p2.text);
      assert.equal(p2.json.entry_id, again.json.entry_id, 'the answer names the id asked with');
      assert.deepEqual({ ...p2.json, entry_id: null }, { ...p1.json, entry_id: null });
      // Still one entry, one confirmation.
      await capture.waitFor(() => emailsTo('rug@example.com', 'signup_confirmation').length === 1);
      await sleep(1000);
      assert.equal(emailsTo('rug@example.com', 'signup_confirmation').length, 1);
    });
  });

  describe('an opt-out holds', () => {
    it('a bare signup does not undo an unsubscribe: it asks for a confirmation, and only the confirmed opt-in lifts it', async () => {
      const who = 'optout@example.com';
      // Imported from the old app: on POT's list without any email from us yet.
      const csv = `Email,Variant SKU,Signup Date\n${who},POT,2026-10-01\n`;
      const imp = await admin.request('POST', `/v1/shops/${SMS}/imports`, { body: csv, headers: { 'content-type': 'text/csv' } });
      assert.equal(imp.status, 200, imp.text);
      await level(SMS, 'POT', 1);
      const offer = await capture.waitFor((reqs) => reqs.find((r) => kindOf(r.body) === 'restock_offer' && r.body.to[0] === who));
      const unsubscribe = offer.body.headers['List-Unsubscribe'].match(/^<(.+)>$/)[1];
      const left = await fetch(unsubscribe, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
      assert.equal(left.status, 200, await left.text());

      // A signup to a SKU that does not exist is refused and changes nothing: the opt-out holds below.
      const nowhere = await signup(SMS, 'NO-SUCH-SKU', { email: who });
      assert.equal(nowhere.status, 404, nowhere.text);
      assert.equal(nowhere.json.error.code, 'unknown_sku');
      // Anyone may type the address into a form: that alone keeps it out of line and off the mail.
      const bare = await signup(SMS, 'CUP', { email: 'OptOut@example.com' });
      assert.equal(bare.status, 201, bare.text);
      assert.equal(bare.json.status, 'pending_confirmation');
      assert.equal(bare.json.position, null);
      const bystander = await signup(SMS, 'CUP', { email: 'bystander@example.com' });
      assert.equal(bystander.json.position, 1, 'the unconfirmed signup holds no place yet');
      const ask = await capture.waitFor(() => emailsTo(who, 'confirm_signup')[0]);
      await level(SMS, 'CUP', 1);
      await capture.waitFor((reqs) => reqs.some((r) => kindOf(r.body) === 'restock_offer' && r.body.to[0] === 'bystander@example.com'));
      assert.deepEqual(emailsTo(who).map((r) => kindOf(r.body)), ['restock_offer', 'confirm_signup'], 'nothing else reached the address');

      // The shopper clicks the emailed link: the opt-in is theirs, and their place counts from the signup.
      const link = ask.body.text.match(/http:\/\/\S+\/v1\/confirm\/\S+/)[0];
      const confirmed = await fetch(link, { method: 'POST' });
      assert.equal(confirmed.status, 200);
      assert.match(await confirmed.text(), /#1 in line/);
      await level(SMS, 'CUP', 2);
      await capture.waitFor(() => emailsTo(who, 'restock_offer').length === 2);
      const tags = Object.fromEntries(emailsTo(who, 'restock_offer')[1].body.tags.map((t) => [t.name, t.value]));
      assert.equal(tags.sku, 'CUP', JSON.stringify(tags));
    });
  });

  describe('an opted-out holder', () => {
    it('is skipped when its offer would go out, and its unit goes to the next in line at once', async () => {
      const who = 'leaver@example.com';
      const next = 'next-in-line@example.com';
      assert.equal((await signup(SMS, 'MUG', { email: who })).status, 201);
      assert.equal((await signup(SMS, 'JAR', { email: who })).status, 201);
      assert.equal((await signup(SMS, 'JAR', { email: next })).status, 201);
      // The shopper unsubscribes from a MUG email: shop-wide, so the JAR entry is opted out too.
      const mail = await capture.waitFor(() => emailsTo(who).find((r) => r.body.tags.some((t) => t.name === 'sku' && t.value === 'MUG')));
      const link = mail.body.headers['List-Unsubscribe'].match(/^<(.+)>$/)[1];
      const left = await fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
      assert.equal(left.status, 200, await left.text());
      // One unit of JAR: the first in line opted out, so the unit goes on to the next, now, not
      // after the 24 h hold.
      await level(SMS, 'JAR', 1);
      await capture.waitFor(() => emailsTo(next, 'restock_offer').length === 1);
      assert.equal(emailsTo(who, 'restock_offer').length, 0, 'nothing reached the address that left');
      const q = (await admin.get(`/v1/shops/${SMS}/skus/JAR/queue`)).json;
      const byEmail = Object.fromEntries(q.entries.map((e) => [e.email, e]));
      assert.equal(byEmail[who].status, 'cancelled', JSON.stringify(byEmail[who]));
      assert.equal(byEmail[who].position, null);
      assert.deepEqual([byEmail[next].status, byEmail[next].units, byEmail[next].position], ['offered', 1, 1]);
      const audit = (await admin.get(`/v1/shops/${SMS}/entries/${byEmail[who].entry_id}`)).json;
      assert.ok(audit.trail.some((r) => /suppression list/.test(r.cause)), JSON.stringify(audit.trail));
    });
  });

  describe('SMS keywords (Twilio inbound webhook)', () => {
    it('forged, missing or mis-addressed signatures → 401 invalid_signature, and change nothing', async () => {
      for (const opts of [
        { signature: null },
        { signature: '' },
        { signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' },
        { token: 'wrong-token' },
        { signedUrl: `${edge.url}/v1/shops/other/webhooks/twilio` },
      ]) {
        const r = await inbound(SMS, 'STOP', { ...opts, from: OTHER_PHONE });
        assert.equal(r.status, 401, `${JSON.stringify(opts)}: ${r.status} ${r.text}`);
        assert.equal(JSON.parse(r.text).error.code, 'invalid_signature');
      }
      // Nothing was suppressed: the number still gets its confirmation text.
      const r = await signup(SMS, 'RUG', { email: 'other@example.com', phone: OTHER_PHONE, sms_consent: true });
      assert.equal(r.status, 201, r.text);
      await eventually(() => fake.textsTo(OTHER_PHONE).length === 1, { what: 'confirmation text to the other phone' });
    });

    it('HELP → TwiML with the shop name and support address (XML-escaped); chatter → empty Response', async () => {
      const help = await inbound(SMS, 'help');
      assert.equal(help.status, 200, help.text);
      assert.match(help.type, /^text\/xml/);
      assert.match(help.text, /<Response><Message>[^<]*<\/Message><\/Response>$/);
      assert.ok(help.text.includes('Lamps &amp; Co &lt;Texts&gt;'), help.text);
      assert.ok(help.text.includes('help@lamps.example'), help.text);
      assert.ok(help.text.includes('STOP'), help.text);
      const chat = await inbound(SMS, 'Is it back in stock yet?');
      assert.equal(chat.status, 200);
      assert.match(chat.type, /^text\/xml/);
      assert.match(chat.text, /<Response\/>$/);
      const unknown = await inbound('no-such-shop', 'HELP');
      assert.equal(unknown.status, 404, unknown.text);
    });

    it('STOP → suppressed: no more texts to that number (restock, new signups); email still goes', async () => {
      const a = await signup(SMS, 'LAMP', { email: 'lamp@example.com', phone: '+1 (415) 555-0101', sms_consent: true });
      assert.equal(a.status, 201, a.text);
      await eventually(() => fake.textsTo(PHONE).length === 1, { what: 'signup confirmation text' });

      const stop = await inbound(SMS, 'Stop.');
      assert.equal(stop.status, 200, stop.text);
      assert.match(stop.type, /^text\/xml/);
      assert.match(stop.text, /<Response\/>$/, 'Twilio sends the opt-out confirmation itself');

      await level(SMS, 'LAMP', 1);
      await capture.waitFor(() => emailsTo('lamp@example.com', 'restock_offer').length === 1);
      const audit = await eventually(async () => {
        const r = await admin.get(`/v1/shops/${SMS}/entries/${a.json.entry_id}`);
        const sms = (r.json?.messages ?? []).find((m) => m.channel === 'sms' && m.kind === 'restock_offer');
        return sms && sms.status !== 'pending' ? sms : null;
      }, { what: 'the restock text settled' });
      assert.equal(audit.status, 'skipped', JSON.stringify(audit));
      assert.equal(fake.textsTo(PHONE).length, 1, 'no restock text after STOP');

      // A new signup is no opt-in for texts: the number stays blocked until START (as at Twilio).
      const d = await signup(SMS, 'DESK', { email: 'desk@example.com', phone: PHONE, sms_consent: true });
      assert.equal(d.status, 201, d.text);
      await capture.waitFor(() => emailsTo('desk@example.com', 'signup_confirmation').length === 1);
      await sleep(1500);
      assert.equal(fake.textsTo(PHONE).length, 1, 'no confirmation text after STOP');
    });

    it('START → texts flow again; a forged STOP afterwards changes nothing', async () => {
      const start = await inbound(SMS, 'START');
      assert.equal(start.status, 200, start.text);
      assert.match(start.text, /<Response\/>$/);
      const forged = await inbound(SMS, 'STOP', { token: 'not-the-token' });
      assert.equal(forged.status, 401);
      const v = await signup(SMS, 'VASE', { email: 'vase@example.com', phone: PHONE, sms_consent: true });
      assert.equal(v.status, 201, v.text);
      await eventually(() => fake.textsTo(PHONE).length === 2, { what: 'confirmation text after START' });
      assert.match(fake.textsTo(PHONE)[1].Body, /VASE/);
    });

    it('STOP ALL and unsubscribe are stops too; a sender that is not a phone number changes nothing', async () => {
      for (const body of ['STOP ALL', 'unsubscribe']) {
        const r = await inbound(SMS, body, { from: '+14155550199' });
        assert.equal(r.status, 200, r.text);
        assert.match(r.text, /<Response\/>$/);
      }
      const wa = await inbound(SMS, 'STOP', { from: 'whatsapp:+14155550101' });
      assert.equal(wa.status, 200, wa.text);
      const rugPhone = await signup(SMS, 'RUG', { email: 'stopall@example.com', phone: '+14155550199', sms_consent: true });
      assert.equal(rugPhone.status, 201, rugPhone.text);
      await capture.waitFor(() => emailsTo('stopall@example.com', 'signup_confirmation').length === 1);
      await sleep(1500);
      assert.equal(fake.textsTo('+14155550199').length, 0);
    });
  });
});
