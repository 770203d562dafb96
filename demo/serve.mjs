// The demo storefront: serves demo/index.html at / with {{EDGE}} replaced by the edge's base URL, so the
// page installs the widget exactly as a merchant would. Node built-ins only.
//
//   node demo/serve.mjs --port 8080 --edge http://127.0.0.1:8787
//
// Tests import it: `const shop = await startStorefront({ port: 0, edge }); … await shop.close();`
//
// Routes: `/` (also `/products/…`) the product page; `/de/…` (fr, es, nl, ja) the same page with
// `<html lang>` set, like a storefront's language prefix; `/csp/…` the page under a strict
// Content-Security-Policy without 'wasm-unsafe-eval' (the widget falls back to its plain form).
// Tests add pages of their own with `shop.page(path, html)` (served as is, `{{EDGE}}` replaced): a
// page answered by the browser's route interception would not count as this origin's (Chromium then
// refuses its requests to the loopback edge).

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const HERE = dirname(fileURLToPath(import.meta.url));
const LANGS = ['de', 'fr', 'es', 'nl', 'ja'];

/** Starts the storefront on 127.0.0.1:`port` (0 picks a free port). Resolves to `{ url, page(path, html), close() }`. */
export async function startStorefront({ port = 0, edge = 'http://127.0.0.1:8787', host = '127.0.0.1' } = {}) {
  const base = String(edge).replace(/\/+$/, '');
  const extra = new Map();
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (req.method === 'GET' && extra.has(path)) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(extra.get(path).replaceAll('{{EDGE}}', base));
      return;
    }
    const [, first = '', ...rest] = path.split('/');
    const lang = LANGS.includes(first) ? first : null;
    const csp = first === 'csp';
    const page = lang || csp ? `/${rest.join('/')}` : path;
    if ((req.method === 'GET' || req.method === 'HEAD') && (page === '/' || page === '/index.html' || page.startsWith('/products/'))) {
      try {
        let html = (await readFile(join(HERE, 'index.html'), 'utf8')).replaceAll('{{EDGE}}', base);
        if (lang) html = html.replace('<html lang="en">', `<html lang="${lang}">`);
        const headers = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
        // Scripts from here and the edge, but no 'wasm-unsafe-eval': WebAssembly cannot compile.
        if (csp) headers['content-security-policy'] = `default-src 'self'; script-src 'self' 'unsafe-inline' ${base}; connect-src 'self' ${base}; style-src 'self' 'unsafe-inline'`;
        res.writeHead(200, headers);
        res.end(req.method === 'HEAD' ? undefined : html);
      } catch (e) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(e));
      }
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: actual } = server.address();
  return {
    url: `http://${host}:${actual}`,
    page: (path, html) => { extra.set(path, html); },
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const shop = await startStorefront({
    port: Number(arg('port', process.env.PORT || 8080)),
    edge: arg('edge', process.env.EDGE_URL || 'http://127.0.0.1:8787'),
    host: arg('host', '127.0.0.1'),
  });
  console.log(`demo storefront on ${shop.url} (widget from ${arg('edge', process.env.EDGE_URL || 'http://127.0.0.1:8787')})`);
  const stop = () => shop.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
