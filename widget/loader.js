/*
 * The one script merchants include (built to public/widget.js):
 *
 *   <script async src="https://EDGE/widget.js" data-shop="demo" data-sku="TEE-BLK-M"></script>
 *
 * It mounts a widget right after its own tag (when it has data-sku) and into every
 * <div data-restock-sku="…"> placeholder on the page, each inside an open Shadow DOM so the
 * storefront's CSS and ours do not mix. The Leptos/wasm bundle is loaded once from EDGE/widget/.
 * If that fails (old browser, a CSP without 'wasm-unsafe-eval', blocked import), a small plain
 * form posting to the same API takes its place.
 *
 * A classic script on purpose: merchants paste one tag, no type="module". __WIDGET_VERSION__ is
 * set at build time to a hash of the bundle so a new deploy is never mixed with cached old files.
 */
(function () {
  var d = document;
  var me = d.currentScript || d.querySelector('script[data-shop][src*="widget.js"]') || d.querySelector('script[data-shop]');
  if (!me || me.hasAttribute('data-restock-loaded')) return;
  me.setAttribute('data-restock-loaded', '');

  var edge = (me.getAttribute('data-edge') || new URL('.', me.src).href).replace(/\/+$/, '');
  var shop = me.getAttribute('data-shop') || '';
  var locale = me.getAttribute('data-locale') || d.documentElement.lang || navigator.language || '';
  var v = '?v=' + __WIDGET_VERSION__;
  var bundle;

  function load() {
    return bundle || (bundle = import(edge + '/widget/restock_widget.js' + v).then(function (m) {
      return m.default({ module_or_path: edge + '/widget/restock_widget_bg.wasm' + v }).then(function () { return m; });
    }));
  }

  function mount(host, sku, shopName) {
    if (!sku || host.shadowRoot) return;
    var root = host.attachShadow({ mode: 'open' });
    var box = d.createElement('div');
    root.appendChild(box);
    load().then(function (m) {
      m.mount(box, edge, shopName, sku, locale);
    }).catch(function (e) {
      if (window.console) console.warn('restock widget: falling back to the plain form', e);
      fallback(box, sku, shopName);
    });
  }

  // The no-wasm form: same API, same test hooks, no live position.
  function fallback(box, sku, shopName) {
    box.innerHTML =
      '<style>form{display:grid;gap:.4em;font:inherit;max-width:28em;margin:1em 0}input,button{font:inherit;padding:.5em}' +
      'button{background:var(--restock-accent,#111);color:var(--restock-accent-text,#fff);border:0;border-radius:4px}</style>' +
      '<form data-testid="restock-form" novalidate><label for="e">Email</label>' +
      '<input id="e" type="email" name="email" autocomplete="email" required>' +
      '<button type="submit">Notify me</button>' +
      '<p data-testid="position"></p><p data-testid="status" role="status" aria-live="polite"></p></form>';
    var form = box.querySelector('form');
    var q = function (s) { return box.querySelector(s); };
    form.onsubmit = function (ev) {
      ev.preventDefault();
      var btn = q('button'), status = q('[data-testid=status]');
      var email = q('input').value.trim();
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) { status.textContent = 'Please enter a valid email address.'; return; }
      btn.disabled = true;
      status.textContent = 'Joining…';
      var url = edge + '/v1/shops/' + encodeURIComponent(shopName) + '/skus/' + encodeURIComponent(sku) + '/waitlist';
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: email, locale: locale }) })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (b) {
            if (!r.ok) throw new Error((b.error && b.error.message) || 'Something went wrong. Please try again.');
            if (b.position) q('[data-testid=position]').textContent = "You're #" + b.position + ' in line';
            status.textContent = r.status === 200 ? "You're already on the list." : "You're on the list. We'll email you when it's your turn.";
          });
        })
        .catch(function (e) {
          btn.disabled = false;
          status.textContent = e instanceof TypeError ? "We couldn't reach the waitlist. Please try again." : e.message;
        });
    };
  }

  if (me.getAttribute('data-sku')) {
    var host = d.createElement('div');
    host.setAttribute('data-restock-widget', '');
    if (me.parentNode && me.parentNode !== d.head) me.parentNode.insertBefore(host, me.nextSibling);
    else (d.body || d.documentElement).appendChild(host);
    mount(host, me.getAttribute('data-sku'), shop);
  }

  function placeholders() {
    var els = d.querySelectorAll('[data-restock-sku]');
    for (var i = 0; i < els.length; i++) {
      mount(els[i], els[i].getAttribute('data-restock-sku'), els[i].getAttribute('data-restock-shop') || shop);
    }
  }
  if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', placeholders);
  else placeholders();
})();
