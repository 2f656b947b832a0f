// Jukebox website: live updates (server-sent events) and forms sent in the
// background on the chat and notification pages. Everything also works
// without this script, by plain form posts and page loads.
(function () {
  "use strict";
  function toast(text) {
    var t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text;
    t.className = "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.className = ""; }, 6000);
  }
  function place(container, html, id, newestFirst) {
    var old = document.getElementById("e" + id);
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var node = holder.firstElementChild;
    if (!node) return;
    if (old) { old.replaceWith(node); return; }
    if (newestFirst) container.prepend(node); else container.append(node);
  }
  function follow(live) {
    var feed = document.getElementById("feed");
    var notices = document.getElementById("notices");
    // On the notifications page, the answers to its buttons (Status,
    // Redeploy) are shown there, once one was pressed.
    var replies = document.getElementById("replies");
    var version = live.getAttribute("data-version") || "0";
    var source = new EventSource("/events?after=" + encodeURIComponent(version));
    source.addEventListener("entry", function (event) {
      var e = JSON.parse(event.data);
      if (e.notice) {
        if (notices) place(notices, e.html, e.id, true);
        toast(e.text);
        var empty = document.getElementById("no-notices");
        if (empty) empty.remove();
      } else if (feed) {
        place(feed, e.html, e.id, false);
        window.scrollTo(0, document.body.scrollHeight);
      } else if (replies && replies.getAttribute("data-open")) {
        place(replies, e.html, e.id, false);
      }
    });
    source.addEventListener("reload", function () { source.close(); location.reload(); });
  }
  function sendInBackground(form, event) {
    event.preventDefault();
    var data = new URLSearchParams(new FormData(form));
    if (event.submitter && event.submitter.name) data.append(event.submitter.name, event.submitter.value);
    var replies = document.getElementById("replies");
    if (replies) replies.setAttribute("data-open", "1");
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, { method: "POST", body: data, headers: { "X-Jukebox-Fetch": "1" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) return r.text().then(function (t) { toast(t || "That did not work; please try again."); });
        if (form.id === "send-form") form.reset();
      })
      .catch(function () { toast("Jukebox cannot be reached; check your connection and try again."); })
      .finally(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  }
  // Copy buttons (hidden without the script): copy the named element's text.
  document.documentElement.className += " js";
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { toast("Select the text and copy it."); return; }
    navigator.clipboard.writeText(source.textContent)
      .then(function () { toast("Copied."); }, function () { toast("Select the text and copy it."); });
  });
  document.addEventListener("DOMContentLoaded", function () {
    var live = document.querySelector("[data-live]");
    if (!live || !window.EventSource || !window.fetch) return;
    follow(live);
    live.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.id === "send-form" || form.classList.contains("press")) sendInBackground(form, event);
    });
    var input = document.getElementById("text");
    if (input) input.focus();
    window.scrollTo(0, document.body.scrollHeight);
  });
})();
