// Gantry console: the little the pages need beyond htmx. No inline script anywhere (the
// Content-Security-Policy forbids it): everything hooks on data attributes.
(function () {
  "use strict";

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  // Every htmx request that changes state carries the anti-forgery token.
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
  });

  // An htmx request answered with an error still shows the answer (the API's message).
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status >= 400 && e.detail.xhr.status !== 401) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // Times come in UTC; show them in the browser's zone, the UTC value on hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      if (t.dataset.local) return;
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.dataset.local = "1";
      t.title = t.title || t.getAttribute("datetime");
      t.textContent = d.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
    });
  }

  // Live regions: <div data-live="/ui/…/stream"> follows a stream of Server-Sent Events
  // whose data is the region's new HTML (rendered and escaped by the server); the stream's
  // "end" event closes it.
  function follow(root) {
    root.querySelectorAll("[data-live]").forEach(function (el) {
      if (el.dataset.following) return;
      el.dataset.following = "1";
      var src = new EventSource(el.dataset.live);
      src.onmessage = function (e) {
        var target = el.dataset.liveTarget ? document.getElementById(el.dataset.liveTarget) : el;
        if (!target) return;
        target.innerHTML = e.data;
        if (window.htmx) window.htmx.process(target);
        localTimes(target);
        if (target.dataset.liveScroll !== undefined) target.scrollTop = target.scrollHeight;
      };
      src.addEventListener("end", function () { src.close(); el.dataset.ended = "1"; });
      src.onerror = function () {
        if (el.dataset.ended) src.close();
      };
    });
  }

  function init(root) {
    localTimes(root);
    follow(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (e) { init(e.detail.elt || document); });
})();
