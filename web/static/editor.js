// YAML text editor: line numbers, validation while typing (debounced POST to the server's
// validator), problems shown at their lines, and name suggestions. Plain JS, no build step.
(function () {
  "use strict";
  var box = document.querySelector(".yaml-editor");
  if (!box) return;
  var ta = document.getElementById("yaml");
  var gutter = document.getElementById("gutter");
  var notes = document.getElementById("line-messages");
  var list = document.getElementById("problems");
  var validity = document.getElementById("validity");
  var suggest = document.getElementById("suggest");
  var names = Array.prototype.map.call(document.querySelectorAll("#names option"), function (o) { return o.value; });
  var bad = {};
  var timer = null;
  var seq = 0;

  function lineHeight() { return parseFloat(getComputedStyle(ta).lineHeight) || 18; }

  function paint() {
    var n = ta.value.split("\n").length;
    var out = [];
    for (var i = 1; i <= n; i++) {
      out.push(bad[i] ? '<span class="bad" data-line="' + i + '" title="' + esc(bad[i].join("\n")) + '">' + i + "</span>" : "<span>" + i + "</span>");
    }
    gutter.innerHTML = out.join("\n");
    gutter.scrollTop = ta.scrollTop;
    var lh = lineHeight();
    var pad = parseFloat(getComputedStyle(ta).paddingTop) || 0;
    notes.innerHTML = Object.keys(bad).map(function (line) {
      var top = (line - 1) * lh + pad - ta.scrollTop;
      return '<div class="line-msg" data-line="' + line + '" style="top:' + top + 'px">' + esc(bad[line].join(" · ")) + "</div>";
    }).join("");
  }

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }

  function show(data) {
    bad = {};
    (data.problems || []).forEach(function (p) { (bad[p.line] = bad[p.line] || []).push(p.message); });
    list.innerHTML = (data.problems || []).map(function (p) {
      return '<li data-line="' + p.line + '">' + esc(box.dataset.lineWord || "line") + " " + p.line + ":" + p.col + " " + esc(p.message) + "</li>";
    }).concat((data.other || []).map(function (t) { return "<li>" + esc(t) + "</li>"; })).join("");
    validity.textContent = data.ok ? (box.dataset.okText || "No problems.") : "";
    validity.className = data.ok ? "small ok" : "small";
    box.classList.toggle("has-problems", !data.ok);
    paint();
  }

  function validate() {
    var mine = ++seq;
    fetch(box.dataset.validateUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf, "Accept": "application/json" },
      body: JSON.stringify({ file: box.dataset.file, text: ta.value })
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (mine === seq) show(data);  // an older answer must not overwrite a newer one
    });
  }

  function currentWord() {
    var before = ta.value.slice(0, ta.selectionStart);
    var m = /[A-Za-z_][\w.-]*$/.exec(before);
    return m ? m[0] : "";
  }

  function offer() {
    var word = currentWord();
    var hits = word ? names.filter(function (n) { return n.indexOf(word) === 0 && n !== word; }).slice(0, 8) : [];
    suggest.innerHTML = hits.map(function (n) { return '<button type="button" class="small" data-name="' + esc(n) + '">' + esc(n) + "</button>"; }).join(" ");
  }

  suggest.addEventListener("click", function (e) {
    var name = e.target.dataset && e.target.dataset.name;
    if (!name) return;
    var word = currentWord();
    var at = ta.selectionStart;
    ta.value = ta.value.slice(0, at - word.length) + name + ta.value.slice(at);
    ta.selectionStart = ta.selectionEnd = at - word.length + name.length;
    ta.focus();
    suggest.innerHTML = "";
    schedule();
  });

  function schedule() {
    paint();
    clearTimeout(timer);
    timer = setTimeout(validate, 400);
  }

  ta.addEventListener("input", function () { schedule(); offer(); });
  ta.addEventListener("scroll", paint);
  ta.addEventListener("keydown", function (e) {  // Tab indents by two spaces, as YAML wants
    if (e.key === "Tab") {
      e.preventDefault();
      var at = ta.selectionStart;
      ta.value = ta.value.slice(0, at) + "  " + ta.value.slice(ta.selectionEnd);
      ta.selectionStart = ta.selectionEnd = at + 2;
      schedule();
    }
  });
  list.querySelectorAll("li[data-line]").forEach(function (li) {
    var line = li.dataset.line;
    (bad[line] = bad[line] || []).push(li.textContent);
  });
  paint();
  validate();
})();
