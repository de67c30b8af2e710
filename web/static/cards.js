// Lists as cards on a phone (app.css): each cell is labelled by its column's header through
// data-label. Templates label the cells of the main lists themselves; this labels the rest
// (dossier, audit, ledgers, KPIs, editor lists), so no card is a column of bare values.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.list").forEach(function (table) {
      var heads = [];
      table.querySelectorAll("thead tr:last-child th").forEach(function (th) {
        for (var i = 0; i < (th.colSpan || 1); i++) heads.push(th.textContent.trim());
      });
      if (!heads.length) return;
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        var col = 0;
        Array.prototype.forEach.call(tr.cells, function (td) {
          var head = heads[col];
          col += td.colSpan || 1;
          if (!head || td.hasAttribute("data-label") || td.classList.contains("card-title") || td.classList.contains("actions")) return;
          td.setAttribute("data-label", head);
        });
      });
    });
  });
})();
