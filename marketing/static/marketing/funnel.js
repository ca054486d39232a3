// The funnel, measured by our own server: a page view, scroll depth (25/50/75/100 %)
// and clicks on calls to action (elements with data-cta). No cookies, no identifiers
// kept in the browser, and nothing at all when Do-Not-Track or Global Privacy Control is on.
(function () {
  "use strict";
  var script = document.currentScript;
  var url = script && script.getAttribute("data-events-url");
  if (!url || navigator.doNotTrack === "1" || window.doNotTrack === "1" || navigator.globalPrivacyControl) return;

  function send(event) {
    event.path = location.pathname;
    var body = JSON.stringify(event);
    try {
      // keepalive: the request outlives the page when a click navigates away.
      fetch(url, { method: "POST", body: body, keepalive: true, credentials: "omit",
                   headers: { "Content-Type": "application/json" } }).catch(function () {});
    } catch (e) { /* analytics never breaks the page */ }
  }
  window.voicehubFunnel = send;

  send({ kind: "page_view" });

  var reached = {};
  function onScroll() {
    var doc = document.documentElement;
    var scrollable = doc.scrollHeight - window.innerHeight;
    var depth = scrollable <= 0 ? 100 : (window.scrollY / scrollable) * 100;
    [25, 50, 75, 100].forEach(function (mark) {
      if (depth >= mark - 0.5 && !reached[mark]) {
        reached[mark] = true;
        send({ kind: "scroll", value: mark });
      }
    });
  }
  var pending = false;
  window.addEventListener("scroll", function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; onScroll(); });
  }, { passive: true });

  document.addEventListener("click", function (e) {
    var target = e.target.closest && e.target.closest("[data-cta]");
    if (target) send({ kind: "cta_clicked", cta: target.getAttribute("data-cta") });
  });
})();
