// Build step of scripts/build-widget, between wasm-bindgen and wasm-opt / esbuild. Node built-ins only.
//
//   node widget/glue.mjs graph <wasm> <graph.json>   metadce graph: every export is a root except the
//                                                    `IntoUnderlying*` stream adapters that wasm-streams
//                                                    (via leptos → server_fn → gloo-net) exports into every
//                                                    cdylib; the widget never uses them.
//   node widget/glue.mjs prune <wasm> <glue.js>      drops from the wasm-bindgen glue the import shims the
//                                                    optimized wasm no longer imports, and the stream
//                                                    adapter classes and their finalization registries;
//                                                    esbuild then tree-shakes the helpers
//                                                    only they used.
//   node widget/glue.mjs minify <wasm> <glue.js> <map.json>
//                                                    after `wasm-opt --minify-imports-and-exports-and-modules`
//                                                    (which wrote map.json and <wasm>): renames the
//                                                    glue's import keys, its import module and its
//                                                    `wasm.<export>` uses to the short names. The long
//                                                    names carry hashes that gzip cannot shrink.

import { readFileSync, writeFileSync } from 'node:fs';

const [cmd, wasmPath, out] = process.argv.slice(2);
const mod = new WebAssembly.Module(readFileSync(wasmPath));
const UNUSED_EXPORT = /intounderlying/i;

if (cmd === 'graph') {
  const graph = WebAssembly.Module.exports(mod).map((e) => (
    UNUSED_EXPORT.test(e.name) ? { name: `export:${e.name}`, export: e.name } : { name: `export:${e.name}`, export: e.name, root: true }
  ));
  writeFileSync(out, JSON.stringify(graph));
} else if (cmd === 'prune') {
  const imported = new Set(WebAssembly.Module.imports(mod).map((i) => i.name));
  const lines = readFileSync(out, 'utf8').split('\n');
  const kept = [];
  let dropped = 0;
  for (let i = 0; i < lines.length; i++) {
    // An import shim: `        __wbg_name_hash: function(...) {` … `        },` (or `}, arguments); },`).
    const shim = /^ {8}(__wbg_[A-Za-z0-9_]+|__wbindgen_[A-Za-z0-9_]+): function\(/.exec(lines[i]);
    if (shim && !imported.has(shim[1])) {
      while (i < lines.length && !/^ {8}\}/.test(lines[i])) i++;
      dropped++;
      continue;
    }
    // The stream adapters' finalization registries: `const IntoUnderlying…Finalization = …` (3 lines).
    if (/^const IntoUnderlying\w*Finalization = /.test(lines[i])) {
      while (i < lines.length && !lines[i].endsWith(';')) i++;
      dropped++;
      continue;
    }
    // An exported class of the stream adapters: `export class IntoUnderlying… {` … `}`.
    if (/^export class IntoUnderlying/.test(lines[i]) || /^if \(Symbol\.dispose\) IntoUnderlying/.test(lines[i])) {
      if (lines[i].endsWith('{')) while (i < lines.length && lines[i] !== '}') i++;
      dropped++;
      continue;
    }
    kept.push(lines[i]);
  }
  writeFileSync(out, kept.join('\n'));
  console.log(`  glue: dropped ${dropped} unused shims/classes`);
} else if (cmd === 'minify') {
  const map = JSON.parse(readFileSync(process.argv[5], 'utf8'));
  const modules = [...new Set(WebAssembly.Module.imports(mod).map((i) => i.module))];
  if (modules.length !== 1) throw new Error(`expected one import module, found ${modules.length}`);
  let glue = readFileSync(out, 'utf8');
  const swap = (re, to, what) => {
    const before = glue;
    glue = glue.replace(re, to);
    if (glue === before) throw new Error(`glue: no ${what}`);
  };
  for (const [, name, short] of map.imports) {
    swap(new RegExp(`^ {8}${name}: function\\(`, 'm'), () => `        ${JSON.stringify(short)}: function(`, `import ${name}`);
  }
  for (const [name, short] of map.exports) {
    if (!new RegExp(`\\bwasm\\.${name}\\b`).test(glue)) continue; // an export the glue never calls
    glue = glue.replace(new RegExp(`\\bwasm\\.${name}\\b`, 'g'), () => `wasm[${JSON.stringify(short)}]`);
  }
  swap(/"\.\/[A-Za-z0-9_]+_bg\.js": import0/, () => `${JSON.stringify(modules[0])}: import0`, 'import module');
  writeFileSync(out, glue);
  console.log(`  glue: ${map.imports.length} imports and ${map.exports.length} exports renamed`);
} else {
  console.error('usage: node widget/glue.mjs graph|prune|minify <wasm> <file> [map.json]');
  process.exit(2);
}
