// Sorting and filtering for index.html. Vanilla JS, no network. The filter state lives in the URL
// hash (#q=bert&status=fail) so a link (or a headless browser) can open a filtered view.
(function () {
  "use strict";
  var query = document.getElementById("q");
  var status = document.getElementById("status");
  var count = document.getElementById("row-count");
  var cells = Array.prototype.slice.call(document.querySelectorAll("#cells tbody tr"));
  var pivot = Array.prototype.slice.call(document.querySelectorAll("#matrix tbody tr"));

  function matches(tr, terms) {
    var text = tr.textContent.toLowerCase();
    return terms.every(function (t) { return text.indexOf(t) !== -1; });
  }

  function apply() {
    var terms = query.value.toLowerCase().split(/\s+/).filter(Boolean);
    var wanted = status.value;
    var shown = 0;
    cells.forEach(function (tr) {
      var ok = matches(tr, terms) && (!wanted || tr.dataset.status === wanted);
      tr.hidden = !ok;
      if (ok) { shown += 1; }
    });
    pivot.forEach(function (tr) {
      var has = !wanted || (" " + tr.dataset.statuses + " ").indexOf(" " + wanted + " ") !== -1;
      tr.hidden = !(has && matches(tr, terms));
    });
    count.textContent = "Showing " + shown + " of " + cells.length + " cells";
    count.dataset.shown = String(shown);
    count.dataset.total = String(cells.length);
    writeHash();
  }

  function readHash() {
    var params = new URLSearchParams(window.location.hash.slice(1));
    query.value = params.get("q") || "";
    status.value = params.get("status") || "";
  }

  function writeHash() {
    var params = new URLSearchParams();
    if (query.value) { params.set("q", query.value); }
    if (status.value) { params.set("status", status.value); }
    var hash = params.toString();
    try {
      window.history.replaceState(null, "", hash ? "#" + hash : window.location.pathname);
    } catch (e) {
      // Some file:// contexts refuse history updates; filtering still works.
    }
  }

  function sortKey(td) {
    var raw = td.dataset.sort !== undefined ? td.dataset.sort : td.textContent.trim();
    var num = parseFloat(raw);
    return raw !== "" && isFinite(raw) ? num : raw.toLowerCase();
  }

  function compare(a, b) {
    if (typeof a === typeof b) { return a < b ? -1 : a > b ? 1 : 0; }
    return typeof a === "number" ? -1 : 1;  // numbers before text (e.g. blanks)
  }

  function makeSortable(table) {
    var headers = table.querySelectorAll("thead th");
    Array.prototype.forEach.call(headers, function (th, index) {
      th.tabIndex = 0;
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (ra, rb) {
          var c = compare(sortKey(ra.cells[index]), sortKey(rb.cells[index]));
          return ascending ? c : -c;
        });
        rows.forEach(function (tr) { body.appendChild(tr); });
      });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { th.click(); } });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  query.addEventListener("input", apply);
  status.addEventListener("change", apply);
  window.addEventListener("hashchange", function () { readHash(); apply(); });
  readHash();
  apply();
  document.body.dataset.ready = "true";
})();
