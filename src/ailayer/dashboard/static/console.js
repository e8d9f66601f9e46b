// ailayer console: small progressive enhancements; every page works without this file.
"use strict";

// Sort a table with class "sortable" by a header cell that has data-sort.
function sortBy(table, index, header) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  const value = (row) => {
    const text = (row.cells[index] || {}).textContent || "";
    const number = parseFloat(text.replace(/[,%\s]|ms/g, ""));
    return Number.isNaN(number) ? text.trim().toLowerCase() : number;
  };
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return ascending ? order : -order;
  });
  table.querySelectorAll("th[aria-sort]").forEach((th) => th.removeAttribute("aria-sort"));
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  rows.forEach((row) => body.appendChild(row));
}

function enableSorting(table) {
  table.querySelectorAll("thead th[data-sort]").forEach((header) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = header.textContent;
    header.textContent = "";
    header.appendChild(button);
    const index = Number(header.dataset.sort);
    button.addEventListener("click", () => sortBy(table, index, header));
  });
}

// Show times in the reader's own time zone, keeping UTC in the title.
function localTimes() {
  document.querySelectorAll("time[datetime]").forEach((node) => {
    const when = new Date(node.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) {
      node.title = node.textContent;
      node.textContent = when.toLocaleString();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(enableSorting);
  localTimes();
});
