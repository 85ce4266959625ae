// The proposal form without a round trip: only the chosen payee's fields show, a cost line can be added with a
// button, and the lines' total shows as they are typed. Without this script the same form works: both payee
// fieldsets show, Preview adds empty lines, and the server computes the total either way.
(function () {
  "use strict";
  var form = document.querySelector("form.proposal-form");
  if (!form) { return; }

  // Who is paid: show the fields of the choice made.
  var kinds = Array.prototype.slice.call(form.querySelectorAll('input[name="payee_kind"]'));
  var payeeParts = Array.prototype.slice.call(form.querySelectorAll("[data-payee]"));
  function showPayee() {
    var chosen = "";
    kinds.forEach(function (radio) { if (radio.checked) { chosen = radio.value; } });
    payeeParts.forEach(function (part) {
      part.hidden = chosen !== "" && part.getAttribute("data-payee") !== chosen;
    });
  }
  kinds.forEach(function (radio) { radio.addEventListener("change", showPayee); });
  showPayee();

  // Cost lines: a running total, and a button for one more line.
  var lines = form.querySelector("#cost-lines");
  if (!lines) { return; }
  var totalLine = document.getElementById("cost-total");
  var currency = lines.getAttribute("data-currency") || "";

  function rows() { return Array.prototype.slice.call(lines.querySelectorAll(".cost-line")); }

  function amountOf(text) {
    var cleaned = text.replace(/[\s,'_]/g, "");
    if (!/^\d+(\.\d+)?$/.test(cleaned)) { return null; }
    return parseFloat(cleaned);
  }

  function updateTotal() {
    var total = 0;
    var counted = 0;
    var unreadable = false;
    rows().forEach(function (row) {
      var input = row.querySelector('input[name$="-amount"]');
      var text = input ? input.value.trim() : "";
      if (text === "") { return; }
      var amount = amountOf(text);
      if (amount === null) { unreadable = true; return; }
      total += amount;
      counted += 1;
    });
    if (counted === 0 && !unreadable) {
      totalLine.hidden = true;
      return;
    }
    totalLine.hidden = false;
    // Shown as typed, to two decimals; the server counts in the currency's own minor units when it is saved.
    totalLine.textContent = unreadable
      ? "A line's amount is not a number yet."
      : "Total of the lines: " + total.toFixed(2) + " " + currency + " (the amount asked, if you leave the amount empty).";
  }

  function renumber(row, index) {
    Array.prototype.forEach.call(row.querySelectorAll("input"), function (input) {
      var name = input.name.replace(/^cost_lines-\d+-/, "cost_lines-" + index + "-");
      input.name = name;
      input.id = name;
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    Array.prototype.forEach.call(row.querySelectorAll("label"), function (label) {
      var input = label.parentNode.querySelector("input");
      if (input) { label.setAttribute("for", input.id); }
      label.textContent = label.textContent.replace(/\(line \d+\)/, "(line " + (index + 1) + ")");
    });
    Array.prototype.forEach.call(row.querySelectorAll(".error"), function (error) { error.remove(); });
    Array.prototype.forEach.call(row.querySelectorAll(".field-error"), function (field) {
      field.classList.remove("field-error");
    });
  }

  var add = document.createElement("button");
  add.type = "button";
  add.className = "secondary add-cost-line";
  add.textContent = "Add a line";
  add.addEventListener("click", function () {
    var all = rows();
    if (all.length >= 30) { return; }
    var last = all[all.length - 1];
    var row = last.cloneNode(true);
    renumber(row, all.length);
    last.parentNode.insertBefore(row, last.nextSibling);
    row.querySelector("input").focus();
  });
  lines.insertBefore(add, totalLine);
  // The button adds lines now: the way without a script (Preview) need not be explained.
  Array.prototype.forEach.call(lines.querySelectorAll(".without-script"), function (hint) { hint.hidden = true; });
  lines.addEventListener("input", updateTotal);
  updateTotal();
}());
