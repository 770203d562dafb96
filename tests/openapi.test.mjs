// Keeps docs/openapi.json true to the implementation.
//
// Without the edge: the document is OpenAPI 3.1, every `$ref` resolves, every operation has an
// operationId, responses and a 4xx answer with the shared Error schema; its (method, path) pairs are
// exactly the routes of edge/src/lib.rs (parsed from the `route` match arms, nested arms, `..`
// preflight arms and guards included), the dev-only and 405-vs-404 marks agree with the router, the
// enums and wire structs agree with the Rust types, and every example fits its schema.
//
// With the edge (one `wrangler dev`, EMAIL_PROVIDER=outbox): every operation with an example request
// is sent it, in document order, and the answer must have a documented status (the one in
// `x-example-status` when given) and a body that fits the documented schema for that status; admin
// operations without the token answer a documented 401; every path answers an unlisted method with
// its `x-unlisted-method-status`.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_ADMIN_TOKEN, ROOT, shopifyHeaders, standardHeaders, startEdge } from './support/harness.mjs';

const DOC_PATH = join(ROOT, 'docs', 'openapi.json');
const read = (...p) => readFileSync(join(ROOT, ...p), 'utf8');
const docText = readFileSync(DOC_PATH, 'utf8');
const doc = JSON.parse(docText);
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

// ---------------------------------------------------------------------------------------------
// The document

/** Resolves a local `$ref` (`#/components/schemas/X`). */
function resolveRef(root, ref) {
  assert.ok(ref.startsWith('#/'), `only local refs are used: ${ref}`);
  let node = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}

/** Follows `$ref`s until a node without one. */
function deref(root, node) {
  let n = node;
  for (let i = 0; n && n.$ref && i < 20; i++) n = resolveRef(root, n.$ref);
  return n;
}

function* operations(d = doc) {
  for (const [path, item] of Object.entries(d.paths)) {
    // In the document's order: the live examples run in it (a shop before its SKUs, PUT before GET).
    for (const method of Object.keys(item)) if (METHODS.includes(method)) yield { path, method, item, op: item[method] };
  }
}

/** Path-level and operation-level parameters, resolved; operation-level wins. */
function paramsOf(item, op) {
  const byKey = new Map();
  for (const p of [...(item.parameters || []), ...(op.parameters || [])].map((p) => deref(doc, p))) {
    byKey.set(`${p.in}:${p.name}`, p);
  }
  return [...byKey.values()];
}

/** `/v1/shops/{shop}/skus/{sku}` → `/v1/shops/{}/skus/{}` and the names. */
function normalizeTemplate(path) {
  const names = [];
  const norm = path.replace(/\{([^}]*)\}/g, (_, n) => { names.push(n); return '{}'; });
  return { norm, names };
}

