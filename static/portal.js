// Small enhancements; every page works without this file.
// Kept out of the HTML (no inline script, no on* attributes) so a strict Content-Security-Policy holds.
(function () {
  "use strict";

  // Host type-ahead: the search form's results appear under it as you type; "Use" fills the request form.
  function setupTypeahead(form) {
    var input = form.querySelector("input[name=q]");
    var target = document.getElementById(form.getAttribute("data-typeahead"));
    var requestForm = document.getElementById("request-form");
    if (!input || !target) { return; }
    var timer = null;
    var latest = 0;

    function search() {
      var query = input.value.trim();
      if (query.length < 2) { target.innerHTML = ""; return; }
      var params = new URLSearchParams(new FormData(form));
      params.set("q", input.value);  // on the request form, the field belongs to that form (no-JS search)
      params.set("fragment", "1");
      var ticket = ++latest;
      fetch(form.action + "?" + params.toString(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.text(); })
        .then(function (html) { if (ticket === latest) { target.innerHTML = html; } })
        .catch(function () { /* the Search button still works */ });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(search, 250);
    });
    if (requestForm) {
      // On the request form, Search submits that form (so that without JS nothing typed is lost); with JS, search in place.
      requestForm.addEventListener("submit", function (event) {
        if (!event.submitter || event.submitter.name !== "step" || event.submitter.value !== "search") { return; }
        event.preventDefault();
        // Enter in another field of the form also "clicks" Search (it comes first): that one means Preview.
        var field = document.activeElement;
        var preview = requestForm.querySelector("button[name=step][value=preview]");
        if (field && field.form === requestForm && field !== input && field !== event.submitter && preview) {
          // Not from inside this submit event: the browser ignores a submission started while one is being fired.
          window.setTimeout(function () { requestForm.requestSubmit(preview); }, 0);
        } else {
          search();
        }
      });
    }
    form.addEventListener("submit", function (event) {
      if (!requestForm) { return; }  // on the search page itself, submit normally
      event.preventDefault();
      search();
    });
    target.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-host-id]");
      if (!link || !requestForm) { return; }
      event.preventDefault();
      chooseHost(requestForm, link);
      target.innerHTML = "";
    });
  }

  // "Select" in the results, or "Did you mean ...?" under the host field: fill the request form in place.
  function chooseHost(requestForm, link) {
    requestForm.querySelector("[name=target_host]").value = link.getAttribute("data-host-id");
    requestForm.querySelector("[name=target_host_name]").value = link.getAttribute("data-host-name");
    // The host's KSC server (several servers): host ids are unique per server only.
    var server = requestForm.querySelector("[name=server]");
    if (server && link.getAttribute("data-server")) { server.value = link.getAttribute("data-server"); }
    var chosen = document.getElementById("chosen-host");
    if (chosen) { chosen.textContent = link.getAttribute("data-host-name"); }
    requestForm.querySelector("[name=target_host]").focus();
  }

  function setupSuggestion(requestForm) {
    requestForm.addEventListener("click", function (event) {
      var link = event.target.closest(".did-you-mean a[data-host-id]");
      if (!link) { return; }
      event.preventDefault();
      chooseHost(requestForm, link);
      link.closest(".did-you-mean").hidden = true;
    });
  }

  // A host id typed by hand no longer matches the display name the search put beside it.
  function forgetNameOnEdit(requestForm) {
    var id = requestForm.querySelector("[name=target_host]");
    var name = requestForm.querySelector("[name=target_host_name]");
    if (!id || !name) { return; }
    id.addEventListener("input", function () {
      name.value = "";
      var chosen = document.getElementById("chosen-host");
      if (chosen) { chosen.textContent = ""; }
    });
  }

  // A second click on a submit button does not send the form again (the server guards filing too).
  function submitOnce(form) {
    form.addEventListener("submit", function (event) {
      // A form that asks first (cancelling a request): nothing is sent unless the user confirms.
      var question = form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) { event.preventDefault(); return; }
      if (form.getAttribute("data-submitted")) { event.preventDefault(); return; }
      form.setAttribute("data-submitted", "1");
    });
  }

  // onDemandScan's 16 rows: only the filled ones and one empty row show; "Add another" shows the next.
  // Without this script every row shows (and empty rows are still ignored).
  function spareRows(table) {
    var button = table.parentNode.querySelector("button.add-row");
    if (!button) { return; }
    function isEmpty(row) {
      return !Array.prototype.some.call(row.querySelectorAll("input, select"), function (field) {
        if (field.type === "checkbox") { return field.checked; }
        return field.type !== "hidden" && field.value !== "";
      });
    }
    var rows = Array.prototype.slice.call(table.querySelectorAll("tr.scan-row"));
    var shownEmpty = false;
    rows.forEach(function (row) {
      if (!isEmpty(row)) { return; }
      if (shownEmpty) { row.hidden = true; } else { shownEmpty = true; }
    });
    function update() { button.hidden = !rows.some(function (row) { return row.hidden; }); }
    button.addEventListener("click", function () {
      var next = rows.filter(function (row) { return row.hidden; })[0];
      if (!next) { return; }
      next.hidden = false;
      var first = next.querySelector("input:not([type=hidden]), select");
      if (first) { first.focus(); }
      update();
    });
    update();
  }

  // Work is never lost (issue 17, point 1): the request form's fields are kept in this tab's sessionStorage,
  // per user and task, as they are typed; a fresh load of the same form (after a login that followed an
  // expired session, or a change of language) puts back what is empty. A chosen file is never stored: the
  // form says to attach it again. The draft goes when the request is filed and at logout.
  var DRAFT_PREFIX = "portal-draft:";

  function storage() {
    try { return window.sessionStorage; } catch (error) { return null; }
  }

  function draftFields(form) {
    return Array.prototype.filter.call(form.elements, function (field) {
      if (!field.name || field.disabled) { return false; }
      if (field.type === "submit" || field.type === "button" || field.type === "reset") { return false; }
      if (field.type === "hidden") { return field.name === "target_host_name"; }
      return field.name !== "csrfmiddlewaretoken" && field.name !== "q";
    });
  }

  function keepDraft(form, store) {
    var key = DRAFT_PREFIX + form.getAttribute("data-draft");
    function save() {
      var draft = { fields: {}, files: [] };
      draftFields(form).forEach(function (field) {
        if (field.type === "file") {
          if (field.files && field.files.length) { draft.files.push(field.name); }
        } else if (field.type === "checkbox") {
          draft.fields[field.name] = field.checked ? "on" : "";
        } else if (field.type === "radio") {
          if (field.checked) { draft.fields[field.name] = field.value; }
        } else {
          draft.fields[field.name] = field.value;
        }
      });
      store.setItem(key, JSON.stringify(draft));
    }
    form.addEventListener("input", save);
    form.addEventListener("change", save);

    if (!form.hasAttribute("data-draft-restore")) { return; }
    var draft = null;
    try { draft = JSON.parse(store.getItem(key) || "null"); } catch (error) { draft = null; }
    if (!draft || !draft.fields) { return; }
    var restored = false;
    draftFields(form).forEach(function (field) {
      if (!Object.prototype.hasOwnProperty.call(draft.fields, field.name) || field.type === "file") { return; }
      var value = draft.fields[field.name];
      if (field.type === "checkbox") {
        if (value && !field.checked) { field.checked = true; restored = true; }
      } else if (field.type === "radio") {
        var group = form.querySelectorAll("input[type=radio][name='" + field.name + "']");
        var any = Array.prototype.some.call(group, function (radio) { return radio.checked; });
        if (!any && field.value === value) { field.checked = true; restored = true; }
      } else if (field.value === "" && value) {
        field.value = value;
        restored = true;
      }
    });
    var chosen = document.getElementById("chosen-host");
    var name = form.querySelector("[name=target_host_name]");
    if (chosen && name && name.value && !chosen.textContent.trim()) { chosen.textContent = name.value; }
    if (restored) {
      var notice = document.getElementById("draft-restored");
      if (notice) { notice.hidden = false; }
    }
    if (draft.files && draft.files.length) {
      var again = document.getElementById("file-again");
      if (again) { again.hidden = false; }
    }
  }

  function dropDrafts(store, key) {
    for (var i = store.length - 1; i >= 0; i--) {
      var name = store.key(i);
      if (name && name.indexOf(DRAFT_PREFIX) === 0 && (!key || name === DRAFT_PREFIX + key)) { store.removeItem(name); }
    }
  }

  function setupDrafts() {
    var store = storage();
    if (!store) { return; }
    document.querySelectorAll("[data-draft-filed]").forEach(function (marker) {
      dropDrafts(store, marker.getAttribute("data-draft-filed"));
    });
    document.querySelectorAll("form.logout").forEach(function (form) {
      form.addEventListener("submit", function () { dropDrafts(store, ""); });
    });
    var form = document.querySelector("form[data-draft]");
    if (form) {
      // Someone else's draft left in this tab (their session ended without a logout) is dropped unread.
      var user = form.getAttribute("data-draft").split(":")[0] + ":";
      for (var i = store.length - 1; i >= 0; i--) {
        var name = store.key(i);
        if (name && name.indexOf(DRAFT_PREFIX) === 0 && name.indexOf(DRAFT_PREFIX + user) !== 0) { store.removeItem(name); }
      }
      keepDraft(form, store);
    }
  }

  // The theme switch says what it will do: with no choice kept and a dark system, it offers light.
  function setupThemeSwitch() {
    var button = document.getElementById("theme-switch");
    if (!button || !button.dataset.systemLightLabel || !window.matchMedia) { return; }
    if (window.matchMedia("(prefers-color-scheme: dark)").matches) {
      button.value = "light";
      button.textContent = button.dataset.systemLightLabel;
      button.setAttribute("aria-label", button.dataset.systemLightAria);
    }
  }

  // The auditors' filters fold on a phone (they took 1,222 px before the first row); open on wide screens.
  function setupFilterFold() {
    var fold = document.querySelector("details[data-open-wide]");
    if (fold && window.matchMedia && window.matchMedia("(min-width: 48rem)").matches) { fold.open = true; }
  }

  // The approval queue from the keyboard: j/k next and previous, o open, a to the Approve button,
  // r to the comment (a rejection needs a reason), ? the list. A key never decides by itself:
  // Approve and Reject still take a press of their button (Enter), with the step-up where due.
  function setupQueueKeys() {
    var cards = Array.prototype.slice.call(document.querySelectorAll(".queue-entry"));
    var help = document.getElementById("shortcuts-help");
    if (!cards.length && !help) { return; }
    var hint = document.getElementById("shortcuts-hint");
    if (hint) { hint.hidden = false; }
    var current = -1;
    function select(index) {
      if (!cards.length) { return; }
      if (current >= 0) { cards[current].classList.remove("current"); }
      current = Math.max(0, Math.min(cards.length - 1, index));
      var card = cards[current];
      card.classList.add("current");
      var link = card.querySelector("h2 a");
      if (link) { link.focus(); }
      card.scrollIntoView({ block: "nearest" });
    }
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) { return; }
      var target = event.target;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) { return; }
      if (help && help.open && event.key !== "?") { return; }
      var card = current >= 0 ? cards[current] : null;
      switch (event.key) {
        case "j": case "n": select(current + 1); break;
        case "k": case "p": select(current <= 0 ? 0 : current - 1); break;
        case "o":
          if (card) { var link = card.querySelector("h2 a"); if (link) { window.location.href = link.href; } }
          break;
        case "a":
          if (card) { var approve = card.querySelector("button.primary"); if (approve) { approve.focus(); } }
          break;
        case "r":
          if (card) { var comment = card.querySelector("textarea"); if (comment) { comment.focus(); } }
          break;
        case "?":
          if (help) { if (help.open) { help.close(); } else { help.showModal(); } }
          break;
        default: return;
      }
      event.preventDefault();
    });
  }

  // A page that refreshes itself (templates/_refresh.html): reloaded after its seconds, unless the reader
  // stopped it or is typing (a field has the focus: the reload waits); axe-core's meta-refresh rule.
  function setupRefresh() {
    var meta = document.querySelector("meta[name=portal-refresh]");
    var seconds = meta ? parseInt(meta.getAttribute("content"), 10) : 0;
    var control = document.getElementById("refresh-control");
    var stop = document.getElementById("refresh-stop");
    if (!seconds || seconds < 1 || !control || !stop) { return; }
    var stopped = false;
    control.hidden = false;
    function busy() {
      var active = document.activeElement;
      return active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
    }
    function tick() {
      if (stopped) { return; }
      if (busy()) { window.setTimeout(tick, seconds * 1000); return; }
      window.location.reload();
    }
    window.setTimeout(tick, seconds * 1000);
    stop.addEventListener("click", function () {
      stopped = true;
      stop.disabled = true;
      stop.textContent = stop.getAttribute("data-stopped");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupRefresh();
    setupThemeSwitch();
    setupFilterFold();
    setupQueueKeys();
    setupDrafts();
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
    document.querySelectorAll("table.scan-objects").forEach(spareRows);
    document.querySelectorAll("form[data-typeahead]").forEach(setupTypeahead);
    var requestForm = document.getElementById("request-form");
    if (requestForm) { forgetNameOnEdit(requestForm); setupSuggestion(requestForm); }
    document.querySelectorAll("form[data-submit-once]").forEach(submitOnce);
    // An isolation's end typed as a date and time is in the user's time zone: the browser's, unless typed.
    document.querySelectorAll("input[data-browser-time-zone]").forEach(function (input) {
      if (!input.value && window.Intl) { input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; }
    });
  });
})();
