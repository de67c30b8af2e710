/* Person fields: suggest active users as a name is typed (GET data-people?q=TEXT, see
 * web/html/people.py). The page carries everyone when the company is small (its datalist
 * has data-complete: nothing to ask); a larger company's page carries nobody, and the list
 * is filled with the best matches of what is typed. One listener on the document, so rows
 * a table adds later work too. Without JavaScript the field still takes a typed user name,
 * which the server checks. */
(function () {
  "use strict";

  var timers = new WeakMap();
  var asked = new WeakMap();

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
    if (asked.get(input) === text) { return; }
    asked.set(input, text);
    var url = input.getAttribute("data-people") + "?q=" + encodeURIComponent(text);
    fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (people) {
        // A slower answer to an earlier text must not replace the latest one's.
        if (asked.get(input) === text && Array.isArray(people)) { fill(list, people); }
      })
      .catch(function () { /* offline: the field still takes a typed user name */ });
  }

  function changed(event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.hasAttribute("data-people")) { return; }
    var list = input.list;
    if (!list || list.hasAttribute("data-complete")) { return; }
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(function () { ask(input, list); }, 200));
  }

  document.addEventListener("input", changed);
  document.addEventListener("focusin", changed);
})();
