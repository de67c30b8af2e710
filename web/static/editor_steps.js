// The step editor's pickers (web/templates/editor/_step_form.html): the operators offered follow
// the field's type, the value picker its choices; rows, routes and levels are added by cloning;
// the deadline and next-step sections show the part chosen. The server builds the expressions
// (engine/language/condition_builder.py); without this script the form still posts.
(function () {
  "use strict";
  // A step of the diagram opens its form.
  var graph = document.getElementById("steps-graph");
  if (graph) {
    graph.addEventListener("click", function (ev) {
      var g = ev.target.closest("g.step[data-step]");
      if (g) window.location.href = "?edit=" + encodeURIComponent(g.getAttribute("data-step")) + "#edit-step";
    });
    graph.querySelectorAll("g.step[data-step]").forEach(function (g) { g.style.cursor = "pointer"; });
  }
  // A refused "Add step" or "Change where a step goes" comes back as typed: show it, with why.
  var refused = document.getElementById("add-step-problems") || document.getElementById("set-next-problems");
  if (refused) refused.scrollIntoView({block: "center"});
  var data = document.getElementById("step-pickers");
  var form = document.getElementById("update-step");
  if (!data || !form) return;
  var P = JSON.parse(data.textContent);
  var byRef = {};
  P.fields.forEach(function (f) { byRef[f.ref] = f; });
  var ALL_OPS = Object.keys(P.ops);

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function word(field, v) {
    return field && /\.decision$/.test(field.ref) && P.words[v] ? P.words[v] : v;
  }
  function valueCell(span, field, op) {
    var name = span.getAttribute("data-name");
    var old = Array.prototype.map.call(span.querySelectorAll(".cond-value"), function (x) {
      return x.tagName === "SELECT" ? Array.prototype.map.call(x.selectedOptions, function (o) { return o.value; }).join(",") : x.value;
    });
    span.textContent = "";
    if (["empty", "not_empty", "yes", "no"].indexOf(op) >= 0) return;
    var choices = field ? field.choices : [];
    if (choices.length) {
      var sel = el("select", {name: name, "class": "cond-value"});
      if (op === "in" || op === "not_in") { sel.multiple = true; sel.size = Math.min(4, choices.length); }
      choices.forEach(function (v) { sel.appendChild(el("option", {value: v}, word(field, v))); });
      span.appendChild(sel);
    } else if (op === "between") {
      span.appendChild(el("input", {name: name, "class": "cond-value", size: "6"}));
      span.appendChild(document.createTextNode(" – "));
      span.appendChild(el("input", {name: name, "class": "cond-value", size: "6"}));
    } else {
      var inp = el("input", {name: name, "class": "cond-value", size: "10"});
      if (field && field.kind === "number") inp.setAttribute("inputmode", "decimal");
      inp.value = old.length === 1 ? old[0] : "";
      span.appendChild(inp);
    }
  }
  function fieldChanged(row) {
    var field = byRef[row.querySelector(".cond-field").value];
    var opSel = row.querySelector(".cond-op");
    var was = opSel.value;
    opSel.textContent = "";
    (field ? field.ops : ALL_OPS).forEach(function (op) { opSel.appendChild(el("option", {value: op}, P.ops[op])); });
    if (field && field.ops.indexOf(was) >= 0) opSel.value = was;
    valueCell(row.querySelector(".cond-values"), field, opSel.value);
  }
  function renumber(row, prefix, j) {
    row.setAttribute("data-row", String(j));
    row.querySelector(".cond-field").name = prefix + "_f" + j;
    row.querySelector(".cond-op").name = prefix + "_o" + j;
    var span = row.querySelector(".cond-values");
    span.setAttribute("data-name", prefix + "_v" + j);
    span.querySelectorAll(".cond-value").forEach(function (v) { v.name = prefix + "_v" + j; });
  }
  function show(kindName, prefix) {
    var chosen = form.querySelector("input[name=" + kindName + "]:checked");
    var value = chosen ? chosen.value : "";
    form.querySelectorAll("[class*='" + prefix + "']").forEach(function (part) {
      var classes = part.className.split(/\s+/).filter(function (c) { return c.indexOf(prefix) === 0; });
      if (classes.length) part.hidden = classes.indexOf(prefix + value) < 0;
    });
  }
  form.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.classList.contains("cond-field")) fieldChanged(t.closest(".cond-row"));
    else if (t.classList.contains("cond-op")) {
      var row = t.closest(".cond-row");
      valueCell(row.querySelector(".cond-values"), byRef[row.querySelector(".cond-field").value], t.value);
    } else if (t.classList.contains("cond-mode")) {
      var cond = t.closest(".cond");
      cond.querySelector(".cond-rows").hidden = t.value === "code";
      cond.querySelector(".cond-code").hidden = t.value !== "code";
    } else if (t.name === "deadline_kind") show("deadline_kind", "dk-");
    else if (t.name === "next_kind") show("next_kind", "nk-");
    if (t.closest(".route") || t.closest(".cond")) {
      var routes = form.querySelector("#nk-routes");
      if (routes && t.closest(".route") && !routes.checked) { routes.checked = true; show("next_kind", "nk-"); }
    }
  });
  form.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t.classList.contains("add-row")) {
      var cond = t.closest(".cond");
      var rows = cond.querySelectorAll(".cond-row");
      var copy = rows[rows.length - 1].cloneNode(true);
      renumber(copy, cond.getAttribute("data-prefix"), Number(rows[rows.length - 1].getAttribute("data-row")) + 1);
      copy.querySelector(".cond-field").value = "";
      t.parentNode.insertBefore(copy, t);
      fieldChanged(copy);
    } else if (t.classList.contains("add-clone")) {
      var box = form.querySelector(t.getAttribute("data-target"));
      var last = box.lastElementChild;
      var clone = last.cloneNode(true);
      clone.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      clone.querySelectorAll("select").forEach(function (s) { s.selectedIndex = 0; });
      box.appendChild(clone);
    }
  });
  // The validator as the form changes (the Check button shows the same, with the form kept).
  var live = document.getElementById("live-check");
  var timer = null, seq = 0;
  function check() {
    var mine = ++seq;
    var body = new FormData(form);
    fetch(form.getAttribute("data-check"), {method: "POST", body: body, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (res) {
        if (mine !== seq) return;
        live.textContent = "";
        live.className = "small " + (res.ok ? "ok" : "bad");
        if (res.error) { live.appendChild(el("p", {"class": "flash error"}, res.error)); return; }
        if (res.ok) { live.appendChild(el("p", {"class": "muted"}, live.getAttribute(res.changed ? "data-ok" : "data-same"))); return; }
        var ul = el("ul", {"class": "problems"});
        res.problems.forEach(function (p) { ul.appendChild(el("li", {}, p.text)); });
        res.other.forEach(function (o) { ul.appendChild(el("li", {}, o)); });
        live.appendChild(ul);
      })
      .catch(function () { /* the Check button still works */ });
  }
  function later() { clearTimeout(timer); timer = setTimeout(check, 500); }
  form.addEventListener("change", later);
  form.addEventListener("input", later);
  show("deadline_kind", "dk-");
  show("next_kind", "nk-");
  // Only the fields that come before a step may decide its deadline.
  form.querySelectorAll(".cond[data-fields=before] .cond-field").forEach(function (sel) {
    Array.prototype.forEach.call(sel.options, function (o) { if (o.value && P.before.indexOf(o.value) < 0) o.remove(); });
  });
}());
