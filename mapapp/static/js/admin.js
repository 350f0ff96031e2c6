/* Coordinators' pages: small offline maps to see and place events, and "tick all" for bulk approval.
   Data comes from data-* attributes and a JSON block: no inline scripts, so a strict CSP works. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("admin-config").textContent);
  var worldPromise = null;

  /* Fetch the world's countries once and share them between every small map. */
  function world() {
    if (!worldPromise) {
      worldPromise = fetch(config.world)
        .then(function (response) { return response.json(); })
        .then(function (topology) { return topojson.feature(topology, topology.objects.countries); });
    }
    return worldPromise;
  }

  function coordinate(value) {
    var number = parseFloat(value);
    return isNaN(number) ? null : number;
  }

  function setUpMiniMap(element) {
    var lat = coordinate(element.dataset.lat);
    var lon = coordinate(element.dataset.lon);
    var placed = lat !== null && lon !== null;
    var map = L.map(element, { worldCopyJump: true, attributionControl: false });
    map.setView(placed ? [lat, lon] : [20, 0], placed ? 5 : 1);
    world().then(function (countries) {
      L.geoJSON(countries, {
        interactive: false,
        style: { color: "#7a7a7a", weight: 0.6, fillColor: "#e9e4d8", fillOpacity: 1 }
      }).addTo(map).bringToBack();
    });
    var marker = placed ? L.marker([lat, lon], { keyboard: false }).addTo(map) : null;
    var form = document.getElementById(element.dataset.placeForm);
    if (!form) { return; }
    map.on("click", function (event) {
      var point = event.latlng.wrap();
      if (marker) { marker.setLatLng(point); } else { marker = L.marker(point).addTo(map); }
      form.elements.latitude.value = point.lat.toFixed(6);
      form.elements.longitude.value = point.lng.toFixed(6);
      form.querySelector("button").disabled = false;
      form.querySelector(".place-hint").textContent =
        "New place: " + point.lat.toFixed(4) + ", " + point.lng.toFixed(4) + ". Press the button to save it.";
    });
  }

  document.querySelectorAll("[data-mini-map]").forEach(setUpMiniMap);

  var tickAll = document.querySelector("[data-tick-all]");
  if (tickAll) {
    tickAll.addEventListener("change", function () {
      document.querySelectorAll('input[name="ids"][form="bulk-approve"]').forEach(function (box) {
        box.checked = tickAll.checked;
      });
    });
  }
})();
