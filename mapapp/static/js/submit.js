/* Organisers' pages: focus the error summary, and the location preview's small map.
   Data comes from a JSON block: no inline scripts, so a strict CSP works. Without JavaScript the
   forms still work: the place radios and coordinate fields do the same as the map. */
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }

  var dataBlock = document.getElementById("preview-data");
  var mapElement = document.getElementById("preview-map");
  if (!dataBlock || !mapElement || typeof L === "undefined") {
    return;
  }
  var data = JSON.parse(dataBlock.textContent);
  var candidates = data.candidates || [];
  var form = document.getElementById("confirm-form");
  var latInput = form.elements.latitude;
  var lonInput = form.elements.longitude;

  function coordinate(value) {
    var number = parseFloat(value);
    return isNaN(number) ? null : number;
  }

  var placing = JSON.parse(document.getElementById("place-map-config").textContent);
  var typedLat = coordinate(latInput.value);
  var typedLon = coordinate(lonInput.value);
  var first = candidates[0];
  /* A preview shown again keeps the typed point; else the first place found; else the country. */
  var point = typedLat !== null && typedLon !== null ? [typedLat, typedLon]
    : first ? [first.latitude, first.longitude] : null;
  var tools = document.querySelector("[data-place-tools]");
  var placeMap = window.MapappPlaceMap.create(mapElement, {
    config: placing.config,
    view: point ? { center: point, zoom: 13 } : placing.view,
    country: placing.country,
    point: point,
    tools: tools,
    onMove: function (point) {
      latInput.value = point.lat.toFixed(6);
      lonInput.value = point.lng.toFixed(6);
    }
  });

  /* Picking another candidate moves the pin and clears typed coordinates. */
  form.querySelectorAll('input[name="place"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      var candidate = candidates[parseInt(radio.value, 10)];
      if (!candidate) { return; }
      latInput.value = "";
      lonInput.value = "";
      placeMap.moveTo(candidate.latitude, candidate.longitude, 13);
    });
  });

  /* Typing coordinates moves the pin there (the map itself handles clicks and drags). */
  function typed() {
    var lat = coordinate(latInput.value);
    var lon = coordinate(lonInput.value);
    if (lat !== null && lon !== null && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
      placeMap.moveTo(lat, lon);
    }
  }
  latInput.addEventListener("change", typed);
  lonInput.addEventListener("change", typed);
})();
