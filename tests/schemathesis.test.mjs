// A client nobody here wrote attacks the API: Schemathesis (PyPI, installed into .venv by
// scripts/setup) reads docs/openapi.json and sends every operation generated requests — valid
// ones, edge cases of each schema, and deliberately wrong ones — against the running edge,
// authenticated with one of the example shop's own `admin` keys. Every answer must be no 5xx, a
// documented status, a documented content type and a body that fits the documented schema.
//
// Deterministic and bounded: `--generation-deterministic` (the same cases every run), at most 5
// examples per operation in each phase, one worker; about half a minute.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, ROOT, startEdge } from './support/harness.mjs';

const ST = join(ROOT, '.venv', 'bin', 'st');
const DOC = join(ROOT, 'docs', 'openapi.json');
const CHECKS = ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance'];

/** Runs a command; resolves to `{ code, out }` (stdout and stderr together). */
function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('Schemathesis over docs/openapi.json', () => {
  let edge;
  let key;
  const work = mkdtempSync(join(tmpdir(), 'restock-schemathesis-'));

  before(async () => {
    assert.ok(existsSync(ST), `${ST} is missing: run bash scripts/setup`);
    edge = await startEdge({ vars: { EMAIL_PROVIDER: 'outbox', DEV_MODE: 'true' } });
    // The shop and SKU the document's parameter examples name, set up from its own examples.
    const doc = JSON.parse(readFileSync(DOC, 'utf8'));
    const example = (path, method) => doc.paths[path][method].requestBody.content['application/json'].example;
    const shop = doc.components.parameters.shop.example;
    const sku = doc.components.parameters.sku.example;
    const op = api(edge);
    assert.equal((await op.put(`/v1/shops/${shop}`, example('/v1/shops/{shop}', 'put'))).status, 200);
    assert.equal((await op.put(`/v1/shops/${shop}/skus/${sku}`, example('/v1/shops/{shop}/skus/{sku}', 'put'))).status, 200);
    const made = await op.post(`/v1/shops/${shop}/keys`, { name: 'Schemathesis', scope: 'admin' });
    assert.equal(made.status, 201, made.text);
    key = made.json.key;
  });

  after(async () => {
    await edge?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('no 5xx, and every answer as documented', async (t) => {
    const args = [
      'run', DOC,
      '--url', edge.url,
      '--header', `Authorization: Bearer ${key}`,
      '--checks', CHECKS.join(','),
      '--generation-deterministic',
      '--max-examples', '5',
      '--workers', '1',
      '--request-timeout', '30',
      '--no-color',
    ];
    // Its own working directory: nothing it writes lands in the repository.
    const { code, out } = await run(ST, args, { cwd: work, env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' } });
    const summary = out.slice(out.lastIndexOf('SUMMARY'));
    for (const line of summary.split('\n').filter((l) => l.trim())) t.diagnostic(line);
    assert.equal(code, 0, `schemathesis failed:\n${out.slice(-20000)}`);
    const tested = /Tested: (\d+)/.exec(summary);
    const selected = /Selected: (\d+)\/(\d+)/.exec(summary);
    assert.ok(tested && selected, summary);
    assert.equal(Number(tested[1]), Number(selected[2]), 'every operation was tested');
    assert.match(summary, /(\d+) generated, \1 passed/, summary);
  });
});
