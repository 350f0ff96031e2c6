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

  var first = candidates[0];
  var map = L.map(mapElement, { worldCopyJump: true, attributionControl: false });
  map.setView(first ? [first.latitude, first.longitude] : [20, 0], first ? 11 : 2);

  if (data.world && typeof topojson !== "undefined") {
    fetch(data.world)
      .then(function (response) { return response.json(); })
      .then(function (topology) {
        L.geoJSON(topojson.feature(topology, topology.objects.countries), {
          interactive: false,
          style: { color: "#7a7a7a", weight: 0.6, fillColor: "#e9e4d8", fillOpacity: 1 }
        }).addTo(map).bringToBack();
      });
  }

  var marker = null;
  function placeMarker(lat, lon) {
    if (marker) {
      marker.setLatLng([lat, lon]);
      return;
    }
    marker = L.marker([lat, lon], { draggable: true, title: "Event location", alt: "Event location" }).addTo(map);
    marker.on("dragend", function () {
      var point = marker.getLatLng().wrap();
      latInput.value = point.lat.toFixed(6);
      lonInput.value = point.lng.toFixed(6);
    });
  }
  if (first) {
    placeMarker(first.latitude, first.longitude);
  }

  /* Picking another candidate moves the pin and clears typed coordinates. */
  form.querySelectorAll('input[name="place"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      var candidate = candidates[parseInt(radio.value, 10)];
      if (!candidate) { return; }
      latInput.value = "";
      lonInput.value = "";
      placeMarker(candidate.latitude, candidate.longitude);
      map.setView([candidate.latitude, candidate.longitude], 11);
    });
  });

  /* Clicking the map or typing coordinates moves the pin there. */
  map.on("click", function (event) {
    var point = event.latlng.wrap();
    placeMarker(point.lat, point.lng);
    latInput.value = point.lat.toFixed(6);
    lonInput.value = point.lng.toFixed(6);
  });
  function typed() {
    var lat = coordinate(latInput.value);
    var lon = coordinate(lonInput.value);
    if (lat !== null && lon !== null && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
      placeMarker(lat, lon);
      map.panTo([lat, lon]);
    }
  }
  latInput.addEventListener("change", typed);
  lonInput.addEventListener("change", typed);
})();
