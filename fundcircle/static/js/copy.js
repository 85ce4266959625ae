// Copy buttons: a button[data-copy] copies the text of the element whose id it names. The button is hidden in the
// page, so that without JavaScript only the text shows (to select and copy by hand); this script shows it.
(function () {
  "use strict";
  function copied(button, ok) {
    var status = button.parentNode.querySelector(".copy-status");
    // The words are the page's, in its language (data-copied, data-copy-failed on the status).
    if (status) { status.textContent = status.getAttribute(ok ? "data-copied" : "data-copy-failed") || ""; }
  }
  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.textContent.trim();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { copied(button, true); }, function () {
        selectText(source);
        copied(button, false);
      });
    } else {
      selectText(source);
      copied(button, false);
    }
  }
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { copy(button); });
  });
}());
