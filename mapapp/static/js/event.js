/* The event page: an online event's start in the visitor's own time, and sharing (copy, Web Share).
 * Every sentence comes from the page (data-* attributes written with the catalog): none here. */
(function () {
  "use strict";
  // The page's date and number conventions (British English for English: en-GB).
  var language = document.documentElement.dataset.formats || document.documentElement.lang || undefined;

  document.querySelectorAll(".visitor-time[data-start]").forEach(function (node) {
    var moment = new Date(node.getAttribute("data-start"));
    var template = node.getAttribute("data-template");
    if (isNaN(moment.getTime()) || !template) return;
    var when;
    try {
      when = moment.toLocaleString(language, { dateStyle: "full", timeStyle: "short" });
    } catch (error) {
      when = moment.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
    }
    node.textContent = template.replace("%(when)s", when);
  });

  var share = document.querySelector(".event-share");
  if (!share) return;
  var url = share.getAttribute("data-url");
  var status = share.querySelector(".share-status");
  var shown = share.querySelector(".share-url");

  function announce(text) {
    // Emptied first, so the same words said twice are announced twice.
    status.textContent = "";
    window.setTimeout(function () {
      status.textContent = text;
    }, 30);
  }

  function selectLink() {
    var range = document.createRange();
    range.selectNodeContents(shown);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    announce(share.getAttribute(copied ? "data-copied" : "data-copy-failed"));
  }

  var copy = share.querySelector(".share-copy");
  if (copy) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
        navigator.clipboard.writeText(url).then(function () {
          announce(share.getAttribute("data-copied"));
        }, selectLink);
      } else {
        selectLink();
      }
    });
  }

  var native = share.querySelector(".share-native");
  if (native && typeof navigator.share === "function") {
    native.hidden = false;
    native.addEventListener("click", function () {
      navigator.share({ title: share.getAttribute("data-title"), url: url }).catch(function () {
        // The visitor closed the share sheet: nothing to say.
      });
    });
  }
})();
