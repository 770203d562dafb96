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
 * Options on the script tag:
 *   data-locale="de"      the widget's language (en, de, fr, es, nl, ja); default: <html lang>, else en.
 *   data-edge="https://…" the API origin when it is not where widget.js came from.
 *   data-restock-variants='{"<variant id>":"<SKU>", …}'
 *                         variant switching on product pages (Shopify-like): the widget follows the
 *                         variant of the page's product form (form[action*="/cart/add"] [name=id]) and
 *                         the ?variant= of the URL, and shows the SKU the map gives for it (none for a
 *                         variant not in the map). Without the map the widget stays on data-sku.
 *
 * A shopper arriving with ?restock_claim=<token> (the link in a restock email) sees their hold in the
 * widget of the SKU the token is for; "buy" submits the page's product form when there is one
 * (Shopify product pages: add to cart with the right variant), else follows the product URL.
 *
 * Performance marks for bench/widget.mjs: "restock:loader" when this script runs, "restock:ready"
 * (set by the wasm) when a widget has its SKU's state and is interactive.
 *
 * A classic script on purpose: merchants paste one tag, no type="module". __WIDGET_VERSION__ is
 * set at build time to a hash of the bundle so a new deploy is never mixed with cached old files.
 */
(function () {
  var d = document;
  var w = window;
  var me = d.currentScript || d.querySelector('script[data-shop][src*="widget.js"]') || d.querySelector('script[data-shop]');
  if (!me || me.hasAttribute('data-restock-loaded')) return;
  me.setAttribute('data-restock-loaded', '');
  if (w.performance && performance.mark) performance.mark('restock:loader');

  var edge = (me.getAttribute('data-edge') || new URL('.', me.src).href).replace(/\/+$/, '');
  var shop = me.getAttribute('data-shop') || '';
  var locale = me.getAttribute('data-locale') || d.documentElement.lang || 'en';
  var params = new URLSearchParams(location.search);
  var claim = params.get('restock_claim') || '';
  var variants = null;
  try { variants = JSON.parse(me.getAttribute('data-restock-variants') || 'null'); } catch (e) { variants = null; }
  var v = '?v=' + __WIDGET_VERSION__;
  var bundle;

  // The SKU a claim token is for: its payload is base64url JSON (shared/src/link.rs). Not verified
  // here (the edge does that); it only picks which widget asks.
  function claimSku() {
    try {
      var p = claim.split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(p + '==='.slice((p.length + 3) % 4))).sku || '';
    } catch (e) { return ''; }
  }
  var claimedSku = claim && claimSku();

  function load() {
    return bundle || (bundle = import(edge + '/widget/restock_widget.js' + v).then(function (m) {
      return m.default({ module_or_path: edge + '/widget/restock_widget_bg.wasm' + v }).then(function () { return m; });
    }));
  }

  function productForm() { return d.querySelector('form[action*="/cart/add"]'); }

  // Proceeds to purchase a claimed unit: the page's own product form when there is one, else the URL.
  function buy(url) {
    var form = productForm();
    if (form) {
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    } else if (url) {
      location.href = url;
    }
  }

  function mount(host, sku, shopName, onSku) {
    if (host.shadowRoot) return;
    var root = host.attachShadow({ mode: 'open' });
    var box = d.createElement('div');
    root.appendChild(box);
    var token = claim && (!claimedSku || claimedSku === sku) ? claim : '';
    load().then(function (m) {
      var setSku = m.mount(box, edge, shopName, sku, locale, token, buy);
      if (onSku) onSku(setSku);
    }).catch(function (e) {
      if (w.console) console.warn('restock widget: falling back to the plain form', e);
      if (sku) fallback(box, sku, shopName);
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

  // Variant switching: the SKU of the variant the page shows now (the product form's [name=id], else
  // ?variant=); data-sku when the page names no variant; '' for a variant the map does not know.
  function variantSku() {
    var form = productForm();
    var input = form && form.querySelector('[name=id]');
    var id = (input && input.value) || new URLSearchParams(location.search).get('variant') || '';
    if (!id) return me.getAttribute('data-sku') || '';
    return Object.prototype.hasOwnProperty.call(variants, id) ? String(variants[id]) : '';
  }

  function follow(setSku, current) {
    function check() {
      var next = variantSku();
      if (next !== current) { current = next; setSku(next); }
    }
    // Themes change the variant input from script (no event), so events only prompt a look; a slow
    // poll catches the rest.
    d.addEventListener('change', function () { setTimeout(check, 0); }, true);
    w.addEventListener('popstate', check);
    setInterval(check, 500);
  }

  if (me.getAttribute('data-sku') || variants) {
    var host = d.createElement('div');
    host.setAttribute('data-restock-widget', '');
    if (me.parentNode && me.parentNode !== d.head) me.parentNode.insertBefore(host, me.nextSibling);
    else (d.body || d.documentElement).appendChild(host);
    var first = variants ? variantSku() : me.getAttribute('data-sku');
    mount(host, first, shop, variants && function (setSku) { follow(setSku, first); });
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
