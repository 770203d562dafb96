// Per-shop API keys, against the real edge:
// 1. The operator creates a shop's first `admin` key; that key creates `write` and `read` keys.
//    Listings show the prefix and the last four characters, never a secret; the whole key appears
//    once, in the answer that created (or rotated) it.
// 2. Scopes nest (admin ⊃ write ⊃ read): too small a scope is 403 `insufficient_scope`, and a key
//    cannot create keys unless it is `admin`.
// 3. Shop A's keys (every scope) get 403 `wrong_shop` on every admin route of shop B (the routes are read from
//    docs/openapi.json, so a new one is covered the day it is documented), and B is unchanged.
//    A forged key (right shape and id, wrong secret) is 401, not 403.
// 4. Rotation: the new secret works, the old one is 401 at once. Revocation: 401 `key_revoked`,
//    still listed with when; a revoked key cannot be rotated (409).
// 5. Secrets are write-only: settings answers show `{set, last4}` for each.
// 6. The inventory feed takes a `write` key as a Bearer token (with a webhook-id that dedupes
//    retries) instead of a signature.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, ROOT, startEdge } from './support/harness.mjs';

const doc = JSON.parse(readFileSync(join(ROOT, 'docs', 'openapi.json'), 'utf8'));
const SHOPIFY_SECRET = 'shpss_keys_test_secret_Q7x2';
const FEED_SECRET = 'whsec_a2V5cy10ZXN0LWZlZWQtc2VjcmV0LWtleS0wMQ==';

const shopSettings = (name) => ({
  name,
  from_email: 'hello@keys.example',
  shopify_webhook_secrets: [SHOPIFY_SECRET],
  inventory_webhook_secrets: [FEED_SECRET],
  event_endpoints: [{ id: 'zap', url: 'https://hooks.keys.example/x', secret: 'whsec_ZW5kcG9pbnQtc2VjcmV0LWtleS0xMjM0NTY=' }],
  klaviyo: { api_key: 'pk_keys_klaviyo_private_9f8e' },
});

const status = (r, code, expected) => {
  assert.equal(r.status, code, r.text);
  if (expected) assert.equal(r.json?.error?.code, expected, r.text);
};