function docPairs(d = doc) {
  const pairs = new Map();
  for (const { path, method, op } of operations(d)) {
    const { norm, names } = normalizeTemplate(path);
    pairs.set(`${method.toUpperCase()} ${norm}`, { path, names, op, item: d.paths[path] });
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------------
// A tiny structural checker: $ref, allOf, anyOf, oneOf, type, const, enum, required, properties,
// additionalProperties, items. Not a JSON Schema validator.

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const typeOk = (t, v) => ({
  null: v === null,
  boolean: typeof v === 'boolean',
  string: typeof v === 'string',
  number: typeof v === 'number' && Number.isFinite(v),
  integer: Number.isInteger(v),
  array: Array.isArray(v),
  object: isObj(v),
}[t]);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function check(schema, value, at = '$', errs = []) {
  if (schema === undefined || schema === true) return errs;
  if (schema === false) { errs.push(`${at}: nothing is allowed here`); return errs; }
  if (schema.$ref) {
    const target = resolveRef(doc, schema.$ref);
    if (target === undefined) errs.push(`${at}: unresolved ${schema.$ref}`);
    else check(target, value, at, errs);
  }
  for (const s of schema.allOf || []) check(s, value, at, errs);
  if (schema.anyOf) {
    const tries = schema.anyOf.map((s) => check(s, value, at));
    if (!tries.some((e) => e.length === 0)) {
      const best = tries.reduce((a, b) => (b.length < a.length ? b : a));
      errs.push(`${at}: matches none of anyOf (closest: ${best.join('; ')})`);
    }
  }
  if (schema.oneOf) {
    const tries = schema.oneOf.map((s) => check(s, value, at));
    const n = tries.filter((e) => e.length === 0).length;
    if (n !== 1) {
      const best = tries.reduce((a, b) => (b.length < a.length ? b : a));
      errs.push(`${at}: matches ${n} of oneOf, not 1${n === 0 ? ` (closest: ${best.join('; ')})` : ''}`);
    }
  }
  if (schema.type !== undefined) {
    const types = [].concat(schema.type);
    if (!types.some((t) => typeOk(t, value))) {
      errs.push(`${at}: expected ${types.join('|')}, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value} ${JSON.stringify(value)?.slice(0, 80)}`);
      return errs;
    }
  }
  if ('const' in schema && !same(schema.const, value)) errs.push(`${at}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (schema.enum && !schema.enum.some((e) => same(e, value))) errs.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (isObj(value)) {
    for (const k of schema.required || []) if (!(k in value)) errs.push(`${at}: missing required property "${k}"`);
    const props = schema.properties || {};
    for (const [k, v] of Object.entries(value)) {
      if (k in props) check(props[k], v, `${at}.${k}`, errs);
      else if (schema.additionalProperties === false && schema.properties) errs.push(`${at}: property "${k}" is not documented`);
      else if (isObj(schema.additionalProperties)) check(schema.additionalProperties, v, `${at}.${k}`, errs);
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => check(schema.items, v, `${at}[${i}]`, errs));
  return errs;
}

/** The properties and required names a schema gives an object, through `$ref` and `allOf`. */
function effective(schema, out = { properties: {}, required: new Set(), closed: false }) {
  const s = deref(doc, schema);
  for (const part of s.allOf || []) effective(part, out);
  Object.assign(out.properties, s.properties || {});
  for (const r of s.required || []) out.required.add(r);
  if (s.additionalProperties === false) out.closed = true;
  return out;
}

/** The Error schema, directly or as a part of `allOf`. */
function usesErrorSchema(response) {
  const r = deref(doc, response);
  const schema = r?.content?.['application/json']?.schema;
  if (!schema) return false;
  const isError = (s) => s?.$ref === '#/components/schemas/Error';
  return isError(schema) || (schema.allOf || []).some(isError);
}

// ---------------------------------------------------------------------------------------------
// Rust sources: a small tokenizer and the `route` match of edge/src/lib.rs

function tokenize(src) {
  const toks = [];
  const puncts = ['..=', '=>', '..', '::', '==', '!=', '<=', '>=', '&&', '||', '->'];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith('//', i)) { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (src.startsWith('/*', i)) { const e = src.indexOf('*/', i + 2); i = e < 0 ? src.length : e + 2; continue; }
    if (c === '"') {
      let j = i + 1; let v = '';
      while (j < src.length && src[j] !== '"') { if (src[j] === '\\') { v += src[j + 1]; j += 2; } else v += src[j++]; }
      toks.push({ t: 'str', v }); i = j + 1; continue;
    }
    if (c === '\'') {
      const m = /^'(\\.|[^\\'])'/.exec(src.slice(i, i + 5));
      if (m) { toks.push({ t: 'char', v: m[1] }); i += m[0].length; continue; }
      const l = /^'[A-Za-z_]\w*/.exec(src.slice(i)); // a lifetime
      toks.push({ t: 'id', v: l[0] }); i += l[0].length; continue;
    }
    const id = /^[A-Za-z_]\w*/.exec(src.slice(i, i + 200));
    if (id) { toks.push({ t: 'id', v: id[0] }); i += id[0].length; continue; }
    const num = /^\d[\w.]*/.exec(src.slice(i, i + 100));
    if (num) { toks.push({ t: 'num', v: num[0] }); i += num[0].length; continue; }
    const p = puncts.find((q) => src.startsWith(q, i)) || c;
    toks.push({ t: 'p', v: p }); i += p.length;
  }
  return toks;
}

const OPEN = { '(': ')', '[': ']', '{': '}' };
const isP = (tok, v) => tok && tok.t === 'p' && tok.v === v;
const isId = (tok, v) => tok && tok.t === 'id' && (v === undefined || tok.v === v);

/** Index of the token closing the bracket at `i`. */
function closeOf(toks, i) {
  let depth = 0;
  for (let j = i; j < toks.length; j++) {
    if (toks[j].t !== 'p') continue;
    if (OPEN[toks[j].v]) depth++;
    else if (Object.values(OPEN).includes(toks[j].v) && --depth === 0) return j;
  }
  throw new Error(`unbalanced bracket at token ${i}`);
}

/** Splits a token list at depth-0 separators (`,` or `|`). */
function splitTop(toks, sep) {
  const parts = [[]];
  let depth = 0;
  for (const tok of toks) {
    if (tok.t === 'p' && OPEN[tok.v]) depth++;
    if (tok.t === 'p' && Object.values(OPEN).includes(tok.v)) depth--;
    if (depth === 0 && isP(tok, sep)) parts.push([]);
    else parts[parts.length - 1].push(tok);
  }
  return parts.filter((p, i) => p.length > 0 || i < parts.length - 1);
}

const text = (toks) => toks.map((t) => (t.t === 'str' ? JSON.stringify(t.v) : t.v)).join(' ');

/** One slice-pattern element → its alternatives: `{lit}`, `{param: name|null}` or `{rest: true}`. */
function elementAlternatives(toks) {
  let t = toks;
  let name = null;
  if (t.length >= 3 && isId(t[0]) && isP(t[1], '@')) { name = t[0].v; t = t.slice(2); }
  if (t.length === 1 && isP(t[0], '..')) return [{ rest: true }];
  if (isP(t[0], '(') && closeOf(t, 0) === t.length - 1) t = t.slice(1, -1);
  return splitTop(t, '|').map((alt) => {
    if (alt.length === 1 && alt[0].t === 'str') return { lit: alt[0].v };
    if (alt.length === 1 && isId(alt[0], '_')) return { param: name };
    if (alt.length === 1 && isId(alt[0])) return { param: alt[0].v };
    throw new Error(`slice element the parser does not know: ${text(toks)}`);
  });
}

/** A slice pattern `[a, b, ..]` → every segment list it matches (a rest element stays a marker). */
function expandSlice(toks) {
  if (!isP(toks[0], '[') || closeOf(toks, 0) !== toks.length - 1) throw new Error(`not a slice pattern: ${text(toks)}`);
  let out = [[]];
  for (const el of splitTop(toks.slice(1, -1), ',')) {
    const alts = elementAlternatives(el);
    out = out.flatMap((segs) => alts.map((a) => [...segs, a]));
  }
  return out;
}

const segText = (segs) => `/${segs.map((s) => (s.lit !== undefined ? s.lit : '{}')).join('/')}`;

/**
 * Parses the `route` function of lib.rs. Returns
 * - `routes`: `{ method, segs, guard }` (method upper case; `..` arms expanded against the others),
 * - `notAllowed`: path keys (`/v1/shops/{}/…`) answered 405 for other methods.
 */
function parseRouter(src) {
  const start = src.search(/\bfn\s+route\s*\(/);
  if (start < 0) throw new Error('no `fn route(` in lib.rs');
  const toks = tokenize(src.slice(start));
  const m = toks.findIndex((t) => isId(t, 'match'));
  const routes = [];
  const prefixRoutes = [];
  const notAllowed = new Set();

  const parseMatch = (i0, prefix, outerGuard) => {
    let i = i0;
    while (!isP(toks[i], '{')) i++;
    i++;
    while (!isP(toks[i], '}')) {
      const p0 = i;
      let depth = 0;
      while (!(depth === 0 && (isP(toks[i], '=>') || isId(toks[i], 'if')))) {
        if (toks[i].t === 'p' && OPEN[toks[i].v]) depth++;
        if (toks[i].t === 'p' && Object.values(OPEN).includes(toks[i].v)) depth--;
        i++;
      }
      const pat = toks.slice(p0, i);
      let guard = outerGuard;
      if (isId(toks[i], 'if')) {
        const g0 = ++i;
        while (!isP(toks[i], '=>')) i = toks[i].t === 'p' && OPEN[toks[i].v] ? closeOf(toks, i) + 1 : i + 1;
        guard = [outerGuard, text(toks.slice(g0, i))].filter(Boolean).join(' && ');
      }
      i++; // =>
      const b0 = i;
      if (isP(toks[i], '{')) {
        i = closeOf(toks, i) + 1;
      } else {
        let angle = 0;
        while (!(angle === 0 && (isP(toks[i], ',') || isP(toks[i], '}')))) {
          if (isP(toks[i], '::') && isP(toks[i + 1], '<')) { angle++; i += 2; continue; }
          if (angle > 0 && isP(toks[i], '>')) angle--;
          i = toks[i].t === 'p' && OPEN[toks[i].v] ? closeOf(toks, i) + 1 : i + 1;
        }
      }
      const body = toks.slice(b0, i);
      if (isP(toks[i], ',')) i++;

      if (pat.length === 1 && isId(pat[0], '_')) continue; // the fallback: 404
      if (!isP(pat[0], '(') || closeOf(pat, 0) !== pat.length - 1) throw new Error(`arm pattern the parser does not know: ${text(pat)}`);
      const [methodToks, sliceToks, ...extra] = splitTop(pat.slice(1, -1), ',');
      if (extra.length) throw new Error(`arm pattern with more than (method, path): ${text(pat)}`);
      const methods = splitTop(methodToks, '|').map((mt) => mt[mt.length - 1].v);
      const slices = splitTop(sliceToks, '|').flatMap(expandSlice).map((segs) => [...prefix, ...segs]);
      const nested = body.findIndex((t) => isId(t, 'match'));
      const hasRest = slices.some((segs) => segs.some((s) => s.rest));
      if (nested >= 0 && hasRest) {
        for (const segs of slices) parseMatch(b0 + nested, segs.filter((s) => !s.rest), guard);
        continue;
      }
      if (body.some((t) => isId(t, 'MethodNotAllowed'))) {
        for (const segs of slices) notAllowed.add(segText(segs));
        continue;
      }
      for (const method of methods) {
        if (method === '_') throw new Error(`a route for any method is not something the doc can list: ${text(pat)}`);
        for (const segs of slices) {
          const r = { method: method.toUpperCase(), segs: segs.filter((s) => !s.rest), guard };
          (segs.some((s) => s.rest) ? prefixRoutes : routes).push(r);
        }
      }
    }
  };
  parseMatch(m, [], null);

  // `(Options, ["skus", _, ..])`: that method on every route path under the prefix.
  const under = (segs, prefix) => prefix.length <= segs.length
    && prefix.every((p, k) => (p.lit !== undefined ? segs[k].lit === p.lit : segs[k].lit === undefined));
  const exact = [...routes];
  for (const pr of prefixRoutes) {
    const seen = new Set();
    for (const r of exact) {
      if (!under(r.segs, pr.segs) || seen.has(segText(r.segs))) continue;
      seen.add(segText(r.segs));
      routes.push({ method: pr.method, segs: r.segs, guard: pr.guard });
    }
  }
  return { routes, notAllowed };
}

/** The two sides as sets of `METHOD /path/{}` keys, and the differences. */
function compare(router, d = doc) {
  const fromRouter = new Set(router.routes.map((r) => `${r.method} ${segText(r.segs)}`));
  const fromDoc = new Set(docPairs(d).keys());
  return {
    fromRouter,
    fromDoc,
    missingInDoc: [...fromRouter].filter((k) => !fromDoc.has(k)).sort(),
    missingInRouter: [...fromDoc].filter((k) => !fromRouter.has(k)).sort(),
  };
}

// ---------------------------------------------------------------------------------------------
// Rust structs and enums, for the schemas

/** `pub struct Name { … }` → `{ fields: [{name, type, optional, skipSerializing}], denyUnknown }`. */
function rustStruct(src, name) {
  const re = new RegExp(`(?:^|\\n)((?:[ \\t]*(?:#\\[[^\\n]*\\]|///[^\\n]*)\\n)*)[ \\t]*(?:pub(?:\\([^)]*\\))?\\s+)?struct\\s+${name}\\s*(?:<[^>]*>)?\\s*\\{`);
  const m = re.exec(src);
  if (!m) return null;
  const open = m.index + m[0].length - 1;
  let depth = 0; let end = open;
  for (let j = open; j < src.length; j++) {
    if (src[j] === '{') depth++;
    if (src[j] === '}' && --depth === 0) { end = j; break; }
  }
  const fields = [];
  let attrs = [];
  for (const raw of src.slice(open + 1, end).split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('//')) continue;
    if (line.startsWith('#[')) { attrs.push(line); continue; }
    const f = /^(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:\s*(.+?),?$/.exec(line);
    if (!f) continue;
    const serde = attrs.filter((a) => a.startsWith('#[serde(')).join(' ');
    const rename = /rename\s*=\s*"([^"]+)"/.exec(serde);
    fields.push({
      name: rename ? rename[1] : f[1],
      type: f[2],
      optional: /\bdefault\b/.test(serde) || /^Option</.test(f[2]),
      skipSerializing: /skip_serializing_if/.test(serde),
    });
    attrs = [];
  }
  return { fields, denyUnknown: /deny_unknown_fields/.test(m[1]) };
}

/** `Type::Variant => "text"` pairs in a source (the `as_str` of an enum). */
const asStrValues = (src, type) => [...src.matchAll(new RegExp(`${type}::\\w+\\s*=>\\s*"([^"]+)"`, 'g'))].map((x) => x[1]);

// ---------------------------------------------------------------------------------------------
// Static checks

describe('docs/openapi.json: the document', () => {
  it('is JSON and OpenAPI 3.1', () => {
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.ok(doc.info?.title && doc.info?.version, 'info.title and info.version');
    assert.ok(isObj(doc.paths) && Object.keys(doc.paths).length > 0, 'paths');
  });

  it('every $ref resolves', () => {
    const bad = [];
    const walk = (node, at) => {
      if (Array.isArray(node)) { node.forEach((n, i) => walk(n, `${at}/${i}`)); return; }
      if (!isObj(node)) return;
      if (typeof node.$ref === 'string' && resolveRef(doc, node.$ref) === undefined) bad.push(`${at}: ${node.$ref}`);
      for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`);
    };
    walk(doc, '#');
    assert.deepEqual(bad, []);
  });

  it('every operation has a unique operationId, responses and a 4xx answer with the Error schema', () => {
    const errorCodesText = doc.components.schemas.Error.properties.error.properties.code.description;
    const ids = new Map();
    for (const { path, method, item, op } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      assert.ok(typeof op.operationId === 'string' && op.operationId, `${where}: operationId`);
      assert.ok(!ids.has(op.operationId), `${where}: operationId ${op.operationId} also used by ${ids.get(op.operationId)}`);
      ids.set(op.operationId, where);
      assert.ok(isObj(op.responses) && Object.keys(op.responses).length > 0, `${where}: responses`);
      const clientErrors = Object.entries(op.responses).filter(([s, r]) => /^4\d\d$/.test(s) && usesErrorSchema(r));
      if (op['x-no-client-errors']) {
        // Only an operation a client cannot get wrong may have no 4xx: no parameters, no body.
        assert.equal(paramsOf(item, op).length, 0, `${where}: x-no-client-errors but it takes parameters`);
        assert.equal(op.requestBody, undefined, `${where}: x-no-client-errors but it takes a body`);
        assert.equal(clientErrors.length, 0, `${where}: x-no-client-errors but documents 4xx answers`);
      } else {
        assert.ok(clientErrors.length > 0, `${where}: no 4xx response using #/components/schemas/Error`);
      }
      for (const [status, r] of Object.entries(op.responses)) {
        assert.match(status, /^[1-5]\d\d$/, `${where}: response key ${status}`);
        // Every code an error response lists is explained once, in the Error schema.
        const codes = deref(doc, r).content?.['application/json']?.schema?.allOf?.[1]?.properties?.error?.properties?.code?.enum || [];
        for (const c of codes) assert.ok(errorCodesText.includes(`\`${c}\` (${status})`), `${where} ${status}: code ${c} is not explained (with this status) in the Error schema`);
        assert.ok(deref(doc, r).description, `${where} ${status}: description`);
        if (Number(status) >= 400 && Number(status) !== 503) assert.ok(usesErrorSchema(r), `${where} ${status}: errors use the Error schema`);
      }
    }
  });

  it('every path parameter is declared, and only those', () => {
    for (const { path, method, item, op } of operations()) {
      const { names } = normalizeTemplate(path);
      const declared = paramsOf(item, op).filter((p) => p.in === 'path').map((p) => p.name);
      assert.deepEqual([...declared].sort(), [...names].sort(), `${method.toUpperCase()} ${path}`);
      for (const p of paramsOf(item, op).filter((q) => q.in === 'path')) assert.equal(p.required, true, `${path}: {${p.name}} is required`);
    }
  });

  it('every example fits its schema', () => {
    for (const { path, method, item, op } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      for (const p of paramsOf(item, op)) {
        if (p.example !== undefined) assert.deepEqual(check(p.schema, p.example), [], `${where}: example of ${p.in} ${p.name}`);
      }
      for (const [type, media] of Object.entries(op.requestBody?.content || {})) {
        const values = [
          ...(media.example !== undefined ? [['example', media.example]] : []),
          ...Object.entries(media.examples || {}).map(([k, e]) => [k, deref(doc, e).value]),
        ];
        for (const [name, value] of values) assert.deepEqual(check(media.schema, value), [], `${where}: ${type} ${name}`);
      }
    }
  });
});

describe('docs/openapi.json and the router (edge/src/lib.rs)', () => {
  const libSrc = read('edge', 'src', 'lib.rs');
  const router = parseRouter(libSrc);

  it('the (method, path) pairs are exactly the routes', () => {
    const { missingInDoc, missingInRouter, fromRouter } = compare(router);
    assert.ok(fromRouter.size >= 20, `the parser found only ${fromRouter.size} routes: ${[...fromRouter].join(', ')}`);
    assert.deepEqual({ missingInDoc, missingInRouter }, { missingInDoc: [], missingInRouter: [] },
      'routes in lib.rs without an operation in docs/openapi.json, or operations with no route');
  });

  it('path parameter names are the router\'s binding names', () => {
    const pairs = docPairs();
    for (const r of router.routes) {
      const key = `${r.method} ${segText(r.segs)}`;
      const d = pairs.get(key);
      if (!d) continue;
      const names = r.segs.filter((s) => s.lit === undefined).map((s) => s.param);
      names.forEach((n, k) => { if (n) assert.equal(d.names[k], n, `${key}: parameter ${k + 1} is {${n}} in lib.rs`); });
    }
  });

  it('routes behind a guard (dev mode, the outbox mailbox) are exactly the x-dev-only operations', () => {
    const pairs = docPairs();
    for (const r of router.routes) {
      const key = `${r.method} ${segText(r.segs)}`;
      const d = pairs.get(key);
      if (d) assert.equal(Boolean(d.op['x-dev-only']), Boolean(r.guard), `${key} (guard: ${r.guard || 'none'})`);
    }
  });

  it('x-unlisted-method-status of each path is what the router answers: 405 where it lists the path, else 404', () => {
    assert.ok(router.notAllowed.size > 0, 'the parser found the 405 arm');
    for (const [path, item] of Object.entries(doc.paths)) {
      const { norm } = normalizeTemplate(path);
      const expected = router.notAllowed.has(norm) ? 405 : 404;
      assert.equal(item['x-unlisted-method-status'], expected, `${path}`);
    }
    // Every path the 405 arm names is a documented path.
    const docPathsNorm = new Set(Object.keys(doc.paths).map((p) => normalizeTemplate(p).norm));
    for (const p of router.notAllowed) assert.ok(docPathsNorm.has(p), `405 arm names ${p}, which is not documented`);
  });

  it('a route added to lib.rs, or an operation dropped from the doc, is noticed (the check above is not vacuous)', () => {
    const nested = /match\s*\(\s*method\s*,\s*rest\s*\)\s*\{/;
    const top = /match\s*\(\s*method\.clone\(\)\s*,\s*segments\.as_slice\(\)\s*\)\s*\{/;
    assert.match(libSrc, nested, 'the nested shop match (the self-test anchors on it)');
    assert.match(libSrc, top, 'the top-level match (the self-test anchors on it)');
    // Differences beyond those the real sources already have (the test above reports those).
    const base = compare(router);
    const newlyMissingInDoc = (src, d = doc) => compare(parseRouter(src), d).missingInDoc.filter((k) => !base.missingInDoc.includes(k));
    const withShopRoute = libSrc.replace(nested, (m) => `${m}\n (Delete, ["skus", sku]) => with_sku(sku, api::delete_sku(req, env, &cfg, shop, sku)).await,`);
    assert.deepEqual(newlyMissingInDoc(withShopRoute), ['DELETE /v1/shops/{}/skus/{}']);
    const withTopRoute = libSrc.replace(top, (m) => `${m}\n (Get, ["v1", "stats", day]) if cfg.dev_mode => stats::day(env, day).await,`);
    assert.deepEqual(newlyMissingInDoc(withTopRoute), ['GET /v1/stats/{}']);
    const withAlternation = libSrc.replace(nested, (m) => `${m}\n (Get, ["reports", "daily" | "weekly"]) => { reports(req).await }`);
    assert.deepEqual(newlyMissingInDoc(withAlternation), ['GET /v1/shops/{}/reports/daily', 'GET /v1/shops/{}/reports/weekly']);

    const fewer = structuredClone(doc);
    delete fewer.paths['/v1/shops/{shop}/events'];
    assert.deepEqual(compare(router, fewer).missingInDoc.filter((k) => !base.missingInDoc.includes(k)), ['GET /v1/shops/{}/events']);
    const more = structuredClone(doc);
    more.paths['/v1/shops/{shop}/skus/{sku}'].delete = { operationId: 'deleteSku', responses: {} };
    assert.deepEqual(compare(router, more).missingInRouter.filter((k) => !base.missingInRouter.includes(k)), ['DELETE /v1/shops/{}/skus/{}']);
  });
});

describe('docs/openapi.json and the Rust types', () => {
  const wire = read('shared', 'src', 'wire.rs');
  const enumOf = (name) => deref(doc, { $ref: `#/components/schemas/${name}` }).enum;

  it('enums: Mode, EntryStatus, EntryKind, MessageKind (order_shipped included), outgoing event types', () => {
    const modeBody = /pub enum Mode\s*\{([\s\S]*?)\n\}/.exec(wire)[1];
    const modes = [...modeBody.matchAll(/^\s*(\w+),/gm)].map((x) => x[1].toLowerCase());
    assert.deepEqual(enumOf('Mode'), modes);
    assert.deepEqual(enumOf('EntryStatus'), [...new Set(asStrValues(wire, 'EntryStatus'))]);
    assert.deepEqual(enumOf('EntryKind'), [...new Set(asStrValues(wire, 'EntryKind'))]);
    assert.deepEqual(enumOf('MessageKind'), [...new Set(asStrValues(wire, 'MessageKind'))]);
    assert.ok(enumOf('MessageKind').includes('order_shipped'));
    const events = /pub const EVENT_TYPES[^=]*=\s*\[([\s\S]*?)\];/.exec(wire)[1];
    assert.deepEqual(enumOf('EventType'), [...events.matchAll(/"([^"]+)"/g)].map((x) => x[1]));
  });

  it('schemas follow the serde structs: field names, required vs default, unknown fields refused', () => {
    const sources = {
      wire,
      template: read('shared', 'src', 'template.rs'),
      feed: read('edge', 'src', 'routes', 'feed.rs'),
      privacy: read('edge', 'src', 'routes', 'privacy.rs'),
      audit: read('edge', 'src', 'routes', 'audit.rs'),
      store: read('waitlist', 'src', 'store.rs'),
    };
    // [source, Rust struct, schema, role]: a request is read (required = neither Option nor
    // default), a response is written (every field not skipped is always present).
    const table = [
      ['wire', 'ShopConfig', 'ShopConfig', 'request'],
      ['wire', 'ShopConfig', 'ShopSettings', 'response'],
      ['wire', 'SecretHint', 'SecretHint', 'response'],
      ['wire', 'EventEndpoint', 'EventEndpointShown', 'response'],
      ['wire', 'KlaviyoSettings', 'KlaviyoSettingsShown', 'response'],
      ['wire', 'TurnstileSettings', 'TurnstileSettingsShown', 'response'],
      ['wire', 'KeyRequest', 'KeyRequest', 'request'],
      ['wire', 'KeyView', 'KeyView', 'response'],
      ['wire', 'KeyList', 'KeyList', 'response'],
      ['wire', 'EventEndpoint', 'EventEndpoint', 'request'],
      ['wire', 'KlaviyoSettings', 'KlaviyoSettings', 'request'],
      ['wire', 'ScheduleSettings', 'ScheduleSettings', 'request'],
      ['wire', 'TurnstileSettings', 'TurnstileSettings', 'request'],
      ['wire', 'SkuConfig', 'SkuConfig', 'request'],
      ['wire', 'SkuConfig', 'SkuConfigSaved', 'response'],
      ['wire', 'BackorderRequest', 'BackorderRequest', 'request'],
      ['wire', 'ConversionRequest', 'ConversionRequest', 'request'],
      ['wire', 'SignupRequest', 'SignupRequest', 'request'],
      ['wire', 'InventoryLevel', 'InventoryLevel', 'request'],
      ['wire', 'SkuState', 'SkuState', 'response'],
      ['wire', 'SignupResponse', 'SignupResponse', 'response'],
      ['wire', 'InventoryResult', 'InventoryResult', 'response'],
      ['wire', 'QueueView', 'QueueView', 'response'],
      ['wire', 'AlarmFailure', 'AlarmFailure', 'response'],
      ['wire', 'LocationLevel', 'LocationLevel', 'response'],
      ['wire', 'QueueEntryView', 'QueueEntry', 'response'],
      ['wire', 'MessageView', 'MessageView', 'response'],
      ['wire', 'ConversionResult', 'ConversionResult', 'response'],
      ['wire', 'ErrorBody', 'Error', 'response'],
      ['template', 'Template', 'Template', 'request'],
      ['feed', 'LevelEvent', 'FeedLevelEvent', 'request'],
      ['feed', 'EtaEvent', 'FeedEtaEvent', 'request'],
      ['feed', 'BackorderEvent', 'FeedBackorderEvent', 'request'],
      ['feed', 'ConversionEvent', 'FeedConversionEvent', 'request'],
      ['feed', 'Batch', 'FeedBatch', 'request'],
      ['privacy', 'PrivacyRequest', 'PrivacyRequest', 'request'],
      ['audit', 'DryRunRequest', 'DryRunRequest', 'request'],
      ['store', 'AuditRow', 'AuditRow', 'response'],
    ];
    for (const [src, struct, schemaName, role] of table) {
      const rs = rustStruct(sources[src], struct);
      assert.ok(rs, `struct ${struct} not found (${src})`);
      const eff = effective({ $ref: `#/components/schemas/${schemaName}` });
      const where = `${schemaName} (${struct}, ${role})`;
      const rustNames = rs.fields.map((f) => f.name).sort();
      const docNames = Object.keys(eff.properties).sort();
      if (role === 'request') {
        assert.deepEqual(docNames, rustNames, `${where}: properties`);
        assert.deepEqual([...eff.required].sort(), rs.fields.filter((f) => !f.optional).map((f) => f.name).sort(), `${where}: required`);
        assert.equal(eff.closed, rs.denyUnknown, `${where}: additionalProperties false ⇔ deny_unknown_fields`);
      } else {
        for (const n of rustNames) assert.ok(docNames.includes(n), `${where}: property ${n} missing`);
        const always = rs.fields.filter((f) => !f.skipSerializing).map((f) => f.name);
        for (const n of always) assert.ok(eff.required.has(n), `${where}: ${n} is always written, so required`);
      }
    }
  });

  it('the Shopify webhook description lists every handled topic', () => {
    const file = join(ROOT, 'shared', 'src', 'shopify.rs');
    const op = doc.paths['/v1/shops/{shop}/webhooks/shopify'].post;
    const topics = existsSync(file) ? asStrValues(readFileSync(file, 'utf8'), 'Topic') : [];
    assert.ok(topics.length > 0, 'topics found in shared/src/shopify.rs');
    for (const t of topics) assert.ok(op.description.includes(`\`${t}\``), `topic ${t} is not in the description`);
    const listed = [...op.description.matchAll(/^- `([a-z_]+\/[a-z_]+)`/gm)].map((x) => x[1]);
    assert.deepEqual(listed.sort(), [...topics].sort(), 'the listed topics are the handled ones');
  });
});

// ---------------------------------------------------------------------------------------------
// Against the running edge

const byId = new Map([...operations()].map((o) => [o.op.operationId, o]));
const putShopExample = byId.get('putShop')?.op.requestBody?.content?.['application/json']?.example || {};
const SECRETS = {
  shopify: putShopExample.shopify_webhook_secrets?.[0],
  feed: putShopExample.inventory_webhook_secrets?.[0],
};

/** Values from response `links`: operationId → parameter → value. */
const linked = new Map();

/**
 * The requests an operation's examples make (one per named body example), or `null` when some
 * required input has no example. Each: `{ name, url, method, headers, body, paramValues, unsigned }`.
 */
function exampleRequests(base, { path, method, item, op }) {
  const params = paramsOf(item, op);
  const fromLinks = linked.get(op.operationId) || {};
  const sec = (op.security ?? doc.security ?? [])[0] || {};
  const schemes = Object.keys(sec);
  const signedHeaders = schemes.includes('standardWebhooks') ? ['webhook-id', 'webhook-timestamp'] : [];
  const values = {};
  const query = new URLSearchParams();
  const headers = {};
  for (const p of params) {
    const v = p.in === 'path' && p.name in fromLinks ? fromLinks[p.name] : p.example;
    if (v === undefined) {
      if (p.required && !(p.in === 'header' && signedHeaders.includes(p.name.toLowerCase()))) return null;
      continue;
    }
    if (p.in === 'path') values[p.name] = String(v);
    if (p.in === 'query') query.set(p.name, String(v));
    if (p.in === 'header') headers[p.name.toLowerCase()] = String(v);
  }
  const url = base + path.replace(/\{([^}]+)\}/g, (_, n) => encodeURIComponent(values[n])) + (query.size ? `?${query}` : '');
  let bodies = [{ name: 'no body', body: undefined, type: undefined }];
  if (op.requestBody) {
    const [type, media] = Object.entries(op.requestBody.content)[0];
    const examples = [
      ...(media.example !== undefined ? [{ name: 'example', value: media.example }] : []),
      ...Object.entries(media.examples || {}).map(([k, e]) => ({ name: k, value: deref(doc, e).value })),
    ];
    if (examples.length === 0 && op.requestBody.required) return null;
    if (examples.length) {
      const encode = (v) => {
        if (typeof v === 'string') return v;
        if (type === 'application/x-www-form-urlencoded') return new URLSearchParams(v).toString();
        return JSON.stringify(v);
      };
      bodies = examples.map((e) => ({ name: e.name, type, body: encode(e.value) }));
    }
  }
  return bodies.map(({ name, body, type }) => {
    const h = { ...headers };
    if (type) h['content-type'] = type;
    let unsigned = false;
    if (schemes.includes('adminToken')) h.authorization = `Bearer ${DEFAULT_ADMIN_TOKEN}`;
    else if (schemes.includes('shopifyHmac')) {
      Object.assign(h, shopifyHeaders(body ?? '', SECRETS.shopify, { id: h['x-shopify-webhook-id'], topic: h['x-shopify-topic'] }));
    } else if (schemes.includes('standardWebhooks')) {
      Object.assign(h, standardHeaders(body ?? '', SECRETS.feed));
    } else if (schemes.length) {
      unsigned = true; // e.g. the provider's Svix signature: no secret configured here
    }
    return { name, url, method: method.toUpperCase(), headers: h, body, paramValues: values, unsigned };
  });
}

async function send({ url, method, headers, body }) {
  const r = await fetch(url, { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}

/** The answer against the documented response for its status; returns that response. */
function assertDocumented(where, op, res) {
  const documented = op.responses[String(res.status)];
  assert.ok(documented, `${where}: status ${res.status} is not documented (documented: ${Object.keys(op.responses).join(', ')}); body: ${res.text.slice(0, 400)}`);
  const r = deref(doc, documented);
  const content = r.content || {};
  const types = Object.keys(content);
  const ct = res.headers.get('content-type') || '';
  if (types.length === 0) {
    assert.equal(res.text, '', `${where}: ${res.status} is documented without a body`);
    return r;
  }
  assert.ok(types.some((t) => ct.startsWith(t)), `${where}: content-type ${ct} is not one of ${types.join(', ')}`);
  if (ct.startsWith('application/json')) {
    assert.notEqual(res.json, undefined, `${where}: JSON body expected: ${res.text.slice(0, 200)}`);
    const errs = check(content['application/json'].schema, res.json);
    assert.deepEqual(errs, [], `${where}: body does not fit the documented ${res.status} schema: ${res.text.slice(0, 600)}`);
  }
  return r;
}

function resolveExpression(expr, req, res) {
  if (expr.startsWith('$request.path.')) return req.paramValues[expr.slice('$request.path.'.length)];
  if (expr.startsWith('$response.body#')) {
    let node = res.json;
    for (const k of expr.slice('$response.body#'.length).split('/').slice(1)) node = node?.[k.replace(/~1/g, '/').replace(/~0/g, '~')];
    return node;
  }
  throw new Error(`runtime expression the test does not know: ${expr}`);
}

describe('docs/openapi.json against the running edge', () => {
  let edge;
  const exercised = [];

  before(async () => {
    edge = await startEdge({ vars: { EMAIL_PROVIDER: 'outbox', DEV_MODE: 'true' } });
  });

  after(async () => {
    await edge?.stop();
  });

  for (const entry of operations()) {
    const { path, method, op } = entry;
    const where = `${op.operationId} (${method.toUpperCase()} ${path})`;
    it(`example: ${where}`, async (t) => {
      const reqs = exampleRequests(edge.url, entry);
      if (!reqs) {
        assert.equal(op['x-example-status'], undefined, `${where}: x-example-status but no complete example request`);
        t.skip('no example request');
        return;
      }
      for (const req of reqs) {
        const label = `${where} [${req.name}]`;
        if (req.headers.authorization) {
          const { authorization, ...noAuth } = req.headers;
          const res = await send({ ...req, headers: noAuth });
          assert.equal(res.status, 401, `${label} without the admin token: ${res.text}`);
          assertDocumented(`${label} without the admin token`, op, res);
          assert.equal(res.json.error.code, 'unauthorized');
        }
        const res = await send(req);
        const documented = assertDocumented(label, op, res);
        if (op['x-example-status'] !== undefined) {
          assert.equal(res.status, op['x-example-status'], `${label}: x-example-status; body: ${res.text.slice(0, 600)}`);
        }
        for (const link of Object.values(documented.links || {})) {
          const target = linked.get(link.operationId) || {};
          for (const [name, expr] of Object.entries(link.parameters || {})) target[name] = resolveExpression(expr, req, res);
          linked.set(link.operationId, target);
        }
        exercised.push(`${label} → ${res.status}${req.unsigned ? ' (unsigned)' : ''}`);
      }
    });
  }

  for (const [path, item] of Object.entries(doc.paths)) {
    it(`unlisted method: PATCH ${path} → ${item['x-unlisted-method-status']}`, async () => {
      assert.ok(!item.patch, 'PATCH is documented here; pick another method for this check');
      const ex = {};
      for (const p of (item.parameters || []).map((q) => deref(doc, q))) ex[p.name] = p.example;
      for (const { op } of operations()) for (const p of (op.parameters || []).map((q) => deref(doc, q))) if (p.in === 'path') ex[p.name] ??= p.example;
      const url = edge.url + path.replace(/\{([^}]+)\}/g, (_, n) => encodeURIComponent(ex[n] ?? 'x'));
      const res = await send({ url, method: 'PATCH', headers: { authorization: `Bearer ${DEFAULT_ADMIN_TOKEN}` } });
      const expected = item['x-unlisted-method-status'];
      assert.equal(res.status, expected, `${res.status} ${res.text}`);
      assert.equal(res.json?.error?.code, expected === 405 ? 'method_not_allowed' : 'not_found', res.text);
      assert.deepEqual(check({ $ref: '#/components/schemas/Error' }, res.json), []);
    });
  }

  it('summary of the examples sent', (t) => {
    for (const line of exercised) t.diagnostic(line);
    assert.ok(exercised.length > 0);
  });
});
