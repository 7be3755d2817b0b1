// Self-refreshing pages (the approval queue, a requester's pages) and the menu's count of waiting requests.
// Polls a small JSON endpoint; reloads only when what the page shows has changed and nobody is typing:
// with a comment half written, it offers the reload instead. Kept in a file: the CSP forbids inline script.
(function () {
  "use strict";


  function typing() {
    var active = document.activeElement;
    if (active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) && active.type !== "submit") { return true; }
    var fields = document.querySelectorAll("textarea, input[type=text], input[type=password]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value && fields[i].value !== fields[i].defaultValue) { return true; }
    }
    return false;
  }

  function offerReload(box) {
    if (document.getElementById("live-changed")) { return; }
    var note = document.createElement("p");
    note.id = "live-changed";
    note.className = "banner banner-warning";
    note.setAttribute("role", "status");
    note.textContent = box.getAttribute("data-changed-text") || "This page has changed.";
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = box.getAttribute("data-reload-text") || "Reload";
    button.addEventListener("click", function () { window.location.reload(); });
    note.appendChild(document.createTextNode(" "));
    note.appendChild(button);
    var main = document.querySelector("main");
    if (main) { main.insertBefore(note, main.firstChild); }
  }

  function updateBadge(count, label) {
    var badge = document.getElementById("waiting-count");
    if (!badge) { return; }
    badge.textContent = count > 0 ? (label || String(count)) : "";
    badge.hidden = !(count > 0);
  }

  function changed(box, data) {
    var stamps = JSON.parse(box.getAttribute("data-stamps") || "{}");
    var keys = Object.keys(stamps);
    for (var i = 0; i < keys.length; i++) {
      if (data.requests[keys[i]] !== undefined && data.requests[keys[i]] !== stamps[keys[i]]) { return true; }
    }
    var queue = box.getAttribute("data-queue");
    return queue !== null && data.queue !== undefined && data.queue !== queue;
  }

  function poll(box) {
    var stamps = JSON.parse(box.getAttribute("data-stamps") || "{}");
    var url = box.getAttribute("data-url") + "?requests=" + encodeURIComponent(Object.keys(stamps).join(","));
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        updateBadge(data.waiting, data.waiting_label);
        if (!changed(box, data)) { return; }
        if (typing()) { offerReload(box); } else { window.location.reload(); }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("live-updates");
    if (!box) { return; }
    var seconds = parseInt(box.getAttribute("data-interval"), 10) || 15;
    window.setInterval(function () { if (!document.hidden) { poll(box); } }, seconds * 1000);
  });
})();
