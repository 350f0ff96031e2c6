/* The queue's actions in place: approve, reject, place, approve or reject a change, without
   leaving the coordinator's place. Each card's forms are sent with fetch (Accept: application/json);
   on success the card leaves the list (or is replaced by its new self), focus moves to the next
   card's heading and the result is announced in the live region. A lost race (409) shows the
   event as it is now, in place. Without this script, or if fetch fails, the forms post as usual
   and the answer's redirect comes back to the same card. No inline script: a strict CSP works. */
(function () {
  "use strict";

  if (!window.fetch || !window.FormData) { return; }

  var status = document.querySelector("[data-queue-status]");
  // Sentences in the page's language, from the page (templates/admin/_map_scripts.html).
  var configBlock = document.getElementById("admin-config");
  var strings = (configBlock && JSON.parse(configBlock.textContent).strings) || {};
  var language = document.documentElement.lang || "en";
  var heading = document.getElementById("queue-title");

  function announce(message, kind) {
    if (!status) { return; }
    // A failure (a lost race, an error) is shown as one, not in the colours of a success.
    status.dataset.kind = kind || "success";
    // Emptied first so that the same message twice is announced twice.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = message; }, 50);
  }

  function focusHeading(element) {
    if (!element) { return; }
    var target = element.matches("h1, h2, h3") ? element : element.querySelector("h2, h3");
    if (target) { target.focus(); }
  }

  function updateCount(card) {
    if (!card || card.dataset.queueCard !== "event") { return; }
    var count = document.querySelector("[data-queue-count]");
    if (!count) { return; }
    var left = Math.max(0, parseInt(count.dataset.queueCount, 10) - 1);
    count.dataset.queueCount = String(left);
    count.textContent = "(" + left.toLocaleString(language) + ")";
  }

  function setUpCard(card) {
    if (!card) { return; }
    var map = card.querySelector("[data-mini-map]");
    if (map && window.MapappAdmin) { window.MapappAdmin.setUpMiniMap(map); }
  }

  function replaceCard(card, html) {
    var holder = document.createElement("ol");
    holder.innerHTML = html;
    var fresh = holder.firstElementChild;
    if (!fresh) { return card; }
    card.replaceWith(fresh);
    setUpCard(fresh);
    return fresh;
  }

  function removeCard(card) {
    var list = card.parentNode;
    var next = card.nextElementSibling || card.previousElementSibling;
    updateCount(card);
    card.remove();
    if (next) {
      focusHeading(next);
      return;
    }
    var empty = list && list.parentNode && list.parentNode.querySelector("[data-queue-empty]");
    if (empty && card.dataset.queueCard === "event") { empty.hidden = false; }
    var section = list && list.closest("section");
    focusHeading(section ? section.querySelector("h2") : heading);
  }

  function showError(card, message) {
    var error = card.querySelector("[data-card-error]");
    if (error) {
      error.textContent = message;
      error.hidden = false;
    }
    announce(message, "error");
  }

  function send(form, card, button) {
    var body = new FormData(form);
    if (button && button.name) { body.append(button.name, button.value); }
    if (button) { button.disabled = true; }
    card.setAttribute("aria-busy", "true");
    return fetch(form.action, {
      method: "POST",
      body: body,
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) { throw new Error("not an answer for a script"); }
      return response.json().then(function (answer) { return { status: response.status, answer: answer }; });
    }).then(function (result) {
      card.removeAttribute("aria-busy");
      var answer = result.answer;
      var message = answer.message || "";
      if (result.status === 200 && answer.removed) {
        removeCard(card);
        announce(message);
      } else if (result.status === 200 || result.status === 409) {
        var fresh = answer.html ? replaceCard(card, answer.html) : card;
        focusHeading(fresh);
        announce(message, result.status === 409 ? "error" : "success");
      } else {
        if (button) { button.disabled = false; }
        showError(card, message || strings.notSaved || "");
      }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var card = form.closest("[data-queue-card]");
    if (!card || form.method.toLowerCase() !== "post") { return; }
    event.preventDefault();
    var button = event.submitter || form.querySelector("button[type=submit]");
    send(form, card, button).catch(function () {
      // No answer a script can use (the network, a sign-in page): post the form as usual.
      form.submit();
    });
  });
})();
