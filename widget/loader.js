/*
 * The one script merchants include (built to public/widget.js):
 *
 *   <script async src="https://EDGE/widget.js" data-shop="demo" data-sku="TEE-BLK-M"></script>
 *
 * It mounts a widget right after its own tag (when it has data-sku) and into every
 * <div data-restock-sku="…"> placeholder on the page, each inside an open Shadow DOM so the
 * storefront's CSS and ours do not mix.
 *
 * Instant form, then the app. Each widget is first a plain form rendered here, at once: localized,
 * styled and marked up like the wasm app (same stylesheet, same elements), and working on its own
 * (inline checks, signup, Turnstile). Meanwhile the SKU's state is fetched and the Leptos/wasm bundle
 * (loaded once from EDGE/widget/) starts; when both are there the app takes over the same shadow root
 * in one synchronous step: it gets the state and the plain form's signup answer (so nothing is sent
 * twice; a signup in flight is waited for), what was typed is copied across and focus stays where it
 * was. If the bundle cannot run (old browser, a CSP without 'wasm-unsafe-eval', blocked import), the
 * plain form simply stays: it posts the same API. The app adds ETAs, reservations, claim links and
 * the live place in line.
 *
 * Options on the script tag:
 *   data-locale="de"      the widget's language (en, de, fr, es, nl, ja); default: <html lang>, else en.
 *   data-edge="https://…" the API origin when it is not where widget.js came from.
 *   data-turnstile-sitekey="0x4AAA…"
 *                         the shop checks signups with Cloudflare Turnstile: the widget loads
 *                         challenges.cloudflare.com/turnstile/v0/api.js (explicit rendering), shows the
 *                         challenge in the form and sends its token as turnstile_token. A placeholder
 *                         may carry its own data-turnstile-sitekey.
 *   data-restock-variants='{"<variant id>":"<SKU>", …}'
 *                         variant switching on product pages (Shopify-like): the widget follows the
 *                         variant of the page's product form (form[action*="/cart/add"] [name=id]) and
 *                         the ?variant= of the URL, and shows the SKU the map gives for it (none for a
 *                         variant not in the map). Without the map the widget stays on data-sku.
 *
 * A bare tag (data-shop only, e.g. in the theme's <head>) on a Shopify product page needs nothing more:
 * the map comes from the page's product data (ShopifyAnalytics.meta.product, the theme's meta.product,
 * or a product JSON script), and the widget sits right after the product form, beside its add-to-cart
 * button, showing only while the chosen variant is sold out, on pre-order or on backorder.
 *
 * A shopper arriving with ?restock_claim=<token> (the link in a restock email) sees their hold in the
 * widget of the SKU the token is for; "buy" submits the page's product form when there is one
 * (Shopify product pages: add to cart with the right variant), else follows the product URL.
 *
 * Performance marks for bench/widget.mjs: "restock:loader" when this script runs,
 * "restock:interactive" when the first form can be typed in and submitted, "restock:app" when the
 * wasm app has taken over the first widget.
 *
 * A classic script on purpose: merchants paste one tag, no type="module". Set at build time
 * (scripts/build-widget): __WIDGET_VERSION__, a hash of the bundle, so a deploy is never mixed with
 * cached old files; __RESTOCK_STRINGS__, the sentences of widget/src/locale.rs (widget/strings.mjs);
 * __RESTOCK_CSS__, widget/widget.css minified.
 */
