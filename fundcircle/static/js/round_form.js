// The round form shows only the settings of the decision method chosen, as the choice changes. Without this script
// (and without CSS :has) every fieldset shows, each saying which methods it is for, and the server ignores the
// settings of the methods not chosen.
(function () {
  "use strict";
  var form = document.querySelector("form.round-settings");
  if (!form) { return; }
  var radios = Array.prototype.slice.call(form.querySelectorAll('input[name="method"]'));
  var parts = Array.prototype.slice.call(form.querySelectorAll("[data-methods]"));

  function chosen() {
    for (var i = 0; i < radios.length; i += 1) {
      if (radios[i].checked) { return radios[i].value; }
    }
    return "";
  }

  function update() {
    var method = chosen();
    parts.forEach(function (part) {
      var methods = part.getAttribute("data-methods").split(" ");
      // No method chosen yet (an unusual page): show everything rather than hide a setting that may matter.
      part.hidden = method !== "" && methods.indexOf(method) === -1;
    });
  }

  radios.forEach(function (radio) { radio.addEventListener("change", update); });
  update();
}());
