/* The event page: show an online event's start in the visitor's own time. */
(function () {
  "use strict";
  document.querySelectorAll(".visitor-time[data-start]").forEach(function (node) {
    var moment = new Date(node.getAttribute("data-start"));
    if (isNaN(moment.getTime())) return;
    node.textContent =
      " It starts " + moment.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" }) + " your time.";
  });
})();