(function () {
  var d = document;
  var w = window;
  var me = d.currentScript || d.querySelector('script[data-shop][src*="widget.js"]') || d.querySelector('script[data-shop]');
  if (!me || me.hasAttribute('data-restock-loaded')) return;
  me.setAttribute('data-restock-loaded', '');
  var marked = {};
  function mark(name) {
    if (!marked[name] && w.performance && performance.mark) performance.mark(name);
    marked[name] = 1;
  }
  mark('restock:loader');

  var STRINGS = __RESTOCK_STRINGS__;
  var CSS = __RESTOCK_CSS__;
  var TURNSTILE_JS = 'https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit';

  var edge = (me.getAttribute('data-edge') || new URL('.', me.src).href).replace(/\/+$/, '');
  var shop = me.getAttribute('data-shop') || '';
  // The language: the primary subtag of data-locale or <html lang> when we speak it, else English
  // (as locale.rs `Lang::from_tag`).
  var lang = String(me.getAttribute('data-locale') || d.documentElement.lang || '').trim().split(/[-_]/)[0].toLowerCase();
  if (!Object.prototype.hasOwnProperty.call(STRINGS.text, lang)) lang = 'en';
  var sentences = STRINGS.text[lang];
  var t = {};
  STRINGS.fields.forEach(function (f, i) { t[f] = sentences[i]; });
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

  var glueUrl = edge + '/widget/restock_widget.js' + v;
  var wasmUrl = edge + '/widget/restock_widget_bg.wasm' + v;

  // The app: its glue module and its wasm download side by side (the glue's init takes the wasm's
  // response promise). Called in the task after the plain forms are up: starting an import() or a
  // fetch() costs the main thread several milliseconds (so does a <link rel=preload>, measured).
  function load() {
    if (bundle) return bundle;
    var wasm = fetch(wasmUrl);
    wasm.catch(function () { /* reported through the init below */ });
    return (bundle = import(glueUrl).then(function (m) {
      return m.default({ module_or_path: wasm }).then(function () { return m; });
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

  // An edge request as {status, body}: status 0 when there was no answer, body null when not JSON.
  function request(url, body) {
    var init = body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {};
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (b) { return { status: r.status, body: b }; });
    }, function () { return { status: 0, body: null }; });
  }

  function fill(template, value) { return template.replace('{}', value); }

  function esc(s) { return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;'); }

  // The phone number's country: region and dial code, the page's country first chosen (Shopify's
  // market, else the region of data-locale, <html lang> or the browser's language, else the
  // language's own country). A number typed without + gets its dial code (signup.rs `international`).
  var COUNTRIES = 'US1 CA1 GB44 IE353 AU61 NZ64 DE49 AT43 CH41 FR33 BE32 LU352 NL31 ES34 PT351 IT39 DK45 SE46 NO47 FI358 PL48 CZ420 JP81 KR82 SG65 HK852 MX52 BR55 IN91 ZA27'.split(' ');
  var home = (function () {
    var tags = [w.Shopify && w.Shopify.country, me.getAttribute('data-locale'), d.documentElement.lang, navigator.language,
      { en: 'US', de: 'DE', fr: 'FR', es: 'ES', nl: 'NL', ja: 'JP' }[lang]];
    for (var i = 0; i < tags.length; i++) {
      var region = String(tags[i] || '').split(/[-_]/).pop().toUpperCase();
      for (var j = 0; j < COUNTRIES.length; j++) if (COUNTRIES[j].slice(0, 2) === region) return COUNTRIES[j];
    }
  })();
  function countries(select) {
    select.innerHTML = COUNTRIES.map(function (c) {
      return '<option value="' + c + '"' + (c === home ? ' selected' : '') + '>' + c.slice(0, 2) + ' +' + c.slice(2) + '</option>';
    }).join('');
  }
  function international(phone, country) {
    return phone[0] === '+' ? phone : phone.slice(0, 2) === '00' ? '+' + phone.slice(2)
      : '+' + country.replace(/\D/g, '') + phone.replace(/^0+/, '');
  }

  // The markup of widget/src/view.rs, with the restock wording until the SKU's state says otherwise.
  function markup() {
    return '<section class="restock" aria-labelledby="restock-title" lang="' + lang + '">' +
      '<h2 class="heading" id="restock-title" data-testid="title">' + esc(t.restock_title) + '</h2>' +
      '<p class="note" data-testid="note"></p><p class="waiting"></p>' +
      '<button type="button" class="buy" data-testid="buy" hidden>' + esc(t.claim_buy) + '</button>' +
      '<form novalidate data-testid="restock-form">' +
      '<label for="restock-email">' + esc(t.email) + '</label>' +
      '<input id="restock-email" type="email" name="email" autocomplete="email" required aria-describedby="restock-email-error">' +
      '<p id="restock-email-error" class="field-error"></p>' +
      '<label for="restock-phone">' + esc(t.phone) + ' <span class="muted">' + esc(t.optional) + '</span></label>' +
      '<div class="phone"><select name="country" aria-label="' + esc(t.country) + '"></select>' +
      '<input id="restock-phone" type="tel" name="phone" autocomplete="tel" aria-describedby="restock-phone-error"></div>' +
      '<p id="restock-phone-error" class="field-error"></p>' +
      '<label class="consent"><input type="checkbox" name="sms_consent"><span>' + esc(t.sms_consent) + '</span></label>' +
      '<label for="restock-quantity">' + esc(t.quantity) + '</label>' +
      '<input id="restock-quantity" class="quantity" type="number" name="quantity" inputmode="numeric" min="1" max="100" value="1" aria-describedby="restock-quantity-error">' +
      '<p id="restock-quantity-error" class="field-error"></p>' +
      '<label class="consent marketing" hidden><input type="checkbox" name="marketing_consent"><span>' + esc(t.marketing_consent) + '</span></label>' +
      '<div class="hp" aria-hidden="true"><label>Website <input name="website" tabindex="-1" autocomplete="off"></label></div>' +
      '<slot name="turnstile"></slot>' +
      '<button type="submit">' + esc(t.restock_action) + '</button>' +
      '</form>' +
      '<p class="position" data-testid="position"></p>' +
      '<div class="status" data-testid="status" role="status" aria-live="polite" tabindex="-1">' +
      '<button type="button" class="retry" hidden>' + esc(t.retry) + '</button></div>' +
      '</section>';
  }

  // Cloudflare Turnstile, explicit rendering. Its script runs in the page (it does not work inside a
  // shadow root), so each challenge is rendered into a light-DOM child of the widget's host, which
  // the form shows through <slot name="turnstile"> (moving the slot at the takeover keeps the
  // challenge's iframe where it is, solved or not).
  var turnstileScript;
  var turnstileWaiting = [];
  function challenge(host, sitekey) {
    var box = d.createElement('div');
    box.slot = 'turnstile';
    host.appendChild(box);
    var token = '';
    var id = null;
    function render() {
      id = w.turnstile.render(box, {
        sitekey: sitekey,
        language: lang,
        callback: function (value) { token = value; },
        'expired-callback': function () { token = ''; },
        'error-callback': function () { token = ''; },
      });
    }
    if (w.turnstile && w.turnstile.render) render();
    else {
      turnstileWaiting.push(render);
      if (!turnstileScript) {
        turnstileScript = d.createElement('script');
        turnstileScript.src = TURNSTILE_JS;
        turnstileScript.async = true;
        turnstileScript.onload = function () {
          turnstileWaiting.splice(0).forEach(function (f) {
            try { f(); } catch (e) { if (w.console) console.warn('restock widget: Turnstile', e); }
          });
        };
        (d.head || d.documentElement).appendChild(turnstileScript);
      }
    }
    return {
      token: function () { return token; },
      // A token is good for one siteverify call: after a refused or failed signup, a fresh challenge.
      reset: function () {
        token = '';
        if (id !== null && w.turnstile) w.turnstile.reset(id);
      },
    };
  }

  // The status sentence of an entry (as signup.rs `Signup::status`).
  var ENTRY = { waiting: 'joined', pending_confirmation: 'pending_confirmation', offered: 'offered', converted: 'converted',
    notified: 'notified', expired: 'expired', allocated: 'allocated', cancelled: 'cancelled' };
  var FIELD = { invalid_email: 'email', invalid_phone: 'phone', invalid_quantity: 'quantity' };
  var REFUSAL = { turnstile_required: 1, turnstile_failed: 1, turnstile_unavailable: 1 };
  var MODE = { preorder: ['preorder_title', 'preorder_action'], backorder: ['backorder_title', 'backorder_action'] };

  // One widget: the plain form now, the app when it has loaded. Returns setSku(sku).
  function mount(host, first, shopName, sitekey) {
    var root = host.attachShadow({ mode: 'open' });
    var style = d.createElement('style');
    style.textContent = CSS;
    var box = d.createElement('div');
    box.innerHTML = markup();
    root.appendChild(style);
    root.appendChild(box);
    function q(s) { return box.querySelector(s); }
    var section = q('section');
    var form = q('form');
    countries(form.elements.country);
    var submitButton = q('button[type=submit]');
    var status = q('[data-testid=status]');
    var retry = q('.retry');
    var said = d.createTextNode('');
    status.insertBefore(said, retry);
    var ts = sitekey ? challenge(host, sitekey) : null;
    // A claim link for this widget needs the app: the plain form waits hidden (and shows if the app
    // cannot run).
    var claimToken = claim && (!claimedSku || claimedSku === first) ? claim : '';

    var sku = first;
    var state;         // Promise of {status, body}: GET …/skus/{sku}
    var sending = null; // Promise: the plain form's signup in flight
    var prior = null;   // {sku, status, body}: the plain form's last signup answer
    var joined = false;
    var app = null;     // the app's setSku once it has taken over

    function api(forSku, rest) {
      return edge + '/v1/shops/' + encodeURIComponent(shopName) + '/skus/' + encodeURIComponent(forSku) + (rest || '');
    }
    function field(name) { return form.elements[name]; }

    // The SKU's state: heading, button and whether to show at all (as signup.rs `header`, `action` and
    // `Product::visible`; the app adds ETAs and reservations).
    function fetchState() {
      var forSku = sku;
      state = forSku ? request(api(forSku)) : Promise.resolve({ status: 404, body: null });
      state.then(function (s) {
        if (forSku !== sku || app) return;
        var b = s.body || {};
        var ok = s.status >= 200 && s.status < 300;
        var mode = (ok && MODE[b.mode]) || ['restock_title', 'restock_action'];
        q('.heading').textContent = t[mode[0]];
        submitButton.textContent = t[mode[1]];
        q('.marketing').hidden = !(ok && b.marketing);
        var n = ok ? b.waiting || 0 : 0;
        q('.waiting').textContent = n === 1 ? t.waiting_one : n > 1 ? fill(t.waiting_many, n) : '';
        var inStock = ok && b.mode !== 'preorder' && b.mode !== 'backorder' && (b.available || 0) - (b.reserved || 0) > 0;
        section.hidden = !!claimToken || s.status === 404 || inStock;
      });
    }
    // Shown at once (an in-stock restock SKU hides when its state arrives), except for a variant the
    // shop does not list.
    section.hidden = !!claimToken || !first;

    function say(text, isError, canRetry) {
      said.data = text;
      status.classList.toggle('error', !!isError);
      retry.hidden = !canRetry;
    }

    function invalid(name) {
      ['email', 'phone', 'quantity'].forEach(function (f) {
        var input = field(f);
        if (f === name) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
        q('#restock-' + f + '-error').textContent = f === name ? t['invalid_' + f] : '';
      });
    }

    function submit() {
      if (sending || joined) return;
      var email = field('email').value.trim();
      var phone = field('phone').value.trim();
      var quantity = field('quantity').value.trim();
      var website = field('website').value.trim();
      var consent = field('sms_consent').checked;
      say('');
      var bad = !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email) ? 'email'
        : quantity && !(/^\d+$/.test(quantity) && +quantity >= 1 && +quantity <= 100) ? 'quantity' : '';
      invalid(bad);
      if (bad) { field(bad).focus(); return; }
      var body = { email: email, locale: lang };
      if (phone) {
        body.phone = international(phone, field('country').value);
        body.sms_consent = consent;
        if (consent) body.consent_text = t.sms_consent;
      }
      if (!q('.marketing').hidden && field('marketing_consent').checked) {
        body.marketing_consent = true;
        body.marketing_consent_text = t.marketing_consent;
      }
      if (quantity) body.quantity = +quantity;
      if (website) body.website = website;
      var token = ts && ts.token();
      if (token) body.turnstile_token = token;
      submitButton.disabled = true;
      submitButton.setAttribute('aria-busy', 'true');
      say(t.joining);
      var forSku = sku;
      sending = request(api(forSku, '/waitlist'), body).then(function (a) {
        sending = null;
        submitButton.disabled = false;
        submitButton.removeAttribute('aria-busy');
        var ok = a.status >= 200 && a.status < 300;
        if (token && !ok) ts.reset();
        // An answer for a variant the shopper left is not shown (it still went to that SKU).
        if (forSku !== sku || app) return;
        prior = { sku: forSku, status: a.status, body: a.body };
        finish(a, ok);
      });
    }

    // What the signup's answer means on screen (as signup.rs `Signup::finish` and `status`).
    function finish(a, ok) {
      var b = a.body || {};
      var code = (b.error && b.error.code) || '';
      if (ok) {
        joined = true;
        form.hidden = true;
        q('[data-testid=position]').textContent = b.position ? fill(t.position, b.position) : '';
        say(t[ENTRY[b.status]] || t.joined);
      } else if (FIELD[code]) {
        invalid(FIELD[code]);
        field(FIELD[code]).focus();
        return;
      } else if (a.status === 0) {
        say(t.network_error, true, true);
      } else if (REFUSAL[code]) {
        say(t[code], true, code === 'turnstile_unavailable');
      } else if (a.status >= 500) {
        say(t.server_error, true, true);
      } else {
        say(t.refused, true, false);
      }
      status.focus();
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      submit();
    });
    form.addEventListener('input', function () { invalid(''); });
    retry.addEventListener('click', submit);

    // A variant switch before the app is there: a fresh form for the new SKU (what was typed stays).
    function plainSetSku(next) {
      sku = next;
      claimToken = '';
      joined = false;
      prior = null;
      form.hidden = false;
      q('[data-testid=position]').textContent = '';
      say('');
      invalid('');
      fetchState();
    }

    // The takeover: once the bundle, the current SKU's state and any signup in flight are all in.
    // Started in the next task, so the form is interactive first (starting a fetch or an import()
    // costs the main thread several milliseconds each in Chromium).
    setTimeout(function () {
      takeOverWhenReady();
      if (!state) fetchState();
    }, 0);

    function takeOverWhenReady() {
      load().then(function (m) {
        return (function settle() {
          var waitFor = state;
          return Promise.all([sending, waitFor]).then(function (got) {
            return sending || waitFor !== state ? settle() : got[1];
          });
        })().then(function (s) { takeOver(m, s); });
      }).catch(function (e) {
        if (w.console) console.warn('restock widget: keeping the plain form', e);
        if (claimToken) section.hidden = false;
      });
    }

    function takeOver(m, s) {
      var next = d.createElement('div');
      var controls = function (el) { return el.querySelectorAll('input,select,button,[tabindex]'); };
      var before = Array.prototype.indexOf.call(controls(box), root.activeElement);
      var caret = null;
      try { caret = root.activeElement && [root.activeElement.selectionStart, root.activeElement.selectionEnd]; } catch (e) { caret = null; }
      root.insertBefore(next, box);
      var setSku;
      try {
        setSku = m.mount(next, edge, shopName, sku, lang, sentences, claimToken, buy, s,
          prior && prior.sku === sku ? prior : undefined, ts && ts.token, ts && ts.reset);
      } catch (e) {
        root.removeChild(next);
        throw e;
      }
      var nextForm = next.querySelector('form');
      countries(nextForm.elements.country);
      Array.prototype.forEach.call(form.elements, function (el) {
        var to = el.name && nextForm.elements[el.name];
        if (!to) return;
        if (el.type === 'checkbox') to.checked = el.checked; else to.value = el.value;
      });
      var target = before >= 0 && controls(next)[before];
      if (target) {
        target.focus();
        try { if (caret && caret[0] !== null) target.setSelectionRange(caret[0], caret[1]); } catch (e) { /* not a text input */ }
      }
      root.removeChild(box);
      app = setSku;
      mark('restock:app');
    }

    return function (next) { if (app) app(next); else plainSetSku(next); };
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

  // A bare tag (no data-sku, no map) on a product page: the variants and their SKUs come from the page's
  // product data, once it is parsed: Shopify's ShopifyAnalytics.meta.product, a theme's meta.product,
  // or a product JSON script ({"variants": [{"id", "sku"}]} or {"product": {…}}).
  function pageVariants() {
    var map = {};
    var found;
    function add(p) {
      (p && p.variants || []).forEach(function (v) { if (v && v.id && v.sku) found = map[v.id] = v.sku; });
    }
    try { add(w.ShopifyAnalytics.meta.product); } catch (e) { /* not Shopify */ }
    try { add(w.meta.product); } catch (e) { /* no theme global */ }
    d.querySelectorAll('script[type="application/json"]').forEach(function (el) {
      if (el.textContent.indexOf('"variants"') < 0) return;
      try { var j = JSON.parse(el.textContent); add(j.product || j); } catch (e) { /* not product JSON */ }
    });
    return found ? map : null;
  }

  var sitekey = me.getAttribute('data-turnstile-sitekey') || '';
  var bare = !me.getAttribute('data-sku') && !variants;
  var host;
  // The widget of this tag: after the tag itself, or for a bare tag right after the product form
  // (beside its add-to-cart button; the tag may be in <head>).
  function own() {
    if (bare) variants = pageVariants();
    if (!me.getAttribute('data-sku') && !variants) return;
    host = d.createElement('div');
    host.setAttribute('data-restock-widget', '');
    var form = bare && productForm();
    if (form) form.parentNode.insertBefore(host, form.nextSibling);
    else if (me.parentNode && me.parentNode !== d.head) me.parentNode.insertBefore(host, me.nextSibling);
    else (d.body || d.documentElement).appendChild(host);
    var first = variants ? variantSku() : me.getAttribute('data-sku');
    var setSku = mount(host, first, shop, sitekey);
    if (variants) follow(setSku, first);
  }
  if (!bare) own();

  function placeholders() {
    var els = d.querySelectorAll('[data-restock-sku]');
    for (var i = 0; i < els.length; i++) {
      if (els[i].shadowRoot) continue;
      mount(els[i], els[i].getAttribute('data-restock-sku'), els[i].getAttribute('data-restock-shop') || shop,
        els[i].getAttribute('data-turnstile-sitekey') || sitekey);
    }
  }
  // "Interactive" when this task ends: the page handles the shopper's typing only between tasks.
  function interactive() { if (d.querySelector('[data-restock-widget],[data-restock-sku]')) mark('restock:interactive'); }
  if (d.readyState === 'loading') {
    d.addEventListener('DOMContentLoaded', function () { if (bare) own(); placeholders(); interactive(); });
    if (host) interactive();
  } else {
    if (bare) own();
    placeholders();
    interactive();
  }
})();
