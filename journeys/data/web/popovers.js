/* journeys popovers: the on-site side of the `popover` channel, one dependency-free script.
 *
 *   <script src="https://YOUR-API/v1/popovers.js" data-write-key="WRITE_KEY" async></script>
 *
 * Optional attributes: data-user-id (the signed-in customer), data-page="true" (send a `page`
 * call on load). `window.journeysPopovers` has identify(userId), page(), track(event,
 * properties), refresh() (ask for due popovers again) and anonymousId(). It uses Segment analytics.js's ids (the `ajs_anonymous_id` / `ajs_user_id`
 * cookies or localStorage), so both can run side by side; asks the API which popovers are due
 * for this visitor, page and browsing session; shows them one at a time as accessible dialogs
 * (focus kept inside, Escape closes, fixed position so the page never shifts); and reports
 * `Popover Viewed`, `Popover Clicked` and `Popover Dismissed` (the API records `Popover
 * Submitted` itself when a form's answers arrive).
 *
 * Each kind: an `exit_intent` popover waits until the pointer leaves the page towards the top
 * (on a touch screen: a fast scroll up, or the back gesture), at most once per session, and is
 * served (counted against the caps) only then, when the API grants it; a
 * `time_sensitive_offer` counts down to its `ends_at` and is gone when it ends (one whose end
 * has passed is not shown at all; the API does not serve it either); a recommendation,
 * retargeting, cart or basket popover lists its `products`; an email-my-basket, data-capture
 * or survey popover is a form whose answers the API checks and stores (its errors are shown
 * beside each question). Every class is `jp-…` and the built-in style comes first in <head>:
 * a shop's own CSS overrides it.
 */
