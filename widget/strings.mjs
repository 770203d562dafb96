// Build step of scripts/build-widget: the six languages' sentences, from widget/src/locale.rs (their only
// source), as the loader's table. Node built-ins only.
//
//   node widget/strings.mjs <locale.rs> <out.json>
//
// Writes {"fields": [names in declaration order], "text": {"en": [sentences in that order], …}}. The
// loader renders its plain form from it and hands the page's language to the wasm at mount, whose
// `Text::from_list` takes the same order (both follow the `sentences!` list in locale.rs).
// Strict on purpose: a table that is not plain `field: "literal",` lines fails the build.

import { readFileSync, writeFileSync } from 'node:fs';

const [src, out] = process.argv.slice(2);
const rust = readFileSync(src, 'utf8');
const fail = (why) => { console.error(`widget/strings.mjs: ${why}`); process.exit(1); };

const list = /\nsentences! \{\n([\s\S]*?)\n\}\n/.exec(rust) ?? fail('no `sentences! { … }` list');
const fields = list[1].split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('///')).map((l) => {
  const m = /^([a-z_][a-z0-9_]*),$/.exec(l);
  return m ? m[1] : fail(`unexpected line in the sentences! list: ${l}`);
});

// A Rust string literal's body: only the escapes the tables use.
function unescape(body) {
  return body.replace(/\\(u\{([0-9a-fA-F]{1,6})\}|.)/g, (_, e, hex) => {
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    if (e === 'n') return '\n';
    if (e === '"' || e === '\\' || e === "'") return e;
    return fail(`unsupported escape \\${e}`);
  });
}

const text = {};
for (const [, lang, body] of rust.matchAll(/\npub static ([A-Z]{2}): Text = Text \{\n([\s\S]*?)\n\};/g)) {
  const got = {};
  for (const line of body.split('\n')) {
    const m = /^ {4}([a-z_][a-z0-9_]*): "((?:[^"\\]|\\.)*)",$/.exec(line) ?? fail(`${lang}: unexpected line: ${line}`);
    if (m[1] in got) fail(`${lang}.${m[1]} twice`);
    got[m[1]] = unescape(m[2]);
  }
  const missing = fields.filter((f) => !(f in got));
  const extra = Object.keys(got).filter((f) => !fields.includes(f));
  if (missing.length || extra.length) fail(`${lang}: missing ${missing} / unknown ${extra}`);
  text[lang.toLowerCase()] = fields.map((f) => got[f]);
}
const langs = Object.keys(text);
if (langs.join() !== 'en,de,fr,es,nl,ja') fail(`languages ${langs}: expected en,de,fr,es,nl,ja`);
writeFileSync(out, JSON.stringify({ fields, text }));
