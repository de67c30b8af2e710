/* Person fields: suggest active users as a name is typed (GET data-people?q=TEXT, see
 * web/html/people.py). The page carries everyone when the company is small (its datalist
 * has data-complete: nothing to ask); a larger company's page carries nobody, and the list
 * is filled with the best matches of what is typed. One listener on the document, so rows
 * a table adds later work too. Without JavaScript the field still takes a typed user name,
 * which the server checks. */
(function () {
  "use strict";

  // Per list (the fields of a page share one): the input and text its options answer, and
  // the latest question, so an earlier or slower answer never replaces a later one's.
  var shown = new WeakMap();
  var latest = new WeakMap();
  var timers = new WeakMap();

  function fill(list, people) {
    var options = document.createDocumentFragment();
    people.forEach(function (p) {
      var o = document.createElement("option");
      o.value = p.user;
      o.textContent = (p.name || p.user) + (p.department ? " · " + p.department : "");
      options.appendChild(o);
    });
    list.replaceChildren(options);
  }

  function ask(input, list) {
    var text = input.value.trim();
    var now = shown.get(list);
    if (now && now.input === input && now.text === text) { return; }
    var question = {input: input, text: text};
    latest.set(list, question);
    if (!text) {  // nothing typed: nobody to suggest (and not another field's answer)
      fill(list, []);
      shown.set(list, question);
      return;
    }
    var url = input.getAttribute("data-people") + "?q=" + encodeURIComponent(text);
    fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (people) {
        if (latest.get(list) !== question || !Array.isArray(people)) { return; }
        fill(list, people);
        shown.set(list, question);
      })
      .catch(function () { /* offline: the field still takes a typed user name; asked again next time */ });
  }

  function changed(event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.hasAttribute("data-people")) { return; }
    var list = input.list;
    if (!list || list.hasAttribute("data-complete")) { return; }
    clearTimeout(timers.get(list));
    timers.set(list, setTimeout(function () { ask(input, list); }, event.type === "focusin" ? 0 : 200));
  }

  document.addEventListener("input", changed);
  document.addEventListener("focusin", changed);
})();
