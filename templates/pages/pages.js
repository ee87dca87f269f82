// The only script of the public pages (served from /assets/pages.js under a CSP that allows
// nothing else). Two jobs, both optional: the page works without it.
// 1. The live auction panel (#live): follows GET /api/v1/listings/{id}/auction/events
//    (Server-Sent Events `bid`, `extended`, `phase`, `closed`) and ticks the countdown from
//    the server's time.
// 2. The token forms (#token-form): POST the e-mail verification or password-reset token to
//    the JSON API when the person presses the button (never on page load).
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  // "10100000.00" -> "10,100,000.00", without floating point.
  function yuan(s) {
    var parts = String(s).split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return whole + "." + ((parts[1] || "") + "00").slice(0, 2);
  }

  // An RFC 3339 instant as Beijing time, "YYYY-MM-DD HH:MM:SS".
  function beijing(iso) {
    var d = new Date(Date.parse(iso) + 8 * 3600 * 1000);
    return d.toISOString().slice(0, 19).replace("T", " ");
  }

  function clock(seconds) {
    var s = Math.max(0, Math.ceil(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h > 0 ? h + ":" + pad(m) + ":" + pad(r) : m + ":" + pad(r);
  }

  function live(panel) {
    var d = panel.dataset;
    if (d.live !== "true" || !window.EventSource) { return; }
    var t = function (key) { return d["t" + key] || ""; };
    var state = {
      offset: Date.parse(d.serverTime) - Date.now(),
      startsAt: Date.parse(d.startsAt),
      freeEndsAt: Date.parse(d.freeEndsAt),
      endsAt: Date.parse(d.endsAt),
      phase: d.phase,
      lastSeq: parseInt(d.lastSeq, 10) || 0,
      closed: false,
      pausedLeft: null
    };
    var els = {
      price: $("live-price"), leader: $("live-leader"), phase: $("live-phase"),
      remaining: $("live-remaining"), label: $("live-remaining-label"), count: $("live-count"),
      bids: $("live-bids"), none: $("live-no-bids"), status: $("live-status"), endsAt: $("live-ends-at")
    };
    var cap = function (s) { return s.charAt(0).toUpperCase() + s.slice(1); };

    function localPhase(now) {
      if (state.closed || state.phase === "closed" || state.phase === "paused" || state.phase === "sealed") { return state.phase; }
      if (now < state.startsAt) { return "scheduled"; }
      if (now >= state.endsAt) { return "closed"; }
      return now < state.freeEndsAt ? "free" : "countdown";
    }

    function tick() {
      var now = Date.now() + state.offset;
      var phase = localPhase(now);
      var target = { scheduled: "start", free: "free", countdown: "end", paused: "paused", sealed: "sealed" }[phase] || "closed";
      var until = { start: state.startsAt, free: state.freeEndsAt, end: state.endsAt, sealed: state.freeEndsAt }[target];
      els.phase.textContent = t("Phase" + cap(phase)) || phase;
      els.label.textContent = t("Remaining" + cap(target));
      if (target === "paused") {
        // A suspended auction's clock stands still: show what was left, frozen.
        els.remaining.textContent = state.pausedLeft === null ? "—" : clock(state.pausedLeft);
      } else {
        els.remaining.textContent = until ? clock((until - now) / 1000) : "—";
      }
    }

    function onAuction(a, closed) {
      state.offset = Date.parse(a.server_time) - Date.now();
      state.startsAt = Date.parse(a.starts_at);
      state.freeEndsAt = Date.parse(a.free_ends_at);
      state.endsAt = Date.parse(a.ends_at);
      state.phase = a.phase;
      state.pausedLeft = typeof a.remaining_seconds === "number" ? a.remaining_seconds : null;
      if (a.current_price) { els.price.textContent = "¥" + yuan(a.current_price); }
      if (a.leading_bidder_code) { els.leader.textContent = a.leading_bidder_code; }
      els.count.textContent = a.bid_count;
      if (els.endsAt) { els.endsAt.textContent = beijing(a.ends_at); }
      if (closed) {
        state.closed = true;
        state.phase = "closed";
        if (els.status) { els.status.textContent = t("Closed"); }
      }
      tick();
    }

    function onBid(b) {
      if (b.seq <= state.lastSeq) { return; }
      state.lastSeq = b.seq;
      state.endsAt = Date.parse(b.ends_at);
      els.price.textContent = "¥" + yuan(b.amount);
      els.leader.textContent = b.bidder_code;
      els.count.textContent = b.seq;
      if (els.endsAt) { els.endsAt.textContent = beijing(b.ends_at); }
      var row = document.createElement("tr");
      row.dataset.seq = b.seq;
      row.className = "fresh";
      var cells = [[String(b.seq), "num"], ["¥" + yuan(b.amount), "num"], [b.bidder_code, "mono"], [beijing(b.placed_at), ""]];
      var heads = els.bids.closest("table").querySelectorAll("thead th");
      cells.forEach(function (c, i) {
        var td = document.createElement("td");
        td.textContent = c[0];
        if (c[1]) { td.className = c[1]; }
        if (heads[i]) { td.dataset.label = heads[i].textContent; }
        row.appendChild(td);
      });
      els.bids.insertBefore(row, els.bids.firstChild);
      if (els.none) { els.none.hidden = true; }
      if (els.status) {
        els.status.textContent = t("NewBid").replace("{amount}", yuan(b.amount)).replace("{code}", b.bidder_code);
      }
      tick();
    }

    var source = new EventSource(d.events);
    source.addEventListener("open", function () {
      if (els.status && !state.closed) { els.status.textContent = t("Connected"); }
    });
    source.addEventListener("error", function () {
      if (els.status && !state.closed) { els.status.textContent = t("Reconnecting"); }
    });
    source.addEventListener("bid", function (e) { onBid(JSON.parse(e.data)); });
    // A sealed auction's opening: every bid at once.
    source.addEventListener("opened", function (e) { JSON.parse(e.data).bids.forEach(onBid); });
    source.addEventListener("extended", function (e) { onAuction(JSON.parse(e.data), false); });
    source.addEventListener("phase", function (e) { onAuction(JSON.parse(e.data), false); });
    source.addEventListener("closed", function (e) {
      onAuction(JSON.parse(e.data), true);
      source.close();
    });
    tick();
    window.setInterval(tick, 250);
  }

  function tokenForm(form) {
    var d = form.dataset;
    var result = $("form-result");
    var say = function (text, ok) {
      result.textContent = text;
      result.className = "form-result " + (ok ? "ok" : "bad");
    };
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = { token: d.token };
      if (d.kind === "reset") {
        var a = $("new-password").value, b = $("new-password-again").value;
        if (a !== b) { say(d.msgMismatch, false); return; }
        body.new_password = a;
      }
      var button = form.querySelector("button");
      button.disabled = true;
      say(d.msgBusy, true);
      fetch(form.getAttribute("action"), {
        method: "POST",
        headers: { "content-type": "application/json", "accept": "application/json, application/problem+json" },
        body: JSON.stringify(body),
        credentials: "omit"
      }).then(function (r) {
        if (r.ok) { say(d.msgOk, true); return null; }
        return r.json().catch(function () { return {}; }).then(function (p) {
          var code = p && p.code;
          var message = code === "token_expired" ? d.msgExpired
            : code === "invalid_token" ? d.msgInvalid
            : (p && p.errors && p.errors[0] && p.errors[0].message) || (p && p.detail) || d.msgError;
          say(message, false);
          button.disabled = false;
        });
      }).catch(function () {
        say(d.msgError, false);
        button.disabled = false;
      });
    });
  }

  var panel = $("live");
  if (panel) { live(panel); }
  var form = $("token-form");
  if (form) { tokenForm(form); }
})();
