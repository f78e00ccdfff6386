/* journeys popovers: the on-site side of the `popover` channel, one dependency-free script.
 *
 *   <script src="https://YOUR-API/v1/popovers.js" data-write-key="WRITE_KEY" async></script>
 *
 * Optional attributes: data-user-id (the signed-in customer), data-page="true" (send a `page`
 * call on load). It uses Segment analytics.js's ids (the `ajs_anonymous_id` / `ajs_user_id`
 * cookies or localStorage), so both can run side by side; asks the API which popovers are due
 * for this visitor, page and browsing session; shows them one at a time as accessible dialogs
 * (focus kept inside, Escape closes, fixed position so the page never shifts); and reports
 * `Popover Viewed`, `Popover Clicked` and `Popover Dismissed`. An `exit_intent` popover waits
 * until the pointer leaves the page towards the top, at most once per session, and is served
 * (counted against the caps) only then, when the API grants it; a
 * `time_sensitive_offer` counts down to its `ends_at` and is gone when it ends (one whose end
 * has passed is not shown at all; the API does not serve it either). Every class is
 * `jp-…` and the built-in style comes first in <head>: a shop's own CSS overrides it.
 */
(function () {
  "use strict";
  var VERSION = "1";
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

  function call(type, fields) {
    // text/plain and the key in the body: a simple request, no CORS preflight, and the
    // request outlives the page (keepalive) when a click navigates away
    var body = {
      writeKey: writeKey, anonymousId: anonymousId, messageId: newId(),
      timestamp: new Date().toISOString(),
      context: {library: {name: "journeys-popovers", version: VERSION},
                page: {path: location.pathname, url: location.href, title: document.title,
                       referrer: document.referrer}}
    };
    if (userId) { body.userId = userId; }
    Object.keys(fields).forEach(function (k) { body[k] = fields[k]; });
    return fetch(api + "/v1/" + type, {method: "POST", mode: "no-cors", keepalive: true,
      headers: {"Content-Type": "text/plain"}, body: JSON.stringify(body)});
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
    "background:none;font-size:22px;line-height:1;cursor:pointer;color:#374151}";

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
    overlay.className = "jp-overlay jp-kind-" + popover.kind;
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
    var cta = null;
    if (fields.cta) {
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
    function done(event) {
      takeDown();
      var sent = report(event, popover);
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
    (cta || close).focus();
    report("Popover Viewed", popover);
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
    var body = {writeKey: writeKey, anonymousId: anonymousId, sessionId: sessionId};
    if (userId) { body.userId = userId; }
    return fetch(api + "/v1/popovers/" + encodeURIComponent(popover.popover_id) + "/shown", {
      method: "POST", headers: {"Content-Type": "text/plain"}, body: JSON.stringify(body)
    }).then(function (r) { return r.ok; }, function () { return false; });
  }

  function whenLeaving(popover) {
    var flag = "journeys_exit_" + popover.popover_id;
    if (session(flag)) { return; }  // at most once per session
    function onOut(e) {
      if (e.relatedTarget || e.clientY > 0) { return; }  // left through the top edge only
      document.removeEventListener("mouseout", onOut);
      try { sessionStorage.setItem(flag, "1"); } catch (err) { /* storage blocked */ }
      claim(popover).then(function (granted) {
        if (granted) { queue.push(popover); next(); }
      });
    }
    document.addEventListener("mouseout", onOut);
  }

  function fetchDue() {
    var query = new URLSearchParams({writeKey: writeKey, anonymousId: anonymousId,
                                     sessionId: sessionId, page: location.pathname});
    if (userId) { query.set("userId", userId); }
    return fetch(api + "/v1/popovers?" + query.toString())
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (due) {
        due.forEach(function (popover) {
          if (popover.kind === "exit_intent") { whenLeaving(popover); }
          else { queue.push(popover); }
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
