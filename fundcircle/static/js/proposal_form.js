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

  // Cost lines: a running total, and a button for one more line. What the script needs comes from the page
  // (templates/proposals/form.html), in the reader's language: the decimal and group symbols the server reads typed
  // amounts with, the currency's decimals, the words (data-say-NAME, with places such as {total} left open) and
  // each field's label (data-label-FIELD, with {number}). The script itself holds no text.
  var lines = form.querySelector("#cost-lines");
  if (!lines) { return; }
  var totalLine = document.getElementById("cost-total");
  var decimal = lines.getAttribute("data-decimal") || ".";
  var group = lines.getAttribute("data-group") || ",";
  var digits = parseInt(lines.getAttribute("data-digits") || "2", 10);
  // Marks people group thousands with whatever their locale says (fundcircle/money.py, _OTHER_GROUP_MARKS).
  var otherGroupMarks = " \u00a0\u202f\u2009'_";
  var MAX_MAJOR_DIGITS = 15;
  var numbers = new Intl.NumberFormat(document.documentElement.lang || "en", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits
  });

  function fill(text, places) {
    return String(text || "").replace(/\{(\w+)\}/g, function (place, name) {
      return Object.prototype.hasOwnProperty.call(places || {}, name) ? String(places[name]) : place;
    });
  }

  function words(name, places) { return fill(lines.getAttribute("data-say-" + name), places); }

  function rows() { return Array.prototype.slice.call(lines.querySelectorAll(".cost-line")); }

  function escaped(text) { return text.replace(/[\\^$.*+?()[\]{}|\-]/g, "\\$&"); }

  // The amount typed, in the currency's minor units (a BigInt), or null where the server would refuse it: the
  // rules of parse_money (fundcircle/money.py), so that the total counts what saving will count and nothing else.
  function minorOf(text) {
    var marks = escaped(group + decimal + otherGroupMarks);
    if (!new RegExp("^[0-9" + marks + "]+$").test(text) || !/\d/.test(text)) { return null; }
    var at = text.indexOf(decimal);
    var whole = at < 0 ? text : text.slice(0, at);
    var fraction = at < 0 ? "" : text.slice(at + decimal.length);
    if (at >= 0 && (whole === "" || fraction === "")) { return null; }  // "12." or ",5": half typed
    if (at >= 0 && !/^\d+$/.test(fraction)) { return null; }  // mixed separators, or two decimal symbols
    var separators = whole.replace(/\d/g, "");
    var kinds = separators.split("").filter(function (mark, index, all) { return all.indexOf(mark) === index; });
    if (kinds.length > 1 || (kinds.length === 1 && !/^\d{1,3}(?:\D\d{3})+$/.test(whole))) { return null; }
    // "1,000" where a comma marks decimals: a thousand to anyone used to English, so ambiguous, and refused.
    if (decimal === "," && kinds.length === 0 && whole.length <= 3 && fraction.length === 3 && digits < 3) {
      return null;
    }
    var units = whole.replace(/\D/g, "");
    if (units.length > MAX_MAJOR_DIGITS || fraction.length > digits) { return null; }
    while (fraction.length < digits) { fraction += "0"; }
    return BigInt(units + fraction);
  }

  // Minor units as the reader writes the number: 101250 EUR is "1.012,50" in German, "1,012.50" in English.
  function formatted(minor) {
    var text = minor.toString();
    if (digits > 0) {
      while (text.length <= digits) { text = "0" + text; }
      text = text.slice(0, text.length - digits) + "." + text.slice(text.length - digits);
    }
    return numbers.format(text);  // a decimal string, formatted exactly (never through a float's rounding)
  }

  function updateTotal() {
    var total = BigInt(0);
    var counted = 0;
    var unreadable = false;
    rows().forEach(function (row) {
      var input = row.querySelector('input[name$="-amount"]');
      var text = input ? input.value.trim() : "";
      if (text === "") { return; }
      var amount = minorOf(text);
      if (amount === null) { unreadable = true; return; }
      total += amount;
      counted += 1;
    });
    if (counted === 0 && !unreadable) {
      totalLine.hidden = true;
      return;
    }
    totalLine.hidden = false;
    totalLine.textContent = unreadable ? words("unreadable") : words("total", { total: formatted(total) });
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
      if (!input) { return; }
      label.setAttribute("for", input.id);
      var field = input.name.replace(/^cost_lines-\d+-/, "");
      var pattern = lines.getAttribute("data-label-" + field);
      if (pattern) { label.textContent = fill(pattern, { number: index + 1 }); }
    });
    Array.prototype.forEach.call(row.querySelectorAll(".error"), function (error) { error.remove(); });
    Array.prototype.forEach.call(row.querySelectorAll(".field-error"), function (field) {
      field.classList.remove("field-error");
    });
  }

  var add = document.createElement("button");
  add.type = "button";
  add.className = "secondary add-cost-line";
  add.textContent = words("add");
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
