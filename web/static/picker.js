/* A condition picker: field, operator by the field's type, value from its choices.
 *
 * Markup (see editor/form_builder.html): a container with data-picker holding radios
 * name=vis_mode (always | picker | expr), selects data-role=field / op / choice and an input
 * data-role=value; the expression box (name=visible_if) stays for experts. The page carries
 * the fields as JSON in #picker-data: {fields: [{name, title, kind, options}], ops: {kind:
 * [[op, words]...]}}. The server composes the expression from the choice
 * (engine.language.form_kinds.compose_condition), so this script only offers what fits:
 * operators of the chosen field's type, its choices, and the mode that is being used.
 * Without JavaScript the same controls post as they are. */
(function () {
  "use strict";

  function data() {
    var el = document.getElementById("picker-data");
    try { return el ? JSON.parse(el.textContent) : {fields: [], ops: {}}; } catch (e) { return {fields: [], ops: {}}; }
  }

  function option(value, label, selected) {
    var o = document.createElement("option");
    o.value = value; o.textContent = label;
    if (selected) o.selected = true;
    return o;
  }

  function setup(box, info) {
    var byName = {};
    info.fields.forEach(function (f) { byName[f.name] = f; });
    var field = box.querySelector("[data-role=field]");
    var op = box.querySelector("[data-role=op]");
    var choice = box.querySelector("[data-role=choice]");
    var value = box.querySelector("[data-role=value]");
    var expr = box.querySelector("[name=visible_if]");
    var modes = box.querySelectorAll("[name=vis_mode]");
    function mode() {
      for (var i = 0; i < modes.length; i++) if (modes[i].checked) return modes[i].value;
      return "always";
    }
    function setMode(m) {
      for (var i = 0; i < modes.length; i++) modes[i].checked = modes[i].value === m;
      show();
    }
    function show() {
      var m = mode();
      box.querySelector(".pick").style.opacity = m === "picker" ? "1" : ".55";
      expr.style.opacity = m === "expr" ? "1" : ".55";
    }
    function refresh(keep) {
      var f = byName[field.value];
      var kind = f ? f.kind : "";
      var ops = (info.ops[kind] || []);
      var wantOp = keep ? op.getAttribute("data-value") : op.value;
      op.innerHTML = "";
      ops.forEach(function (pair) { op.appendChild(option(pair[0], pair[1], pair[0] === wantOp)); });
      var wantChoice = keep ? choice.getAttribute("data-value") : choice.value;
      choice.innerHTML = "";
      var choices = f && f.options && f.options.length ? f.options : null;
      if (choices) choices.forEach(function (c) { choice.appendChild(option(c, c, c === wantChoice)); });
      choice.hidden = !choices;
      value.hidden = !!choices || kind === "yesno" || !f;
      if (kind === "number" || kind === "computed") value.setAttribute("inputmode", "decimal");
      else value.removeAttribute("inputmode");
      op.hidden = !f;
    }
    field.addEventListener("change", function () { refresh(false); setMode(field.value ? "picker" : mode()); });
    [op, choice, value].forEach(function (el) {
      el.addEventListener("change", function () { setMode("picker"); });
      el.addEventListener("focus", function () { if (field.value) setMode("picker"); });
    });
    expr.addEventListener("input", function () { setMode(expr.value.trim() ? "expr" : "always"); });
    for (var i = 0; i < modes.length; i++) modes[i].addEventListener("change", show);
    refresh(true);
    show();
  }

  function init() {
    var info = data();
    var boxes = document.querySelectorAll("[data-picker]");
    for (var i = 0; i < boxes.length; i++) setup(boxes[i], info);
  }

  window.wfPicker = {setup: setup, data: data};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