describe('per-shop API keys', () => {
  let edge;
  let op;
  const A = 'keys-a';
  const B = 'keys-b';
  const keys = {};

  before(async () => {
    edge = await startEdge({ vars: { EMAIL_PROVIDER: 'outbox', DEV_MODE: 'true' } });
    op = api(edge);
    for (const shop of [A, B]) {
      status(await op.put(`/v1/shops/${shop}`, shopSettings(shop)), 200);
      status(await op.put(`/v1/shops/${shop}/skus/TEE`, { title: 'Tee', mode: 'restock' }), 200);
      status(await op.post(`/v1/shops/${shop}/skus/TEE/waitlist`, { email: `first@${shop}.example`, consent: true }), 201);
    }
  });

  after(async () => {
    await edge?.stop();
  });

  it('the operator creates the first admin key; it creates smaller ones; listings never hold a secret', async () => {
    const made = await op.post(`/v1/shops/${A}/keys`, { name: '  Console  ', scope: 'admin' });
    status(made, 201);
    assert.match(made.json.key, /^rk_keys-a\.[0-9a-f]{12}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(made.json.prefix, `rk_${A}.${made.json.id}`);
    assert.ok(made.json.key.startsWith(`${made.json.prefix}.`));
    assert.equal(made.json.key.slice(-4), made.json.last4);
    assert.deepEqual([made.json.name, made.json.scope, made.json.created_by], ['Console', 'admin', 'operator']);
    keys.admin = made.json;

    const asAdmin = api(edge, keys.admin.key);
    for (const scope of ['write', 'read']) {
      const r = await asAdmin.post(`/v1/shops/${A}/keys`, { name: `ERP ${scope}`, scope });
      status(r, 201);
      assert.equal(r.json.created_by, keys.admin.id, 'a key made by a key names it');
      keys[scope] = r.json;
    }

    const list = await asAdmin.get(`/v1/shops/${A}/keys`);
    status(list, 200);
    assert.deepEqual(list.json.keys.map((k) => k.scope), ['admin', 'write', 'read']);
    for (const k of list.json.keys) {
      assert.equal(k.key, undefined, 'a listing holds no key');
      assert.ok(!list.text.includes(keys[k.scope].key.split('.').pop()), 'no secret in the listing');
      assert.equal(k.last4, keys[k.scope].last4);
    }
    assert.ok(list.json.keys[0].last_used_at > 0, 'the admin key was used, and it shows');
    // Another shop's listing is its own.
    status(await op.get(`/v1/shops/${B}/keys`), 200);
    assert.deepEqual((await op.get(`/v1/shops/${B}/keys`)).json.keys, []);
  });

  it('bad key requests get a clear 4xx and create nothing', async () => {
    const before = (await op.get(`/v1/shops/${A}/keys`)).json.keys.length;
    status(await op.post(`/v1/shops/${A}/keys`, { name: 'x', scope: 'owner' }), 422, 'invalid_payload');
    status(await op.post(`/v1/shops/${A}/keys`, { name: '', scope: 'read' }), 422, 'invalid_name');
    status(await op.post(`/v1/shops/${A}/keys`, { name: 'a\u0000b', scope: 'read' }), 422, 'invalid_name');
    status(await op.post(`/v1/shops/${A}/keys`, { name: 'x', scope: 'read', extra: 1 }), 422, 'invalid_payload');
    status(await op.post(`/v1/shops/${A}/keys`, '{"name":'), 400, 'invalid_json');
    status(await op.post('/v1/shops/keys-nowhere/keys', { name: 'x', scope: 'read' }), 404, 'unknown_shop');
    status(await op.request('DELETE', `/v1/shops/${A}/keys/zzzz`), 404, 'unknown_key');
    status(await op.post(`/v1/shops/${A}/keys/000000000000/rotate`), 404, 'unknown_key');
    status(await api(edge, null).post(`/v1/shops/${A}/keys`, { name: 'x', scope: 'read' }), 401, 'unauthorized');
    assert.equal((await op.get(`/v1/shops/${A}/keys`)).json.keys.length, before);
  });

  it('scopes nest: read reads, write also changes stock and orders, admin also settings and keys', async () => {
    const read = api(edge, keys.read.key);
    const write = api(edge, keys.write.key);
    const admin = api(edge, keys.admin.key);
    status(await read.get(`/v1/shops/${A}/skus/TEE/queue`), 200);
    status(await read.get(`/v1/shops/${A}`), 200);
    status(await read.get(`/v1/shops/${A}/events`), 200);
    status(await read.put(`/v1/shops/${A}/skus/TEE`, { title: 'Tee', mode: 'restock' }), 403, 'insufficient_scope');
    status(await read.post(`/v1/shops/${A}/privacy/erase`, { email: 'first@keys-a.example' }), 403, 'insufficient_scope');
    status(await write.put(`/v1/shops/${A}/skus/TEE`, { title: 'Tee', mode: 'restock' }), 200);
    status(await write.post(`/v1/shops/${A}/skus/TEE/backorders`, { order_id: 'K-1', email: 'bo@keys-a.example', quantity: 1, ordered_at: '2026-11-29T10:01:00Z' }), 201);
    status(await write.put(`/v1/shops/${A}`, shopSettings(A)), 403, 'insufficient_scope');
    status(await write.post(`/v1/shops/${A}/keys`, { name: 'mine', scope: 'read' }), 403, 'insufficient_scope');
    status(await read.get(`/v1/shops/${A}/keys`), 403, 'insufficient_scope');
    status(await admin.put(`/v1/shops/${A}`, shopSettings(A)), 200);
    // Dev routes and shop creation stay the operator's.
    status(await admin.post('/v1/dev/advance', { seconds: 0 }), 401, 'unauthorized');
    status(await admin.put('/v1/shops/keys-new', shopSettings('keys-new')), 403, 'wrong_shop');
  });

  it("shop A's keys, whatever their scope, get 403 on every admin route of shop B, and B is unchanged", async () => {
    const queueBefore = (await op.get(`/v1/shops/${B}/skus/TEE/queue`)).json;
    const settingsBefore = (await op.get(`/v1/shops/${B}`)).json;
    const keysBefore = (await op.get(`/v1/shops/${B}/keys`)).json;
    const foreign = ['admin', 'write', 'read'].map((scope) => api(edge, keys[scope].key));
    const forged = api(edge, `${keys.admin.prefix}.${'A'.repeat(43)}`);
    const params = Object.fromEntries(Object.values(doc.components.parameters).map((p) => [p.name, p.example]));
    let tried = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!path.startsWith('/v1/shops/{shop}')) continue;
      for (const [method, opDoc] of Object.entries(item)) {
        const schemes = (opDoc?.security ?? []).flatMap((s) => Object.keys(s));
        const keyed = schemes.includes('shopKey');
        if (!keyed) continue;
        const url = path.replace(/\{([^}]+)\}/g, (_, n) => encodeURIComponent(n === 'shop' ? B : n === 'id' ? keys.admin.id : params[n]));
        const media = opDoc.requestBody?.content?.['application/json'];
        const body = media ? (media.example ?? Object.values(media.examples ?? {})[0]?.value ?? {}) : undefined;
        const where = `${method.toUpperCase()} ${url}`;
        for (const key of foreign) status(await key.request(method.toUpperCase(), url, { body }), 403, 'wrong_shop');
        assert.ok(opDoc.responses['403'], `${where}: 403 is documented`);
        const f = await forged.request(method.toUpperCase(), url, { body });
        status(f, 401, 'unauthorized');
        tried += 1;
      }
    }
    assert.ok(tried >= 18, `admin routes tried: ${tried}`);
    assert.deepEqual((await op.get(`/v1/shops/${B}/skus/TEE/queue`)).json, queueBefore);
    assert.deepEqual((await op.get(`/v1/shops/${B}`)).json, settingsBefore);
    assert.deepEqual((await op.get(`/v1/shops/${B}/keys`)).json, keysBefore);
  });

  it('a rotated secret replaces the old one at once; a revoked key is 401 and stays listed', async () => {
    const admin = api(edge, keys.admin.key);
    const rotated = await admin.post(`/v1/shops/${A}/keys/${keys.read.id}/rotate`);
    status(rotated, 200);
    assert.equal(rotated.json.id, keys.read.id);
    assert.notEqual(rotated.json.key, keys.read.key);
    assert.ok(rotated.json.rotated_at > 0);
    status(await api(edge, keys.read.key).get(`/v1/shops/${A}/skus/TEE/queue`), 401, 'unauthorized');
    status(await api(edge, rotated.json.key).get(`/v1/shops/${A}/skus/TEE/queue`), 200);

    const revoked = await admin.del(`/v1/shops/${A}/keys/${keys.read.id}`);
    status(revoked, 200);
    assert.ok(revoked.json.revoked_at > 0);
    assert.equal(revoked.json.key, undefined);
    status(await api(edge, rotated.json.key).get(`/v1/shops/${A}/skus/TEE/queue`), 401, 'key_revoked');
    status(await admin.post(`/v1/shops/${A}/keys/${keys.read.id}/rotate`), 409, 'key_revoked');
    const again = await admin.del(`/v1/shops/${A}/keys/${keys.read.id}`);
    assert.equal(again.json.revoked_at, revoked.json.revoked_at, 'revoking twice keeps the first time');
    const listed = (await admin.get(`/v1/shops/${A}/keys`)).json.keys.find((k) => k.id === keys.read.id);
    assert.equal(listed.revoked_at, revoked.json.revoked_at);
  });

  it('settings answers show each secret as {set, last4}, never the secret', async () => {
    for (const r of [await op.put(`/v1/shops/${A}`, shopSettings(A)), await api(edge, keys.write.key).get(`/v1/shops/${A}`)]) {
      status(r, 200);
      for (const secret of [SHOPIFY_SECRET, FEED_SECRET, 'ZW5kcG9pbnQtc2VjcmV0LWtleS0xMjM0NTY', 'pk_keys_klaviyo_private']) {
        assert.ok(!r.text.includes(secret.slice(0, -4)), `a secret shows: ${r.text}`);
      }
      assert.deepEqual(r.json.shopify_webhook_secrets, [{ set: true, last4: 'Q7x2' }]);
      assert.deepEqual(r.json.inventory_webhook_secrets, [{ set: true, last4: FEED_SECRET.slice(-4) }]);
      assert.deepEqual(r.json.event_endpoints[0].secret, { set: true, last4: 'NTY=' });
      assert.deepEqual(r.json.klaviyo.api_key, { set: true, last4: '9f8e' });
      assert.equal(r.json.name, A);
    }
  });

  it('the inventory feed takes a write key instead of a signature, deduped by webhook-id', async () => {
    const event = { events: [{ type: 'eta', sku: 'TEE', eta: { earliest: '2027-03-01', latest: '2027-03-08' } }] };
    const write = api(edge, keys.write.key);
    const first = await write.post(`/v1/shops/${A}/webhooks/inventory`, event, { 'webhook-id': 'zap-run-1' });
    status(first, 200);
    assert.equal(first.json.results[0].outcome, 'applied', first.text);
    const retry = await write.post(`/v1/shops/${A}/webhooks/inventory`, event, { 'webhook-id': 'zap-run-1' });
    status(retry, 200);
    assert.equal(retry.json.results[0].outcome, 'duplicate', retry.text);
    const later = { events: [{ type: 'eta', sku: 'TEE', eta: { earliest: '2027-04-01', latest: '2027-04-08' } }] };
    const byIdem = await write.post(`/v1/shops/${A}/webhooks/inventory`, later, { 'idempotency-key': 'make-run-9' });
    assert.equal(byIdem.json.results[0].outcome, 'applied', byIdem.text);
    status(await write.post(`/v1/shops/${A}/webhooks/inventory`, event), 400, 'missing_webhook_id');
    const readKey = await api(edge, keys.admin.key).post(`/v1/shops/${A}/keys`, { name: 'reader', scope: 'read' });
    status(await api(edge, readKey.json.key).post(`/v1/shops/${A}/webhooks/inventory`, event, { 'webhook-id': 'r-1' }), 403, 'insufficient_scope');
    status(await write.post(`/v1/shops/${B}/webhooks/inventory`, event, { 'webhook-id': 'zap-run-2' }), 403, 'wrong_shop');
    status(await api(edge, null).post(`/v1/shops/${A}/webhooks/inventory`, event, { 'webhook-id': 'x-1' }), 401, 'invalid_signature');
  });
});
