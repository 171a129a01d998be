// remediator console: countdowns, API buttons, live updates and the
// critical pop-up. Every page works without this script (read only).
// Data comes from <meta> tags and data-* attributes; no value from the
// server or the event stream is ever inserted as HTML (textContent only;
// refreshed regions come from the server's own escaped pages).
(function () {
  "use strict";

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") || "" : "";
  }

  var csrf = meta("csrf-token");
  // The server's clock minus the browser's: countdowns count from the
  // server's time, as the page was rendered.
  var serverTime = Date.parse(meta("server-time"));
  var skew = isNaN(serverTime) ? 0 : serverTime - Date.now();

  function now() {
    return Date.now() + skew;
  }

  // short writes a duration as the server does: 45s, 12m, 2h5m, 3d4h.
  function short(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) {
      var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
      return m ? h + "h" + m + "m" : h + "h";
    }
    var d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600);
    return hh ? d + "d" + hh + "h" : d + "d";
  }

  function updateTimes(root) {
    var t = now();
    root.querySelectorAll("time[data-due]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var left = at - t;
      el.textContent = left > 0 ? "in " + short(left) : "overdue " + short(-left);
      el.classList.toggle("overdue", left <= 0);
    });
    root.querySelectorAll("time[data-ago]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = short(t - at) + " ago";
    });
  }

  function flash(msg, isError) {
    var el = document.getElementById("flash");
    if (!el) return;
    el.textContent = msg;
    el.classList.toggle("error", !!isError);
    el.hidden = false;
  }

  // api calls the JSON API with the session cookie and the CSRF token;
  // it rejects with the API's error message.
  function api(method, url, body) {
    var opts = {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
    };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (res) {
      if (res.ok) return res;
      return res
        .json()
        .catch(function () {
          return {};
        })
        .then(function (j) {
          var err = new Error((j && j.error) || res.status + " " + res.statusText);
          err.status = res.status;
          throw err;
        });
    });
  }

  // Buttons with data-api (ack, resolve, approve, reject, expire) call
  // the API, then reload the page to show the result.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-api]");
    if (!btn) return;
    ev.preventDefault();
    var body;
    if (btn.dataset.note) {
      var note = document.getElementById(btn.dataset.note);
      if (note && note.value.trim()) body = { note: note.value.trim() };
    }
    btn.disabled = true;
    api(btn.dataset.method || "POST", btn.dataset.api, body).then(
      function () {
        location.reload();
      },
      function (err) {
        flash(err.message, true);
        btn.disabled = false;
      }
    );
  });

  // parseMatchers reads one matcher a line: name=value, name!=value,
  // name=~regex, name!~regex; a value may be "quoted".
  function parseMatchers(text) {
    var out = [];
    text.split("\n").forEach(function (line) {
      line = line.trim();
      if (!line) return;
      var m = /^([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*)$/.exec(line);
      if (!m) throw new Error("not a matcher (name=value): " + line);
      var value = m[3];
      if (value.length >= 2 && value[0] === '"' && value[value.length - 1] === '"') value = value.slice(1, -1);
      out.push({ name: m[1], value: value, is_regex: m[2] === "=~" || m[2] === "!~", is_equal: m[2] === "=" || m[2] === "=~" });
    });
    if (!out.length) throw new Error("a silence needs at least one matcher");
    return out;
  }

  var silenceForm = document.getElementById("silence-form");
  if (silenceForm) {
    silenceForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body;
      try {
        var hours = parseFloat(document.getElementById("silence-hours").value);
        if (!(hours > 0)) throw new Error("the silence must end in more than 0 hours");
        body = {
          matchers: parseMatchers(document.getElementById("silence-matchers").value),
          ends_at: new Date(now() + hours * 3600 * 1000).toISOString(),
          comment: document.getElementById("silence-comment").value,
        };
      } catch (err) {
        flash(err.message, true);
        return;
      }
      var submit = document.getElementById("silence-create");
      submit.disabled = true;
      api("POST", silenceForm.dataset.api, body).then(
        function () {
          location.reload();
        },
        function (err) {
          flash(err.message, true);
          submit.disabled = false;
        }
      );
    });
  }

  // Live regions: refreshed from the server's own page, which escaped
  // every value. A region is left alone while someone types in it (a
  // note); the next event refreshes it.
  var regions = ["incident-list", "incident-live"];
  var refreshing = false, again = false, timer = null;

  function typingIn(el) {
    var a = document.activeElement;
    return a && el.contains(a) && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT");
  }

  function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    if (!regions.some(function (id) { return document.getElementById(id); })) return;
    refreshing = true;
    fetch(location.pathname + location.search, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (res.redirected && new URL(res.url).pathname === "/login") {
          location.assign("/login");
          return;
        }
        if (!res.ok) return;
        return res.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          regions.forEach(function (id) {
            var cur = document.getElementById(id), fresh = doc.getElementById(id);
            if (!cur || !fresh || typingIn(cur)) return;
            var node = document.importNode(fresh, true);
            cur.replaceWith(node);
            updateTimes(node);
          });
          var n = parseInt(document.body.dataset.refreshed || "0", 10) || 0;
          document.body.dataset.refreshed = String(n + 1);
        });
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  function refreshSoon() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      refresh();
    }, 250);
  }

  // The critical pop-up: one incident at a time, each incident once per
  // browser tab.
  var popup = document.getElementById("popup");
  var queue = [], current = null;
  var seen = loadSeen();

  function loadSeen() {
    try {
      return new Set(JSON.parse(sessionStorage.getItem("remediator.popups") || "[]"));
    } catch (e) {
      return new Set();
    }
  }

  function remember(id) {
    seen.add(id);
    try {
      sessionStorage.setItem("remediator.popups", JSON.stringify(Array.from(seen).slice(-200)));
    } catch (e) {
      // private mode: memory only
    }
  }

  function popupError(msg) {
    var el = document.getElementById("popup-error");
    el.textContent = msg;
    el.hidden = !msg;
  }

  function showNext() {
    current = queue.shift() || null;
    if (!current) {
      popup.hidden = true;
      popup.classList.remove("flash");
      delete popup.dataset.incidentId;
      return;
    }
    document.getElementById("popup-title").textContent = current.title || "Incident " + current.incident;
    document.getElementById("popup-text").textContent = current.text || "";
    document.getElementById("popup-open").setAttribute("href", "/incidents/" + encodeURIComponent(String(current.incident)));
    popup.dataset.incidentId = String(current.incident);
    popupError("");
    var ack = document.getElementById("popup-ack");
    if (ack) ack.disabled = false;
    popup.classList.remove("flash");
    void popup.offsetWidth; // restart the animation
    popup.classList.add("flash");
    popup.hidden = false;
    (ack || document.getElementById("popup-close")).focus();
  }

  function onNotification(n) {
    refreshSoon();
    if (!popup || !n || n.critical !== true) return;
    if (n.event !== "firing" && n.event !== "escalated") return;
    var id = Number(n.incident);
    if (!id || seen.has(id)) return;
    remember(id);
    queue.push(n);
    if (!current) showNext();
  }

  if (popup) {
    var ackBtn = document.getElementById("popup-ack");
    if (ackBtn) {
      ackBtn.addEventListener("click", function () {
        if (!current) return;
        ackBtn.disabled = true;
        api("POST", "/api/v1/incidents/" + encodeURIComponent(String(current.incident)) + "/ack", {}).then(
          function () {
            showNext();
            refreshSoon();
          },
          function (err) {
            if (err.status === 409) {
              // Someone else acknowledged (or resolved) it first.
              showNext();
              refreshSoon();
              return;
            }
            popupError(err.message);
            ackBtn.disabled = false;
          }
        );
      });
    }
    document.getElementById("popup-close").addEventListener("click", showNext);
  }

  function setLive(on) {
    var el = document.getElementById("live-state");
    if (el) {
      el.textContent = on ? "live" : "offline";
      el.classList.toggle("on", on);
    }
    document.body.dataset.live = on ? "true" : "false";
  }

  // The login page probes its next page: a link followed from another
  // site (a notification's) comes without the SameSite=Strict cookie,
  // but this same-site request carries it. With a session, go on.
  function probeSession() {
    var form = document.getElementById("login-form");
    var next = form && form.dataset.next;
    if (!next || next.charAt(0) !== "/" || next.charAt(1) === "/") return;
    fetch(next, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (res.ok && new URL(res.url).pathname !== "/login") location.replace(next);
      })
      .catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    probeSession();
    updateTimes(document);
    setInterval(function () {
      updateTimes(document);
    }, 15000);
    // Changes that page nobody in-app (an ack from the API, a
    // resolve) show within half a minute.
    setInterval(function () {
      if (document.visibilityState === "visible") refreshSoon();
    }, 30000);
    if (!csrf || !window.EventSource) return;
    var es = new EventSource("/api/v1/events");
    es.addEventListener("open", function () {
      setLive(true);
    });
    es.addEventListener("error", function () {
      setLive(false);
    });
    es.addEventListener("notification", function (ev) {
      var n;
      try {
        n = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      onNotification(n);
    });
    es.addEventListener("reset", refreshSoon);
  });

})();
