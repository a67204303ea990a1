// index.html's script: draws the matrix from the page's JSON data for the envs and columns picked,
// filters it, sorts it, and shows a cell's details. Vanilla JS, no network. The view lives in the
// URL hash (#q=bert&status=fail&envs=a,b&cols=auto,optimum&cell=12) so a link reopens it.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("matrix-data").textContent);
  var GLYPH = { "pass": "\u2713", "ort-only": "\u2713", "fail": "\u2717", "n/a": "\u2013" };
  var CLASS = { "pass": "s-pass", "ort-only": "s-ort", "fail": "s-fail", "n/a": "s-na" };
  var RANK = { "fail": 0, "n/a": 1, "ort-only": 2, "pass": 3 };  // sorting a column: failures first
  var VGLYPH = { "regression": "\u25bc", "new pass": "\u25b2", "changed": "\u21bb", "unrecorded": "\u2605" };
  var table = document.getElementById("matrix");
  var query = document.getElementById("q");
  var status = document.getElementById("status");
  var count = document.getElementById("row-count");
  var details = document.getElementById("details");
  var detailsBody = document.getElementById("details-body");
  var sortKey = { by: "model", ascending: true };
  var openCell = null;

  var lookup = {};
  var nEnvs = data.envs.length, nColumns = data.columns.length;
  data.cells.forEach(function (cell, n) {
    var i = cell.i;  // (row x envs + env) x columns + column
    cell.i = [Math.floor(i / (nEnvs * nColumns)), Math.floor(i / nColumns) % nEnvs, i % nColumns];
    lookup[cell.i.join("|")] = n;
  });

  var MODEL = "\u2039model\u203a";
  function str(n) { return n === undefined ? "" : data.strings[n]; }
  function source(n) { var c = data.cells[n]; return c.a === undefined ? c : data.cells[c.a]; }
  function statusOf(c) { return data.statuses[c.s]; }
  function verdictOf(c) {
    if (c.v !== undefined) { return data.verdicts[c.v]; }
    return data.envs[c.i[1]].record ? "expected" : null;
  }
  function caseId(c) { return data.rows[c.i[0]].join("-") + "-" + data.columns[c.i[2]]; }
  // A cell's error, its model type in place of the "‹model›" the data writes causes shared by
  // several model types with.
  function message(c) { return str(c.m).split(MODEL).join(data.rows[c.i[0]][0]); }
  function checked(name) {
    return Array.prototype.slice.call(document.querySelectorAll('input[name="' + name + '"]'))
      .filter(function (box) { return box.checked; }).map(function (box) { return box.value; });
  }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function fmt(x) { return x === undefined || x === null ? "" : Number(x).toExponential(1); }

  function cellText(c) {
    var st = statusOf(c);
    if (st === "fail") { return GLYPH[st] + " " + str(c.g); }
    if (st === "n/a") { return GLYPH[st]; }
    return (GLYPH[st] + " " + fmt(worst(c))).trim();
  }

  // The figure a cell shows: its own "d" where given, else the largest of its Optimum-run
  // figures (or ONNX Runtime's, which "p" = 1 repeats).
  function worst(c) {
    if (c.d !== undefined) { return c.d; }
    var figures = Array.isArray(c.p) ? c.p : c.o;
    if (!figures || !figures.length) { return undefined; }
    return Math.max.apply(null, figures.map(function (o) { return o[1]; }));
  }

  function searchable(c) {
    return [caseId(c), str(c.g), message(c), statusOf(c), verdictOf(c) || ""].join(" ").toLowerCase();
  }

  function state() {
    var envs = checked("envs"), cols = checked("columns");
    return {
      terms: query.value.toLowerCase().split(/\s+/).filter(Boolean),
      status: status.value,
      envs: data.envs.map(function (e, n) { return n; }).filter(function (n) { return envs.indexOf(data.envs[n].name) !== -1; }),
      cols: data.columns.map(function (c, n) { return n; }).filter(function (n) { return cols.indexOf(data.columns[n]) !== -1; })
    };
  }

  function rowCells(r, view) {
    var found = [];
    view.envs.forEach(function (e) {
      view.cols.forEach(function (k) {
        var n = lookup[[r, e, k].join("|")];
        found.push(n === undefined ? null : n);
      });
    });
    return found;
  }

  function rowMatches(r, cells, view) {
    var text = data.rows[r].join(" ").toLowerCase();
    cells.forEach(function (n) { if (n !== null) { text += " " + searchable(source(n)); } });
    var words = view.terms.every(function (t) { return text.indexOf(t) !== -1; });
    if (!words) { return false; }
    if (!view.status) { return true; }
    return cells.some(function (n) {
      if (n === null) { return false; }
      var c = source(n);
      if (view.status === "changed") { var v = verdictOf(c); return v !== null && v !== "expected"; }
      return statusOf(c) === view.status;
    });
  }

  function order(rows, view) {
    var k = sortKey.by;
    return rows.slice().sort(function (a, b) {
      var x, y;
      if (k === "model" || k === "task") {
        var i = k === "model" ? 0 : 1;
        x = data.rows[a][i] + " " + data.rows[a][1 - i];
        y = data.rows[b][i] + " " + data.rows[b][1 - i];
      } else {
        var na = lookup[[a, k[0], k[1]].join("|")], nb = lookup[[b, k[0], k[1]].join("|")];
        x = na === undefined ? 9 : RANK[statusOf(source(na))];
        y = nb === undefined ? 9 : RANK[statusOf(source(nb))];
      }
      var c = x < y ? -1 : x > y ? 1 : a - b;
      return sortKey.ascending ? c : -c;
    });
  }

  function sortable(th, key) {
    th.tabIndex = 0;
    th.className = "sortable";
    if (JSON.stringify(sortKey.by) === JSON.stringify(key)) {
      th.setAttribute("aria-sort", sortKey.ascending ? "ascending" : "descending");
    }
    function go() {
      var same = JSON.stringify(sortKey.by) === JSON.stringify(key);
      sortKey = { by: key, ascending: same ? !sortKey.ascending : true };
      draw();
    }
    th.addEventListener("click", go);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
  }

  function head(view) {
    var thead = el("thead"), top = el("tr"), sub = el("tr");
    ["model", "task"].forEach(function (name) {
      var th = el("th", name); th.rowSpan = 2; sortable(th, name); top.appendChild(th);
    });
    view.envs.forEach(function (e) {
      var th = el("th", data.envs[e].name, "env"); th.colSpan = view.cols.length; top.appendChild(th);
      view.cols.forEach(function (k) { var s = el("th", data.columns[k]); sortable(s, [e, k]); sub.appendChild(s); });
    });
    thead.appendChild(top); thead.appendChild(sub);
    return thead;
  }

  function td(n) {
    if (n === null) { return el("td", "", "cell"); }
    var c = source(n), v = verdictOf(c);
    var cell = el("td", cellText(c), "cell " + CLASS[statusOf(c)]);
    if (VGLYPH[v]) {
      cell.appendChild(el("span", " " + VGLYPH[v], "mark v-" + v.replace(" ", "-")));
      cell.className += " changed";
    }
    cell.dataset.cell = String(n);
    cell.tabIndex = 0;
    cell.title = c.g !== undefined ? str(c.g) + ": " + message(c) : statusOf(c);
    return cell;
  }

  function draw() {
    var view = state();
    while (table.firstChild) { table.removeChild(table.firstChild); }
    table.appendChild(head(view));
    var body = el("tbody"), shown = 0, total = data.rows.length;
    order(data.rows.map(function (r, n) { return n; }), view).forEach(function (r) {
      var cells = rowCells(r, view);
      if (!rowMatches(r, cells, view)) { return; }
      var tr = el("tr");
      tr.appendChild(el("td", data.rows[r][0]));
      tr.appendChild(el("td", data.rows[r][1]));
      cells.forEach(function (n) { tr.appendChild(td(n)); });
      body.appendChild(tr);
      shown += 1;
    });
    table.appendChild(body);
    count.textContent = "Showing " + shown + " of " + total + " model \u00d7 task rows";
    count.dataset.shown = String(shown);
    count.dataset.total = String(total);
    filterFailures(view);
    writeHash();
  }

  function filterFailures(view) {
    var envs = view.envs.map(function (e) { return data.envs[e].name; });
    // A cell of a shared cause matches on the cause's text too; the cause shows while a cell does.
    Array.prototype.forEach.call(document.querySelectorAll("#failures li[data-cell]"), function (li) {
      var group = li.parentElement.closest("li.group");
      var text = (li.textContent + " " + (group ? group.querySelector(".cause").textContent : "")).toLowerCase();
      var ok = envs.indexOf(li.dataset.env) !== -1 && view.terms.every(function (t) { return text.indexOf(t) !== -1; });
      li.hidden = !ok;
    });
    Array.prototype.forEach.call(document.querySelectorAll("#failures li.group"), function (group) {
      group.hidden = !group.querySelector("li[data-cell]:not([hidden])");
    });
  }

  function pair(dl, name, value) {
    if (value === undefined || value === null || value === "") { return; }
    dl.appendChild(el("dt", name));
    dl.appendChild(el("dd", value));
  }

  function outputs(title, list, tol) {
    var box = el("div", null, "figures");
    box.appendChild(el("h4", title + (tol ? " (atol " + tol[0] + ", rtol " + tol[1] + ")" : "")));
    var t = el("table");
    list.forEach(function (p) {
      var tr = el("tr"); tr.appendChild(el("td", str(p[0]))); tr.appendChild(el("td", fmt(p[1]), "num")); t.appendChild(tr);
    });
    box.appendChild(t);
    return box;
  }

  function records(r) {
    var box = el("div", null, "records");
    r.forEach(function (rec) {
      box.appendChild(el("h4", "record: " + str(rec[0])));
      var dl = el("dl"), values = {}, keys = [];
      var take = function (kv) {
        for (var k = 0; k < kv.length; k += 2) {
          if (!(kv[k] in values)) { keys.push(kv[k]); }
          values[kv[k]] = kv[k + 1];
        }
      };
      (data.recordDefaults || []).forEach(function (d) { if (d[0] === rec[0]) { take(d[1]); } });
      take(rec[1]);
      keys.forEach(function (k) {
        var v = values[k];
        pair(dl, str(k), typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
      });
      box.appendChild(dl);
    });
    return box;
  }

  function versions(v) {
    var t = el("table", null, "versions");
    Object.keys(v).forEach(function (k) {
      var tr = el("tr"); tr.appendChild(el("td", k)); tr.appendChild(el("td", v[k])); t.appendChild(tr);
    });
    return t;
  }

  function showDetails(n) {
    var shown = data.cells[n], c = source(n), env = data.envs[c.i[1]];
    openCell = n;
    while (detailsBody.firstChild) { detailsBody.removeChild(detailsBody.firstChild); }
    detailsBody.appendChild(el("h3", env.name + " \u00b7 " + caseId(c)));
    if (shown !== c) { detailsBody.appendChild(el("p", "auto: the " + data.columns[c.i[2]] + " cell", "muted")); }
    var st = el("p", GLYPH[statusOf(c)] + " " + statusOf(c), "status " + CLASS[statusOf(c)]);
    detailsBody.appendChild(st);
    var dl = el("dl");
    var v = verdictOf(c);
    pair(dl, "against the record", v === null ? "no record for this env" : v === "expected" ? "as recorded" : v);
    pair(dl, "recorded", str(c.x));
    pair(dl, "failing stage", str(c.g));
    detailsBody.appendChild(dl);
    if (c.m !== undefined) { detailsBody.appendChild(el("pre", message(c), "error")); }
    if (c.y) {
      var lines = el("dl", null, "record-lines");
      c.y.forEach(function (p) { pair(lines, str(p[0]), str(p[1])); });
      detailsBody.appendChild(lines);
    }
    var more = el("dl");
    pair(more, "export", c.t === undefined ? "" : c.t.toFixed(1) + " s");
    pair(more, "whole cell", c.T === undefined ? "" : c.T.toFixed(1) + " s");
    pair(more, "ONNX size", c.b === undefined ? "" : (c.b / 1024).toFixed(0) + " KiB");
    pair(more, "tags", c.h ? c.h[1] + " of " + c.h[0] + " nodes tagged from their own module's scope" : "");
    pair(more, "commit", c.C !== undefined ? str(c.C) : env.commit);
    pair(more, "machine", c.M || env.machine);
    detailsBody.appendChild(more);
    var tol = c.k || env.tolerance;
    if (c.o) { detailsBody.appendChild(outputs("ONNX Runtime max|\u0394| per output", c.o, tol)); }
    if (c.p) { detailsBody.appendChild(outputs("Optimum max|\u0394| per output", c.p === 1 ? c.o : c.p, tol)); }
    if (c.r) { detailsBody.appendChild(records(c.r)); }
    detailsBody.appendChild(el("h4", "library versions"));
    detailsBody.appendChild(versions(c.V || env.versions));
    details.hidden = false;
    writeHash();
  }

  function closeDetails() { details.hidden = true; openCell = null; writeHash(); }

  function readHash() {
    var params = new URLSearchParams(window.location.hash.slice(1));
    query.value = params.get("q") || "";
    status.value = params.get("status") || "";
    function pick(name, key) {
      var wanted = params.get(key);
      if (wanted === null) { return; }
      var list = wanted.split(",");
      Array.prototype.forEach.call(document.querySelectorAll('input[name="' + name + '"]'), function (box) {
        box.checked = list.indexOf(box.value) !== -1;
      });
    }
    pick("envs", "envs");
    pick("columns", "cols");
    var cell = params.get("cell");
    return cell !== null && data.cells[Number(cell)] ? Number(cell) : null;
  }

  function writeHash() {
    var params = new URLSearchParams();
    if (query.value) { params.set("q", query.value); }
    if (status.value) { params.set("status", status.value); }
    var envs = checked("envs"), cols = checked("columns");
    if (envs.length !== data.envs.length) { params.set("envs", envs.join(",")); }
    if (cols.join(",") !== data.defaultColumns.join(",")) { params.set("cols", cols.join(",")); }
    if (openCell !== null) { params.set("cell", String(openCell)); }
    var hash = params.toString();
    try {
      window.history.replaceState(null, "", hash ? "#" + hash : window.location.pathname);
    } catch (e) {
      // Some file:// contexts refuse history updates; the view still works.
    }
  }

  function openFrom(target) {
    var holder = target.closest("[data-cell]");
    if (holder) { showDetails(Number(holder.dataset.cell)); }
  }

  document.addEventListener("click", function (e) {
    if (e.target.closest("#matrix td[data-cell], #failures li[data-cell]")) { openFrom(e.target); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !details.hidden) { closeDetails(); }
    if (e.key === "Enter" && e.target.closest && e.target.closest("#matrix td[data-cell], #failures li[data-cell]")) { openFrom(e.target); }
  });
  document.getElementById("close").addEventListener("click", closeDetails);
  query.addEventListener("input", draw);
  status.addEventListener("change", draw);
  document.getElementById("controls").addEventListener("change", function (e) {
    if (e.target.type === "checkbox") { draw(); }
  });
  window.addEventListener("hashchange", function () {
    var cell = readHash(); draw(); if (cell !== null) { showDetails(cell); }
  });
  var first = readHash();
  draw();
  if (first !== null) { showDetails(first); }
  document.body.dataset.ready = "true";
})();
