// qualcode review: keyboard shortcuts (a accept, r reject, j/n next, k previous) and scrolling to the segment.
(function () {
  "use strict";
  function activate(id) {
    var element = document.getElementById(id);
    if (!element) { return false; }
    element.click();
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) { return; }
    var target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) { return; }
    var done = false;
    switch (event.key) {
      case "a": done = activate("accept"); break;
      case "r": done = activate("reject"); break;
      case "j": case "n": done = activate("next"); break;
      case "k":
        done = activate("prev");
        if (!done && document.getElementById("decide")) { history.back(); done = true; }
        break;
      default: return;
    }
    if (done) { event.preventDefault(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var current = document.getElementById("current");
    var pane = document.getElementById("transcript");
    if (current && pane) {
      pane.scrollTop = Math.max(0, current.offsetTop - pane.offsetTop - pane.clientHeight / 3);
    }
  });
}());
