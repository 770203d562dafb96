// The deployment's settings, as an operator gets them wrong or changes them:
// 1. Outside dev mode, the development secrets this repository once shipped open nothing (admin
//    calls and signed links answer 500 `misconfigured`, naming the setting, never its value), and
//    the local mailbox does not exist.
// 2. An unknown provider name is a clear 500 on every request, health check included, never a
//    silent "outbox" that takes signups and sends nothing.
// 3. LINK_SECRET rotates without breaking what was already sent: links signed with the previous
//    secret verify through LINK_SECRET_PREVIOUS, and the suppression list keeps matching under its
//    own SUPPRESSION_KEY.
// 4. A SKU whose scheduled work fails does not stall: the failure is recorded (the queue view's
//    `alarm_failure`), retried with backoff, and cleared by the run that succeeds.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, eventually, kindOf, startCapture, startEdge } from './support/harness.mjs';

const misconfigured = (r, setting) => {
  assert.equal(r.status, 500, r.text);
  assert.equal(r.json?.error?.code, 'misconfigured', r.text);
  assert.match(r.json.error.message, new RegExp(setting), r.text);
};

describe('deployment settings', () => {
  const stops = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  it('outside dev mode, development secrets open nothing and the mailbox does not exist', async () => {
    const edge = await startEdge({ vars: { ADMIN_TOKEN: 'dev-admin-token', LINK_SECRET: 'dev-link-secret-change-me', DEV_MODE: 'false' } });
    stops.push(() => edge.stop());
    const dev = api(edge.url, 'dev-admin-token');
    const shop = { name: 'Ops', from_email: 'hi@ops.example' };
    const refused = await dev.put('/v1/shops/ops', shop);
    misconfigured(refused, 'ADMIN_TOKEN');
    assert.ok(!refused.text.includes('dev-admin-token'), 'the answer does not repeat the value');
    misconfigured(await dev.get('/v1/shops/ops/skus/A/queue'), 'ADMIN_TOKEN');
    const link = await api(edge.url, null).get('/v1/unsubscribe/eyJ4IjoxfQ.AAAA');
    misconfigured(link, 'LINK_SECRET');
    // Its messages would carry forgeable links: no shopper's address is taken either.
    misconfigured(await api(edge.url, null).post('/v1/shops/ops/skus/A/waitlist', { email: 'a@example.com' }), 'LINK_SECRET');
    for (const page of ['/dev/mailbox?shop=ops', '/dev/mailbox.json?shop=ops']) {
      const r = await api(edge.url, null).get(page);
      assert.equal(r.status, 404, `${page} → ${r.text}`);
      assert.equal(r.json?.error?.code, 'not_found');
    }

    // Real secrets set: the operator's token works, the dev one is just a wrong token.
    await edge.restart({ vars: { ADMIN_TOKEN: 'ops-operator-7f3a9c', LINK_SECRET: 'ops-links-1b2c3d' } });
    assert.equal((await api(edge.url, 'ops-operator-7f3a9c').put('/v1/shops/ops', shop)).status, 200);
    assert.equal((await dev.put('/v1/shops/ops', shop)).status, 401);
    const bad = await api(edge.url, null).get('/v1/unsubscribe/eyJ4IjoxfQ.AAAA');
    assert.ok(bad.status >= 400 && bad.status < 500, `a bad link → ${bad.status}`);
  });

  it('an unknown provider name answers 500 misconfigured everywhere, never a silent outbox', async () => {
    const edge = await startEdge({ vars: { EMAIL_PROVIDER: 'resnd' }, healthy: (status) => status === 500 });
    stops.push(() => edge.stop());
    const pub = api(edge.url, null);
    misconfigured(await pub.get('/healthz'), 'EMAIL_PROVIDER');
    misconfigured(await pub.post('/v1/shops/ops/skus/A/waitlist', { email: 'a@example.com' }), 'EMAIL_PROVIDER');
    misconfigured(await api(edge.url).put('/v1/shops/ops', { name: 'Ops', from_email: 'hi@ops.example' }), 'EMAIL_PROVIDER');
    misconfigured(await pub.get('/dev/mailbox.json?shop=ops'), 'EMAIL_PROVIDER');
  });

  it('LINK_SECRET rotates: links already sent still verify, and opt-outs still match', async () => {
    const capture = await startCapture();
    stops.push(() => capture.close());
    const vars = { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'k', LINK_SECRET: 'links-before-rotation' };
    const edge = await startEdge({ vars });
    stops.push(() => edge.stop());
    const admin = api(edge.url);
    const pub = api(edge.url, null);
    assert.equal((await admin.put('/v1/shops/rot', { name: 'Rot', from_email: 'hi@rot.example' })).status, 200);
    assert.equal((await admin.put('/v1/shops/rot/skus/A', { title: 'A', url: 'https://rot.example/a', mode: 'restock', eta: null })).status, 200);
    for (const email of ['ann@example.com', 'bob@example.com']) {
      assert.equal((await pub.post('/v1/shops/rot/skus/A/waitlist', { email })).status, 201);
    }
    const unsubscribeLink = async (email) => {
      const mail = await capture.waitFor((reqs) => reqs.find((r) => kindOf(r.body) === 'signup_confirmation' && r.body.to[0] === email));
      const link = mail.body.headers?.['List-Unsubscribe']?.match(/^<(.+)>$/)?.[1];
      assert.ok(link, JSON.stringify(mail.body.headers));
      return link;
    };
    const ann = await unsubscribeLink('ann@example.com');
    const bob = await unsubscribeLink('bob@example.com');
    const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' };
    assert.equal((await fetch(ann, form)).status, 200);

    // Rotated as the settings' comment says: the list keeps the old key, links accept both.
    await edge.restart({
      vars: { LINK_SECRET: 'links-after-rotation', LINK_SECRET_PREVIOUS: 'links-before-rotation', SUPPRESSION_KEY: 'links-before-rotation' },
    });
    const page = await fetch(bob);
    assert.equal(page.status, 200, 'a link signed before the rotation still opens');
    assert.match(await page.text(), /<form method="post">/);
    const again = await pub.post('/v1/shops/rot/skus/A/waitlist', { email: 'ann@example.com' });
    assert.equal(again.status, 201, again.text);
    assert.equal(again.json.status, 'pending_confirmation', 'the opt-out still holds under the old key');

    // Without the previous secret, the same link no longer verifies (the check above can fail).
    await edge.restart({ vars: { LINK_SECRET_PREVIOUS: '' } });
    const stale = await fetch(bob);
    assert.ok(stale.status >= 400 && stale.status < 500, `an old link without LINK_SECRET_PREVIOUS → ${stale.status}`);
  });

  it('a failing alarm is recorded, retried with backoff, and the SKU catches up', async () => {
    const capture = await startCapture();
    stops.push(() => capture.close());
    // The dev failpoint: each SKU object's first 3 alarm runs fail.
    const vars = { EMAIL_PROVIDER: 'resend', EMAIL_API_BASE: capture.url, EMAIL_API_KEY: 'k', DEV_MODE: 'true', DEV_ALARM_FAILURES: '3' };
    const edge = await startEdge({ vars });
    stops.push(() => edge.stop());
    const admin = api(edge.url);
    assert.equal((await admin.put('/v1/shops/stall', { name: 'Stall', from_email: 'hi@stall.example' })).status, 200);
    assert.equal((await admin.put('/v1/shops/stall/skus/A', { title: 'A', url: 'https://stall.example/a' })).status, 200);
    const t0 = Date.now();
    assert.equal((await api(edge.url, null).post('/v1/shops/stall/skus/A/waitlist', { email: 'ann@example.com' })).status, 201);
    const failures = [];
    const mail = await eventually(async () => {
      const f = (await admin.get('/v1/shops/stall/skus/A/queue')).json.alarm_failure;
      if (f && failures.at(-1)?.failures !== f.failures) failures.push(f);
      return capture.emailRequests().find((r) => kindOf(r.body) === 'signup_confirmation');
    }, { timeoutMs: 20_000, intervalMs: 100, what: 'the confirmation after the failing runs' });
    assert.ok(mail, 'the confirmation went out once the alarm recovered');
    assert.ok(Date.now() - t0 >= 1_000 + 2_000, 'after backing off 1 s, 2 s and 4 s');
    assert.ok(failures.length >= 2, JSON.stringify(failures));
    for (const f of failures) {
      assert.match(f.error, /dev failpoint: alarm run \d of 3 fails/);
      assert.equal(f.retry_at - f.at, 1_000 * 2 ** (f.failures - 1), JSON.stringify(f));
    }
    const q = (await admin.get('/v1/shops/stall/skus/A/queue')).json;
    assert.equal(q.alarm_failure, null, 'a run that succeeds clears the record');
    assert.equal(capture.emailRequests().filter((r) => kindOf(r.body) === 'signup_confirmation').length, 1, 'sent once');
  });
});
