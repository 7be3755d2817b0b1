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

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
    document.querySelectorAll("table.scan-objects").forEach(spareRows);
    document.querySelectorAll("form[data-typeahead]").forEach(setupTypeahead);
    var requestForm = document.getElementById("request-form");
    if (requestForm) { forgetNameOnEdit(requestForm); setupSuggestion(requestForm); }
    document.querySelectorAll("form[data-submit-once]").forEach(submitOnce);
  });
})();
