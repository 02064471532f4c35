// Click a column header of a table.sortable to sort its rows (again to reverse).
// Cells may carry data-sort with the value to sort on; numbers sort as numbers,
// n/a and empty cells go last.
(function () {
  "use strict";
  function key(cell) {
    var text = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    text = text.trim();
    var number = parseFloat(text);
    if (text === "" || text === "n/a") { return { missing: true }; }
    if (!isNaN(number) && /^[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*%?$/i.test(text)) {
      return { number: number };
    }
    return { text: text.toLowerCase() };
  }
  function compare(a, b) {
    if (a.missing || b.missing) { return (a.missing ? 1 : 0) - (b.missing ? 1 : 0); }
    if (a.number !== undefined && b.number !== undefined) { return a.number - b.number; }
    var left = a.number !== undefined ? String(a.number) : a.text;
    var right = b.number !== undefined ? String(b.number) : b.text;
    return left < right ? -1 : left > right ? 1 : 0;
  }
  function sortBy(table, header, column) {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, index) {
      return { row: row, key: key(row.cells[column]), index: index };
    });
    rows.sort(function (a, b) {
      var order = compare(a.key, b.key);
      if (a.key.missing || b.key.missing) { return order || a.index - b.index; }
      return (ascending ? order : -order) || a.index - b.index;
    });
    rows.forEach(function (item) { body.appendChild(item.row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, column) {
      header.setAttribute("title", "Sort by this column");
      header.addEventListener("click", function () { sortBy(table, header, column); });
    });
  });
})();

// Folded runs (section.run > details.run-fold): a link to a run, or to a place inside one, opens it;
// the "Open all runs" button opens (or folds) them all.
(function () {
  "use strict";
  function reveal() {
    var target = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") { node.open = true; }
    }
    var fold = target ? target.querySelector(":scope > details.run-fold") : null;
    if (fold) { fold.open = true; }
    if (target) { target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", reveal);
  if (location.hash) { reveal(); }
  Array.prototype.forEach.call(document.querySelectorAll("button.toggle-runs"), function (button) {
    button.addEventListener("click", function () {
      var runs = document.querySelectorAll("details.run-fold");
      var open = Array.prototype.some.call(runs, function (run) { return !run.open; });
      Array.prototype.forEach.call(runs, function (run) { run.open = open; });
      button.textContent = open ? "Fold all runs" : "Open all runs";
    });
  });
})();
