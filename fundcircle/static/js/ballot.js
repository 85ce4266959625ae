// The ballot page without a round trip: - and + buttons next to each number, costs and credits left as you click.
// Without JavaScript the same form works with its number fields and the Recalculate button.
(function () {
  "use strict";
  var form = document.querySelector("form.ballot");
  if (!form) { return; }
  var credits = parseInt(form.getAttribute("data-credits"), 10);
  // Cumulative ballots: a point costs one point; quadratic ones: n votes cost n×n credits.
  var linear = form.getAttribute("data-cost") === "linear";
  var unit = form.getAttribute("data-unit") || "credits";
  var inputs = Array.prototype.slice.call(form.querySelectorAll("input.votes"));
  var spentCell = document.getElementById("credits-spent");
  var leftCell = document.getElementById("credits-left");
  var over = document.getElementById("over-budget");

  function votesOf(input) {
    var value = parseInt(input.value, 10);
    return isNaN(value) ? 0 : value;
  }

  function update() {
    var spent = 0;
    inputs.forEach(function (input) {
      var votes = votesOf(input);
      var cost = linear ? votes : votes * votes;
      spent += cost;
      var cell = form.querySelector('td.cost[data-for="' + input.id + '"]');
      if (cell) { cell.textContent = String(cost); }
    });
    var left = credits - spent;
    spentCell.textContent = String(spent);
    leftCell.textContent = String(left);
    leftCell.classList.toggle("over", left < 0);
    over.hidden = left >= 0;
    if (left < 0) { over.textContent = "This ballot costs " + (-left) + " more " + unit + " than you have."; }
  }

  function button(label, text, step, input) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "step secondary";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", function () {
      var next = votesOf(input) + step;
      var min = input.getAttribute("min");
      if (min !== null && next < parseInt(min, 10)) { return; }
      input.value = String(next);
      update();
    });
    return b;
  }

  inputs.forEach(function (input) {
    var title = input.labels && input.labels[0] ? input.labels[0].textContent : "this proposal";
    input.parentNode.insertBefore(button((linear ? "One point less: " : "One vote less: ") + title, "−", -1, input), input);
    input.parentNode.insertBefore(button((linear ? "One point more: " : "One vote more: ") + title, "+", 1, input), input.nextSibling);
    input.addEventListener("input", update);
  });
  var recalculate = form.querySelector('button[value="recalculate"]');
  if (recalculate) { recalculate.hidden = true; }
  update();
})();
