// The floor of bench/scale.mjs: the simplest thing the platform can do for a signup. A Worker that
// hands the request to a SQLite-backed Durable Object (one per SKU, as ours), which appends one row.
// No validation, no rules, no messages: the distance from this to our edge is the price of our
// features. Run by bench/scale.mjs with its own `wrangler dev` (bench/floor/wrangler.toml).
import { DurableObject } from 'cloudflare:workers';

export class Floor extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS signups (seq INTEGER PRIMARY KEY, email TEXT NOT NULL, at INTEGER NOT NULL)');
  }

  async fetch(request) {
    const url = new URL(request.url);
    const sql = this.ctx.storage.sql;
    if (url.pathname.endsWith('/seed')) {
      // The same depth as the edge's SKU: `count` rows in one statement.
      const { count } = await request.json();
      sql.exec(`WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ?)
                INSERT INTO signups (email, at) SELECT 'seed' || i || '@example.test', 0 FROM r`, count);
      return Response.json({ seeded: count });
    }
    const { email } = await request.json();
    const cursor = sql.exec('INSERT INTO signups (email, at) VALUES (?, ?)', email, Date.now());
    cursor.toArray();
    return Response.json({ ok: true }, {
      status: 201,
      headers: { 'x-restock-rows-read': String(cursor.rowsRead), 'x-restock-rows-written': String(cursor.rowsWritten) },
    });
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return new Response('ok');
    // /sku/{name}/signup or /sku/{name}/seed
    const name = url.pathname.split('/')[2] ?? 'default';
    return env.FLOOR.get(env.FLOOR.idFromName(name)).fetch(request);
  },
};
