/* Coordinators' pages: small offline maps to see and place events, and "tick all" for bulk approval.
   Data comes from data-* attributes and a JSON block: no inline scripts, so a strict CSP works. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("admin-config").textContent);

  function coordinate(value) {
    var number = parseFloat(value);
    return isNaN(number) ? null : number;
  }

  /* A small placing map per event (static/js/place-map.js): tiles or outlines, search, and the
     time zone and country check after each move; the place form is filled, then sent by hand. */
  function setUpMiniMap(element) {
    var lat = coordinate(element.dataset.lat);
    var lon = coordinate(element.dataset.lon);
    var placed = lat !== null && lon !== null;
    var form = document.getElementById(element.dataset.placeForm);
    window.MapappPlaceMap.create(element, {
      config: config.placing,
      view: JSON.parse(element.dataset.view || "null"),
      country: element.dataset.country,
      point: placed ? [lat, lon] : null,
      zoom: 11,
      tools: element.parentNode.querySelector("[data-place-tools]"),
      onMove: function (point) {
        if (!form) { return; }
        form.elements.latitude.value = point.lat.toFixed(6);
        form.elements.longitude.value = point.lng.toFixed(6);
        form.querySelector("button").disabled = false;
        form.querySelector(".place-hint").textContent = config.strings.newPlace
          .replace("%(lat)s", point.lat.toFixed(4))
          .replace("%(lon)s", point.lng.toFixed(4));
      }
    });
  }

  document.querySelectorAll("[data-mini-map]").forEach(setUpMiniMap);
  // For cards the queue's script (admin-queue.js) puts in place after an action.
  window.MapappAdmin = { setUpMiniMap: setUpMiniMap };

  var tickAll = document.querySelector("[data-tick-all]");
  if (tickAll) {
    tickAll.addEventListener("change", function () {
      document.querySelectorAll('input[name="ids"][form="bulk-approve"]').forEach(function (box) {
        box.checked = tickAll.checked;
      });
    });
  }
})();
