// Generated forms: table rows, live specification limits, simple x-visible-if, file removal.
// The server validates everything again; this only helps while typing.
(function () {
  "use strict";

  function valueOf(form, name) {
    var els = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
    if (!els.length) return undefined;
    var values = [];
    els.forEach(function (el) {
      if (el.type === "radio" || el.type === "checkbox") { if (el.checked) values.push(el.value); }
      else if (el.type !== "hidden" || els.length === 1) values.push(el.value);
    });
    var last = values.length ? values[values.length - 1] : "";
    if (last === "true") return true;
    if (last === "false") return false;
    return last;
  }

  // field == "v", field != "v", field in ["a", "b"], field, not field, field == true/false
  function compile(expr) {
    var m;
    var lit = function (s) {
      s = s.trim();
      if (s === "true") return true; if (s === "false") return false;
      if (/^(['"]).*\1$/.test(s)) return s.slice(1, -1);
      if (/^-?\d+(\.\d+)?$/.test(s)) return s;
      return null;
    };
    expr = expr.trim();
    if ((m = expr.match(/^([A-Za-z_]\w*)\s*(==|!=)\s*(.+)$/))) {
      var v = lit(m[3]); if (v === null) return null;
      var name = m[1], op = m[2];
      return function (get) { var x = get(name); var eq = String(x) === String(v); return op === "==" ? eq : !eq; };
    }
    if ((m = expr.match(/^([A-Za-z_]\w*)\s+(not\s+)?in\s*\[(.*)\]$/))) {
      var opts = m[3].split(",").map(lit); if (opts.indexOf(null) >= 0) return null;
      var n2 = m[1], neg = !!m[2];
      return function (get) { var hit = opts.map(String).indexOf(String(get(n2))) >= 0; return neg ? !hit : hit; };
    }
    // number comparisons and "choice" in a multiple choice (the form builder's picker writes them)
    if ((m = expr.match(/^([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)$/))) {
      var n4 = m[1], op4 = m[2], lim = parseFloat(m[3]);
      return function (get) {
        var x = parseFloat(get(n4));
        if (isNaN(x)) return true; // not entered: cannot be decided, so the field stays
        return op4 === "<" ? x < lim : op4 === "<=" ? x <= lim : op4 === ">" ? x > lim : x >= lim;
      };
    }
    if ((m = expr.match(/^(['"])(.*)\1\s+(not\s+)?in\s+([A-Za-z_]\w*)$/))) {
      var want = m[2], n5 = m[4], neg5 = !!m[3];
      return function (get, all) { var hit = all(n5).indexOf(want) >= 0; return neg5 ? !hit : hit; };
    }
    if ((m = expr.match(/^(not\s+)?([A-Za-z_]\w*)$/))) {
      var n3 = m[2], not = !!m[1];
      return function (get) { var x = get(n3); var t = !(x === undefined || x === "" || x === false); return not ? !t : t; };
    }
    return null; // anything else: always shown; the server decides
  }

  function refreshVisibility(form) {
    form.querySelectorAll("[data-visible-if]").forEach(function (el) {
      var test = compile(el.getAttribute("data-visible-if"));
      if (!test) return;
      var scope = el.getAttribute("data-scope");
      el.hidden = !test(function (name) { return valueOf(form, scope + "." + name); }, function (name) {
        var out = [];
        form.querySelectorAll('[name="' + CSS.escape(scope + "." + name) + '"]').forEach(function (box) {
          if ((box.type === "checkbox" || box.type === "radio") ? box.checked : box.type !== "hidden") out.push(box.value);
        });
        return out;
      });
    });
  }

  function checkLimits(input) {
    var lo = input.getAttribute("data-limit-min"), hi = input.getAttribute("data-limit-max");
    var v = parseFloat(input.value), out = false;
    if (input.value.trim() !== "" && !isNaN(v)) {
      if (lo !== "" && lo !== null && v < parseFloat(lo)) out = true;
      if (hi !== "" && hi !== null && v > parseFloat(hi)) out = true;
    }
    input.classList.toggle("out-of-limit", out);
    var badge = input.parentNode.querySelector(".oos-live");
    if (badge) badge.hidden = !out;
  }

  function addRow(button) {
    var field = button.closest(".field");
    var table = field.querySelector("table.grid");
    var tpl = field.querySelector("template");
    var i = parseInt(table.getAttribute("data-next") || "0", 10);
    table.setAttribute("data-next", String(i + 1));
    var html = tpl.innerHTML.split("__i__").join(String(i));
    var body = table.tBodies[0];
    body.insertAdjacentHTML("beforeend", html);
    var row = body.lastElementChild;
    var first = row.querySelector("input, select, textarea");
    if (first) first.focus();
  }

  // Computed fields (x-compute): the server works the values out with the same code as the
  // submission; this only asks it again, 300 ms after the last keystroke.
  function computer(form) {
    var url = form.getAttribute("data-compute-url");
    if (!url) return function () {};
    var timer = null, seq = 0;
    function run() {
      var body = new FormData(form), mine = ++seq;
      Array.from(body.keys()).forEach(function (k) {
        body.getAll(k).forEach(function (v) { if (typeof v !== "string") body.delete(k); });
      });
      body.delete("password");
      fetch(url, {method: "POST", body: body, credentials: "same-origin",
                  headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (answer) {
          if (!answer || mine !== seq) return;
          form.querySelectorAll("[data-computed]").forEach(function (out) {
            var key = out.getAttribute("data-computed");
            out.textContent = (answer.text && key in answer.text) ? answer.text[key] : "";
          });
        })
        .catch(function () {});
    }
    return function () { clearTimeout(timer); timer = setTimeout(run, 300); };
  }


  // Files are checked as they are chosen: one photo over its limit, or more than one
  // submission may carry, made the server refuse the whole submission (413) with nothing
  // saved, typed values included. The server checks both again.
  function sizeWords(n) {
    if (n >= 1048576) return (Math.round(n / 1048576 * 10) / 10) + " MB";
    return Math.max(1, Math.floor(n / 1024)) + " KB";
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) { return key in values ? values[key] : all; });
  }

  // The note after ``anchor`` (a file input), or before it when ``id`` names a form-wide note.
  function say(anchor, text, id) {
    var note = id ? document.getElementById(id) : anchor.nextElementSibling;
    if (!note || !note.hasAttribute("data-file-error")) {
      note = document.createElement("span");
      note.className = "error-text";
      note.setAttribute("data-file-error", "");
      note.setAttribute("role", "alert");
      if (id) note.id = id;
      anchor.insertAdjacentElement(id ? "beforebegin" : "afterend", note);
    }
    note.textContent = text;
    if (!text) note.remove();
    return note;
  }

  function checkChosen(form, input) {
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    if (!max || !input.files) return;
    var kept = [], refused = [];
    Array.prototype.forEach.call(input.files, function (f) { (f.size > max ? refused : kept).push(f); });
    var template = form.getAttribute("data-too-big") || "{file}: {size} > {limit}";
    say(input, refused.map(function (f) {
      return fill(template, {file: f.name, size: sizeWords(f.size), limit: sizeWords(max)});
    }).join(" "));
    if (!refused.length) return;
    try {  // keep the files that fit
      var dt = new DataTransfer();
      kept.forEach(function (f) { dt.items.add(f); });
      input.files = dt.files;
    } catch (e) {
      input.value = "";
    }
  }

  function chosenTotal(form) {
    var total = 0;
    form.querySelectorAll('input[type="file"]').forEach(function (input) {
      Array.prototype.forEach.call(input.files || [], function (f) { total += f.size; });
    });
    return total;
  }

  document.addEventListener("DOMContentLoaded", function () {
    // Handlers that were inline attributes: the Content-Security-Policy runs scripts from
    // the server's files only.
    var print = document.getElementById("print");
    if (print) print.addEventListener("click", function () { window.print(); });
    // The error page's way back: the browser's own Back keeps what was typed in the form.
    var back = document.getElementById("error-back");
    if (back) back.addEventListener("click", function (ev) {
      if (history.length > 1) { ev.preventDefault(); history.back(); }
    });
    var restore = document.getElementById("restore-form");
    if (restore) restore.addEventListener("submit", function () {
      restore.action = restore.querySelector("select").value;
    });
    // On a phone the earlier records fold away, so the form being filled comes first.
    if (window.matchMedia && window.matchMedia("(max-width: 720px)").matches) {
      document.querySelectorAll("details.earlier[open]").forEach(function (d) { d.open = false; });
    }
    document.querySelectorAll("form.wf-form").forEach(function (form) {
      var recompute = computer(form);
      form.addEventListener("click", function (ev) {
        var t = ev.target;
        if (t.classList.contains("add-row")) { ev.preventDefault(); addRow(t); refreshVisibility(form); }
        else if (t.classList.contains("remove-row")) { ev.preventDefault(); t.closest("tr").remove(); refreshVisibility(form); recompute(); }
        else if (t.classList.contains("remove-file")) { ev.preventDefault(); t.closest(".file-item").remove(); }
      });
      form.addEventListener("input", function (ev) {
        if (ev.target.hasAttribute && ev.target.hasAttribute("data-limit-min")) checkLimits(ev.target);
        refreshVisibility(form);
        recompute();
      });
      form.addEventListener("change", function (ev) {
        if (ev.target.type === "file") checkChosen(form, ev.target);
        refreshVisibility(form);
        recompute();
      });
      var carries = parseInt(form.getAttribute("data-max-request-bytes"), 10);
      if (carries) form.addEventListener("submit", function (ev) {
        var total = chosenTotal(form), buttons = form.querySelector(".buttons") || form.lastElementChild;
        var id = form.id + "-files-total";
        if (total <= carries) { say(buttons, "", id); return; }
        ev.preventDefault();
        var template = form.getAttribute("data-too-much") || "{size} > {limit}";
        say(buttons, fill(template, {size: sizeWords(total), limit: sizeWords(carries)}), id).scrollIntoView({block: "center"});
      });
      if (form.querySelector("[data-computed]")) recompute();
      form.querySelectorAll("[data-limit-min]").forEach(checkLimits);
      refreshVisibility(form);
    });
  });
})();
