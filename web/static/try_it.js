/* Try it (editor/try.html): mark the steps whose tasks are open now on the diagram; the
 * server highlights the path taken. */
(function () {
  "use strict";
  function mark() {
    var g = document.getElementById("try-graph");
    if (!g) return;
    (g.getAttribute("data-current") || "").split(" ").forEach(function (sid) {
      if (!sid) return;
      var node = g.querySelector('g.step[data-step="' + sid + '"]');
      if (node) node.classList.add("current");
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mark);
  else mark();
})();
