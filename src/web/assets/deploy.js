// Jukebox website: the deploy form's live price and the order page's
// progress. Without this script the form has a "Check price" button and
// the order page a Refresh link; the server computes everything either way.
(function () {
  "use strict";
  function fieldValue(form, name) {
    var input = form.elements.namedItem(name);
    return input ? input.value : "";
  }
  // The country and farm pickers show only after the answer that asks
  // for them ("Pick a country"), as the chat asks them.
  function showAsked(form) {
    form.querySelectorAll("[data-after]").forEach(function (field) {
      var wanted = field.getAttribute("data-after-value");
      field.hidden = fieldValue(form, field.getAttribute("data-after")) !== wanted;
    });
  }
  function followForm(form) {
    var body = document.getElementById("quote-body");
    var url = form.getAttribute("data-quote");
    var timer = null;
    var asked = 0;
    function refresh() {
      var sent = ++asked;
      var data = new URLSearchParams(new FormData(form));
      fetch(url, { method: "POST", body: data, headers: { "X-Jukebox-Fetch": "1" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && sent === asked && body) body.innerHTML = html; })
        .catch(function () {});
    }
    function changed() {
      showAsked(form);
      clearTimeout(timer);
      timer = setTimeout(refresh, 350);
    }
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    showAsked(form);
  }
  // While an order waits for its payment or deploys, its page follows it.
  function followOrder(live) {
    var seconds = parseInt(live.getAttribute("data-poll"), 10) || 5;
    setTimeout(function poll() {
      fetch(location.href, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.getElementById("order-live");
          if (!fresh) return;
          var steps = page.querySelector("ol.steps");
          var mine = document.querySelector("ol.steps");
          if (steps && mine) mine.replaceWith(steps);
          live.innerHTML = fresh.innerHTML;
          if (fresh.hasAttribute("data-poll")) setTimeout(poll, seconds * 1000);
          else live.removeAttribute("data-poll");
        })
        .catch(function () { setTimeout(poll, seconds * 1000); });
    }, seconds * 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.fetch) return;
    var form = document.getElementById("deploy-form");
    if (form) followForm(form);
    var live = document.querySelector("#order-live[data-poll]");
    if (live && window.DOMParser) followOrder(live);
  });
})();
