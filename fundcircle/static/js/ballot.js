// The ballot page without a round trip: - and + buttons next to each number, the credit bar, the costs, what the
// next vote costs and the credits left as you click. A button that would spend more than is left (or go below the
// lowest number the round allows) is greyed out and does nothing, so the buttons never take a ballot below 0 left.
// Without JavaScript the same form works with its number fields and the Recalculate button; the server checks
// every ballot whatever this script shows. Every word it writes is the page's (data-words on the form, in the page's
// language, with places such as {count} left open), so the script itself holds no text.
(function () {
  "use strict";
  var form = document.querySelector("form.ballot");
  if (!form) { return; }
  var credits = parseInt(form.getAttribute("data-credits"), 10);
  // Cumulative ballots: a point costs one point; quadratic ones: n votes cost n×n credits.
  var linear = form.getAttribute("data-cost") === "linear";
  var negative = form.getAttribute("data-negative") === "yes";
  var pageWords = JSON.parse(form.getAttribute("data-words") || "{}");
  // The plural form of a number in the page's language ("one" or "other" for the languages Fund Circle speaks).
  var plurals = new Intl.PluralRules(document.documentElement.lang || "en");
  var inputs = Array.prototype.slice.call(form.querySelectorAll("input.votes"));
  var spentCell = document.getElementById("credits-spent");
  var leftCell = document.getElementById("credits-left");
  var over = document.getElementById("over-budget");
  var meter = document.getElementById("credit-meter");
  var barSpent = document.getElementById("bar-spent");
  var barLeft = document.getElementById("bar-left");
  // For each number field: its - and + buttons and the words saying what the next vote costs.
  var steppers = [];

  function votesOf(input) {
    var value = parseInt(input.value, 10);
    return isNaN(value) ? 0 : value;
  }

  function costOf(votes) {
    return linear ? votes : votes * votes;
  }

  // The page's words with their places filled: {count}, {left}, {title} ...
  function filled(text, values) {
    return String(text || "").replace(/\{(\w+)\}/g, function (place, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : place;
    });
  }

  // Words that change with a number, in the plural form the number takes.
  function counted(key, count, values) {
    var forms = pageWords[key] || {};
    var text = forms[plurals.select(count)] || forms.other || "";
    return filled(text, Object.assign({ count: count }, values || {}));
  }

  // What a step costs: affordable, more than is left, or with nothing left.
  function stepWords(key, count, left) {
    if (count <= left) { return counted(key, count); }
    return left > 0 ? counted(key + "_over", count, { left: left }) : counted(key + "_none", count);
  }

  // The same words as the page's (fundcircle.voting.views.next_words), so the text does not change when the script
  // takes over.
  function nextWords(more, fewer, left) {
    var text = more > 0 ? stepWords("next", more, left) : counted("back", -more);
    if (negative && fewer > 0) {
      text += "; " + stepWords("against", fewer, left);
    }
    return text;
  }

  function setUsable(button, usable) {
    if (usable) { button.removeAttribute("aria-disabled"); } else { button.setAttribute("aria-disabled", "true"); }
  }

  function lowestOf(input) {
    var min = input.getAttribute("min");
    return min === null ? null : parseInt(min, 10);
  }

  function update() {
    var spent = 0;
    inputs.forEach(function (input) {
      var cost = costOf(votesOf(input));
      spent += cost;
      var cell = form.querySelector('td.cost[data-for="' + input.id + '"]');
      if (cell) { cell.textContent = String(cost); }
    });
    var left = credits - spent;
    steppers.forEach(function (stepper) {
      var votes = votesOf(stepper.input);
      var more = costOf(votes + 1) - costOf(votes);
      var fewer = costOf(votes - 1) - costOf(votes);
      var lowest = lowestOf(stepper.input);
      setUsable(stepper.more, more <= left);
      setUsable(stepper.fewer, (lowest === null || votes - 1 >= lowest) && fewer <= left);
      if (stepper.words) { stepper.words.textContent = nextWords(more, fewer, left); }
    });
    spentCell.textContent = String(spent);
    leftCell.textContent = String(left);
    leftCell.classList.toggle("over", left < 0);
    if (meter) {
      meter.value = Math.max(0, Math.min(spent, credits));
      meter.textContent = filled(pageWords.meter, { spent: spent, credits: credits });
    }
    if (barSpent) { barSpent.textContent = String(spent); }
    if (barLeft) { barLeft.textContent = String(left); barLeft.classList.toggle("over", left < 0); }
    over.hidden = left >= 0;
    if (left < 0) { over.textContent = counted("over_budget", -left); }
  }

  function button(label, text, step, input, describedBy) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "step secondary";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    if (describedBy) { b.setAttribute("aria-describedby", describedBy); }
    b.addEventListener("click", function () {
      // aria-disabled rather than disabled: the button keeps the keyboard focus when it greys out.
      if (b.getAttribute("aria-disabled") === "true") { return; }
      input.value = String(votesOf(input) + step);
      update();
    });
    return b;
  }

  inputs.forEach(function (input) {
    var title = input.labels && input.labels[0] ? input.labels[0].textContent : pageWords.this_proposal;
    var words = document.getElementById("next-" + input.id);
    var describedBy = words ? words.id : null;
    var fewer = button(filled(pageWords.less, { title: title }), "−", -1, input, describedBy);
    var more = button(filled(pageWords.more, { title: title }), "+", 1, input, describedBy);
    input.parentNode.insertBefore(fewer, input);
    input.parentNode.insertBefore(more, input.nextSibling);
    steppers.push({ input: input, fewer: fewer, more: more, words: words });
    input.addEventListener("input", update);
  });
  var recalculate = form.querySelector('button[value="recalculate"]');
  if (recalculate) { recalculate.hidden = true; }
  update();
})();