(function () {
  "use strict";
  var VERSION = "2";
  var script = document.currentScript ||
    document.querySelector('script[src*="/v1/popovers.js"]');
  if (!script || window.journeysPopovers) { return; }
  var api = new URL(script.src, location.href).origin;
  var writeKey = script.getAttribute("data-write-key") || "";

  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0;
      return (c === "x" ? r : (r & 3 | 8)).toString(16);
    });
  }
  function readCookie(name) {
    var found = document.cookie.split("; ").filter(function (part) {
      return part.indexOf(name + "=") === 0;
    })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  }
  function stored(name) {  // analytics.js keeps its ids JSON-encoded
    var raw = readCookie(name);
    try { raw = raw || localStorage.getItem(name); } catch (e) { /* storage blocked */ }
    if (!raw) { return null; }
    try { return JSON.parse(raw); } catch (e) { return raw; }
  }
  function keep(name, value) {
    var text = JSON.stringify(value);
    document.cookie = name + "=" + encodeURIComponent(text) +
      "; max-age=31536000; path=/; SameSite=Lax";
    try { localStorage.setItem(name, text); } catch (e) { /* storage blocked */ }
  }
  function session(name, make) {
    try {
      var value = sessionStorage.getItem(name);
      if (!value && make) { value = make(); sessionStorage.setItem(name, value); }
      return value;
    } catch (e) { return make ? make() : null; }
  }

  var anonymousId = stored("ajs_anonymous_id") || newId();
  keep("ajs_anonymous_id", anonymousId);
  var userId = script.getAttribute("data-user-id") || stored("ajs_user_id");
  var sessionId = session("journeys_session", newId);

  function post(path, fields, options) {
    // text/plain and the key in the body: a simple request, no CORS preflight
    var body = {writeKey: writeKey, anonymousId: anonymousId};
    if (userId) { body.userId = userId; }
    Object.keys(fields).forEach(function (k) { body[k] = fields[k]; });
    var request = {method: "POST", headers: {"Content-Type": "text/plain"},
                   body: JSON.stringify(body)};
    Object.keys(options || {}).forEach(function (k) { request[k] = options[k]; });
    return fetch(api + "/v1/" + path, request);
  }
  function call(type, fields) {  // outlives the page (keepalive) when a click navigates away
    var segment = {
      messageId: newId(), timestamp: new Date().toISOString(),
      context: {library: {name: "journeys-popovers", version: VERSION},
                page: {path: location.pathname, url: location.href, title: document.title,
                       referrer: document.referrer}}
    };
    Object.keys(fields).forEach(function (k) { segment[k] = fields[k]; });
    return post(type, segment, {mode: "no-cors", keepalive: true});
  }
  function popoverPath(popover, action) {
    return "popovers/" + encodeURIComponent(popover.popover_id) + "/" + action;
  }
  function report(event, popover) {
    return call("track", {event: event, properties: {
      popover_id: popover.popover_id, kind: popover.kind, journey: popover.journey}});
  }

  var STYLE = ".jp-overlay{position:fixed;inset:0;background:rgba(17,24,39,.45);display:flex;" +
    "align-items:center;justify-content:center;z-index:2147483000}" +
    ".jp-popover{background:#fff;color:#111827;max-width:420px;width:calc(100% - 32px);" +
    "border-radius:10px;padding:20px 22px;font:15px/1.45 system-ui,sans-serif;position:relative;" +
    "box-shadow:0 12px 40px rgba(0,0,0,.25)}" +
    ".jp-title{font-size:19px;margin:0 28px 8px 0}.jp-body{margin:0 0 16px}" +
    ".jp-countdown{font-weight:600;color:#b91c1c;margin:0 0 14px}" +
    ".jp-cta{background:#2563eb;color:#fff;border:0;border-radius:6px;padding:9px 16px;" +
    "font:inherit;cursor:pointer}.jp-close{position:absolute;top:10px;right:12px;border:0;" +
    "background:none;font-size:22px;line-height:1;cursor:pointer;color:#374151}" +
    ".jp-products{list-style:none;margin:0 0 14px;padding:0;display:grid;gap:8px}" +
    ".jp-product{display:flex;gap:10px;align-items:center}.jp-product img{width:48px;" +
    "height:48px;object-fit:cover;border-radius:4px}.jp-price{margin-left:auto;font-weight:600}" +
    ".jp-form{display:grid;gap:10px;margin:0 0 6px}.jp-field label,.jp-field legend{display:block;" +
    "font-weight:600;margin:0 0 4px;padding:0}.jp-field fieldset{border:0;margin:0;padding:0}" +
    ".jp-field input[type=email],.jp-field input[type=text],.jp-field input[type=tel]," +
    ".jp-field input[type=number],.jp-field select,.jp-field textarea{width:100%;" +
    "box-sizing:border-box;padding:7px 9px;border:1px solid #9ca3af;border-radius:6px;font:inherit}" +
    ".jp-rating{display:flex;gap:4px;flex-wrap:wrap}.jp-rating label{font-weight:400;" +
    "border:1px solid #9ca3af;border-radius:6px;padding:4px 9px;cursor:pointer}" +
    ".jp-consent label{font-weight:400;display:flex;gap:8px;align-items:flex-start}" +
    ".jp-error{color:#b91c1c;margin:4px 0 0;font-size:13px}.jp-error:empty{display:none}" +
    ".jp-thanks{font-weight:600;margin:0 0 6px}" +
    ".jp-fullscreen .jp-popover{max-width:none;width:100%;height:100%;border-radius:0;" +
    "box-sizing:border-box;overflow:auto;padding:32px max(24px,calc(50% - 300px))}";

  function addStyle() {
    if (document.getElementById("jp-style")) { return; }
    var style = document.createElement("style");
    style.id = "jp-style";
    style.textContent = STYLE;
    document.head.insertBefore(style, document.head.firstChild);  // the shop's CSS wins
  }

  var queue = [];
  var open = null;

  function show(popover) {
    addStyle();
    var before = document.activeElement;
    var overlay = document.createElement("div");
    overlay.className = "jp-overlay jp-kind-" + popover.kind +
      (popover.layout === "fullscreen" ? " jp-fullscreen" : "");
    var dialog = document.createElement("div");
    dialog.className = "jp-popover";
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("data-popover-id", popover.popover_id);
    var fields = popover.fields || {};
    var title = document.createElement("h2");
    title.className = "jp-title";
    title.id = "jp-title-" + popover.popover_id.replace(/[^a-zA-Z0-9_-]/g, "_");
    title.textContent = fields.title || "";
    dialog.setAttribute("aria-labelledby", title.id);
    var body = document.createElement("p");
    body.className = "jp-body";
    body.textContent = fields.body || "";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "jp-close";
    close.setAttribute("aria-label", "Close");
    close.textContent = "\u00d7";
    dialog.appendChild(close);
    dialog.appendChild(title);
    dialog.appendChild(body);
    var ticking = null;
    if (popover.kind === "time_sensitive_offer") {
      var ends = Date.parse(fields.ends_at);
      var countdown = document.createElement("p");
      countdown.className = "jp-countdown";
      countdown.setAttribute("aria-live", "off");  // a screen reader is not read every second
      dialog.appendChild(countdown);
      var tick = function () {
        var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
        if (!left) { gone(); return; }
        var h = Math.floor(left / 3600), m = Math.floor(left % 3600 / 60), sec = left % 60;
        countdown.textContent = "Ends in " + (h ? h + ":" : "") +
          (h && m < 10 ? "0" : "") + m + ":" + (sec < 10 ? "0" : "") + sec;
      };
      ticking = setInterval(tick, 1000);
      setTimeout(tick, 0);
    }
    if (popover.products && popover.products.length) {
      dialog.appendChild(productList(popover.products));
    }
    var cta = null, form = null;
    if (popover.form && popover.form.length) {
      form = buildForm(popover, function () { done(null); });
      dialog.appendChild(form);
    } else if (fields.cta) {
      cta = document.createElement("button");
      cta.type = "button";
      cta.className = "jp-cta";
      cta.textContent = fields.cta;
      dialog.appendChild(cta);
    }
    overlay.appendChild(dialog);

    function takeDown() {
      if (ticking) { clearInterval(ticking); }
      document.removeEventListener("keydown", onKey, true);
      overlay.remove();
      open = null;
      if (before && before.focus) { before.focus(); }
    }
    function done(event) {  // no event: the API recorded what happened (a form's answers)
      if (popover.answered) { event = null; }
      takeDown();
      var sent = event ? report(event, popover) : Promise.resolve();
      next();
      return sent;
    }
    function gone() {  // the offer ended while on screen: nothing the visitor did
      takeDown();
      next();
    }
    function onKey(e) {
      if (e.key === "Escape") { e.preventDefault(); done("Popover Dismissed"); return; }
      if (e.key !== "Tab") { return; }
      var focusable = dialog.querySelectorAll("button, a[href], input, select, textarea");
      var first = focusable[0], last = focusable[focusable.length - 1];
      if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
    }
    close.addEventListener("click", function () { done("Popover Dismissed"); });
    overlay.addEventListener("click", function (e) {
      if (e.target === overlay) { done("Popover Dismissed"); }
    });
    if (cta) {
      cta.addEventListener("click", function () {
        var sent = done("Popover Clicked");
        if (fields.url) { sent.then(function () { location.href = fields.url; }); }
      });
    }
    document.addEventListener("keydown", onKey, true);
    document.body.appendChild(overlay);
    open = overlay;
    var first = form && form.querySelector("input, select, textarea");
    (first || cta || close).focus();
    report("Popover Viewed", popover);
  }

  function element(tag, className, text) {
    var made = document.createElement(tag);
    if (className) { made.className = className; }
    if (text !== undefined && text !== null) { made.textContent = text; }
    return made;
  }

  function productList(products) {
    var list = element("ul", "jp-products");
    products.forEach(function (product) {
      var item = element("li", "jp-product");
      if (product.image_url && /^https?:/.test(product.image_url)) {
        var image = element("img");
        image.src = product.image_url;
        image.alt = "";
        image.width = 48;
        image.height = 48;  // its box is known before it loads: nothing moves
        item.appendChild(image);
      }
      var name = element(product.url ? "a" : "span", "jp-product-name", product.name);
      if (product.url && /^(https?:|\/)/.test(product.url)) { name.href = product.url; }
      item.appendChild(name);
      if (product.quantity && product.quantity !== 1) {
        item.appendChild(element("span", "jp-quantity", "\u00d7 " + product.quantity));
      }
      if (typeof product.price === "number") {
        item.appendChild(element("span", "jp-price", product.price.toFixed(2)));
      }
      list.appendChild(item);
    });
    return list;
  }

  var EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

  function buildForm(popover, finished) {
    // one labelled control per question, its error beside it (aria-describedby); the API
    // checks again and its reasons land in the same places
    var fields = popover.fields || {};
    var key = popover.popover_id.replace(/[^a-zA-Z0-9_-]/g, "_");
    var form = element("form", "jp-form");
    form.noValidate = true;
    var controls = {}, errors = {};
    popover.form.forEach(function (question) {
      var id = "jp-" + key + "-" + question.name;
      var wrap = element("div", "jp-field jp-" + question.type);
      var error = element("p", "jp-error");
      error.id = id + "-error";
      error.setAttribute("aria-live", "polite");
      var control;
      if (question.type === "rating") {
        control = element("fieldset", "jp-rating-group");
        control.appendChild(element("legend", null, question.label));
        var scale = element("div", "jp-rating");
        for (var n = question.min; n <= question.max; n++) {
          var option = element("label");
          var radio = element("input");
          radio.type = "radio";
          radio.name = id;
          radio.value = String(n);
          if (question.required) { radio.required = true; }
          option.appendChild(radio);
          option.appendChild(document.createTextNode(" " + n));
          scale.appendChild(option);
        }
        control.appendChild(scale);
        control.setAttribute("aria-describedby", error.id);
        wrap.appendChild(control);
      } else if (question.type === "consent") {
        var box = element("label");
        control = element("input");
        control.type = "checkbox";
        control.id = id;
        box.appendChild(control);
        box.appendChild(element("span", null, question.label));
        wrap.appendChild(box);
      } else {
        var label = element("label", null, question.label);
        label.htmlFor = id;
        wrap.appendChild(label);
        if (question.type === "choice") {
          control = element("select");
          control.appendChild(element("option", null, ""));
          question.choices.forEach(function (choice) {
            var option = element("option", null, choice);
            option.value = choice;
            control.appendChild(option);
          });
        } else {
          control = element("input");
          control.type = {email: "email", phone: "tel", number: "number"}[question.type] || "text";
          if (question.type === "email") { control.autocomplete = "email"; }
          if (question.type === "phone") { control.autocomplete = "tel"; }
          if (question.type === "text") { control.maxLength = question.max_length; }
          if (question.type === "number") {
            if (question.min !== undefined) { control.min = question.min; }
            if (question.max !== undefined) { control.max = question.max; }
          }
        }
        control.id = id;
        wrap.appendChild(control);
      }
      if (question.required) { control.setAttribute("aria-required", "true"); }
      control.setAttribute("aria-describedby", error.id);
      wrap.appendChild(error);
      form.appendChild(wrap);
      controls[question.name] = control;
      errors[question.name] = error;
    });
    var general = element("p", "jp-error");
    general.setAttribute("role", "alert");
    form.appendChild(general);
    var submit = element("button", "jp-cta", fields.cta || "Send");
    submit.type = "submit";
    form.appendChild(submit);

    function answer(question) {
      var control = controls[question.name];
      if (question.type === "rating") {
        var picked = control.querySelector("input:checked");
        return picked ? Number(picked.value) : null;
      }
      if (question.type === "consent") { return control.checked; }
      var value = control.value.trim();
      if (!value) { return null; }
      return question.type === "number" ? Number(value) : value;
    }
    function mark(name, reason) {
      errors[name].textContent = reason || "";
      var control = controls[name];
      if (reason) { control.setAttribute("aria-invalid", "true"); }
      else { control.removeAttribute("aria-invalid"); }
    }
    function thank() {
      popover.answered = true;
      form.replaceChildren(element("p", "jp-thanks", fields.thanks || "Thank you."));
      var closing = element("button", "jp-cta", "Close");
      closing.type = "button";
      closing.addEventListener("click", finished);
      form.appendChild(closing);
      closing.focus();
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var answers = {}, wrong = null;
      general.textContent = "";
      popover.form.forEach(function (question) {
        var value = answer(question);
        var reason = "";
        if (question.required && (value === null || value === false)) {
          reason = question.type === "consent" ? "Please tick this box." : "Please answer this.";
        } else if (question.type === "email" && value !== null && !EMAIL.test(value)) {
          reason = "That does not look like an email address.";
        }
        mark(question.name, reason);
        if (reason && !wrong) { wrong = question.name; }
        if (value !== null) { answers[question.name] = value; }
      });
      if (wrong) { focusOn(wrong); return; }
      submit.disabled = true;
      post(popoverPath(popover, "submit"), {answers: answers}).then(function (r) {
        if (r.ok || r.status === 409) { thank(); return; }  // 409: answered already
        return r.json().then(function (problem) {
          var first = null;
          (problem.errors || []).forEach(function (err) {
            var name = String(err.field || "").replace(/^answers\./, "");
            if (errors[name]) { mark(name, err.reason); first = first || name; }
            else { general.textContent = err.reason || problem.error || "Please try again."; }
          });
          if (!first && !general.textContent) { general.textContent = "Please try again."; }
          submit.disabled = false;
          if (first) { focusOn(first); }
        });
      }).catch(function () {
        general.textContent = "Could not send just now - please try again.";
        submit.disabled = false;
      });
    });
    function focusOn(name) {
      var control = controls[name];
      (control.querySelector ? control.querySelector("input") || control : control).focus();
    }
    return form;
  }

  function over(popover) {
    return popover.kind === "time_sensitive_offer" &&
      !(Date.parse((popover.fields || {}).ends_at) > Date.now());
  }
  function next() {
    while (!open && queue.length) {
      var popover = queue.shift();
      if (!over(popover)) { show(popover); }
    }
  }

  function claim(popover) {
    // served only when shown: the API says yes once (not if another tab showed it, or the
    // day's or session's popovers are used up)
    if (!popover.claim) { return Promise.resolve(true); }
    return post(popoverPath(popover, "shown"), {sessionId: sessionId})
      .then(function (r) { return r.ok; }, function () { return false; });
  }

  var TOUCH = (window.matchMedia && matchMedia("(pointer: coarse)").matches) ||
    navigator.maxTouchPoints > 0 || "ontouchstart" in window;
  var FLICK_PX = 300, FLICK_MS = 250;  // that far up that fast: back towards the address bar

  function whenLeaving(popover) {
    // the pointer leaving through the top edge; on a touch screen, where there is no pointer,
    // a fast scroll back up or the back gesture (one history entry of our own catches it)
    var flag = "journeys_exit_" + popover.popover_id;
    if (session(flag)) { return; }  // at most once per session
    var recent = [];  // [time, scrollY] of the last FLICK_MS
    function leaving() {
      document.removeEventListener("mouseout", onOut);
      window.removeEventListener("scroll", onScroll);
      window.removeEventListener("popstate", onBack);
      try { sessionStorage.setItem(flag, "1"); } catch (err) { /* storage blocked */ }
      claim(popover).then(function (granted) {
        if (granted) { queue.push(popover); next(); }
      });
    }
    function onOut(e) {
      if (e.relatedTarget || e.clientY > 0) { return; }  // left through the top edge only
      leaving();
    }
    function onScroll() {  // over a window of time, not event to event: events come unevenly
      var at = Date.now(), y = window.scrollY;
      recent.push([at, y]);
      while (at - recent[0][0] > FLICK_MS) { recent.shift(); }
      var lowest = Math.max.apply(null, recent.map(function (sample) { return sample[1]; }));
      if (lowest - y > FLICK_PX) { leaving(); }
    }
    function onBack(e) {
      if (!e.state || !e.state.journeysExit) { leaving(); }
    }
    document.addEventListener("mouseout", onOut);
    if (TOUCH) {
      window.addEventListener("scroll", onScroll, {passive: true});
      if (!(history.state && history.state.journeysExit)) {
        history.pushState({journeysExit: true}, "", location.href);
      }
      window.addEventListener("popstate", onBack);
    }
  }

  var armed = {};

  function fetchDue() {
    var query = new URLSearchParams({writeKey: writeKey, anonymousId: anonymousId,
                                     sessionId: sessionId, page: location.pathname});
    if (userId) { query.set("userId", userId); }
    return fetch(api + "/v1/popovers?" + query.toString())
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (due) {
        due.forEach(function (popover) {
          if (!popover.claim) { queue.push(popover); }
          else if (!armed[popover.popover_id]) {  // a refresh returns it again while it waits
            armed[popover.popover_id] = true;
            whenLeaving(popover);
          }
        });
        next();
        return due;
      });
  }

  window.journeysPopovers = {
    version: VERSION,
    anonymousId: function () { return anonymousId; },
    identify: function (id) { userId = id; keep("ajs_user_id", id); return call("identify", {}); },
    page: function () { return call("page", {name: document.title}); },
    track: function (event, properties) {
      return call("track", {event: event, properties: properties || {}});
    },
    refresh: fetchDue
  };
  function start() {
    var first = script.getAttribute("data-page") === "true" ?
      window.journeysPopovers.page() : Promise.resolve();
    window.journeysPopovers.ready = first.then(fetchDue, fetchDue);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
