/* The form builder page (editor/form_builder.html): the settings of the chosen field type,
 * the id a label gives, drag and drop of the fields (SortableJS, vendored under
 * static/vendor/sortablejs), and the computed-value picker. The ↑/↓ buttons stay for
 * keyboards; every move is saved through the field's "move" route, then the page reloads
 * so the YAML, the preview and the draft number are those the server saved. */
(function () {
  "use strict";

  function csrf() {
    var el = document.querySelector("input[name=csrf_token]");
    return el ? el.value : "";
  }

  function kindSettings() {
    var type = document.getElementById("fb-type");
    if (!type) return;
    function show() {
      var parts = document.querySelectorAll("#add-field .kind-settings");
      for (var i = 0; i < parts.length; i++) {
        var kinds = parts[i].getAttribute("data-kinds").split(" ");
        parts[i].hidden = kinds.indexOf(type.value) < 0;
      }
    }
    type.addEventListener("change", show);
    show();
  }

  function idHint() {
    var form = document.getElementById("add-field");
    var title = document.getElementById("fb-title");
    var name = document.getElementById("fb-name");
    var hint = document.getElementById("fb-id-hint");
    if (!form || !title || !name) return;
    var timer = null;
    function ask() {
      if (name.value.trim() || !title.value.trim()) { hint.textContent = ""; name.placeholder = ""; return; }
      fetch(form.getAttribute("data-id-url") + "?title=" + encodeURIComponent(title.value), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { if (d && d.id) { name.placeholder = d.id; hint.textContent = "→ " + d.id; } })
        .catch(function () {});
    }
    title.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 250); });
    name.addEventListener("input", ask);
  }

  function dragging() {
    var rows = document.getElementById("field-rows");
    var table = document.getElementById("fields");
    if (!rows || !table || typeof Sortable === "undefined") return;
    var url = table.getAttribute("data-move-url");
    Sortable.create(rows, {
      handle: ".handle", animation: 120, ghostClass: "sortable-ghost",
      // Pointer events rather than the browser's own drag and drop: the same on phones and desktops.
      forceFallback: true, fallbackTolerance: 3,
      onEnd: function (ev) {
        if (ev.oldIndex === ev.newIndex) return;
        var name = ev.item.getAttribute("data-field");
        var body = new URLSearchParams();
        body.set("csrf_token", csrf());
        body.set("position", String(ev.newIndex));
        rows.setAttribute("aria-busy", "true");
        fetch(url.replace("__name__", encodeURIComponent(name)), {
          method: "POST", credentials: "same-origin", body: body,
          headers: {"Accept": "application/json", "X-CSRF-Token": csrf()}
        }).then(function () { window.location.reload(); });
      }
    });
  }

  function computedPicker() {
    var info = window.wfPicker ? window.wfPicker.data() : {tables: [], dates: []};
    var boxes = document.querySelectorAll("[data-computed-picker]");
    for (var i = 0; i < boxes.length; i++) (function (box) {
      var form = box.closest("form");
      var out = form.querySelector("[data-compute]");
      var fn = box.querySelector("[data-role=fn]"), table = box.querySelector("[data-role=table]");
      var col = box.querySelector("[data-role=column]"), from = box.querySelector("[data-role=from]");
      var to = box.querySelector("[data-role=to]");
      function columns() {
        var t = (info.tables || []).filter(function (x) { return x.name === table.value; })[0];
        col.innerHTML = "";
        (t ? t.columns : []).forEach(function (c) {
          if (fn.value === "count" || c.kind === "number" || c.kind === "computed") {
            var o = document.createElement("option"); o.value = c.name; o.textContent = c.title; col.appendChild(o);
          }
        });
      }
      function show() {
        var f = fn.value;
        table.hidden = col.hidden = !(f === "sum_of" || f === "avg_of" || f === "count");
        col.hidden = col.hidden || f === "count";
        from.hidden = to.hidden = f !== "days_between";
      }
      function write() {
        var f = fn.value;
        if (f === "sum_of" || f === "avg_of") out.value = f + "(" + table.value + ", '" + col.value + "')";
        else if (f === "count") out.value = "len(" + table.value + ")";
        else if (f === "days_between") out.value = "days_between(" + from.value + ", " + to.value + ")";
      }
      fn.addEventListener("change", function () { columns(); show(); write(); });
      table.addEventListener("change", function () { columns(); write(); });
      [col, from, to].forEach(function (el) { el.addEventListener("change", write); });
      columns(); show();
    })(boxes[i]);
  }

  function refused() {
    // A refused "Add field" comes back as typed: show it, with why.
    var box = document.getElementById("add-field-problems");
    if (box) box.scrollIntoView({block: "center"});
  }

  function init() { kindSettings(); idHint(); dragging(); computedPicker(); refused(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
