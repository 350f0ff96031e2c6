/* Small maps with one marker (event pages, the submission form): configured by data attributes
 * set by mapview.small_map_parts, so pages need no inline script; the marker's name comes from
 * data-marker-title, in the page's language. */
(function () {
  "use strict";

  function input(id) {
    return id ? document.getElementById(id) : null;
  }

  function setUp(box) {
    var d = box.dataset;
    var hasPlace = d.lat !== "" && d.lon !== "";
    var map = L.map(box, { scrollWheelZoom: false, worldCopyJump: true }).setView(
      hasPlace ? [+d.lat, +d.lon] : [20, 0],
      hasPlace ? +d.zoom : 2
    );
    if (d.tiles) {
      L.tileLayer(d.tiles, { attribution: d.attribution, maxZoom: 19 }).addTo(map);
    } else {
      fetch(d.countries)
        .then(function (response) { return response.json(); })
        .then(function (topology) {
          L.geoJSON(topojson.feature(topology, topology.objects.countries), {
            interactive: false,
            style: { color: "#9a9aae", weight: 0.7, fillColor: "#f6f5f0", fillOpacity: 1 },
          }).addTo(map);
        })
        .catch(function () {});
    }
    var draggable = d.draggable === "true";
    var marker = null;
    var latInput = input(d.latInput);
    var lonInput = input(d.lonInput);

    function place(latlng) {
      if (!marker) {
        marker = L.marker(latlng, { draggable: draggable, keyboard: true, title: d.markerTitle || "" }).addTo(map);
        marker.on("dragend", function () { write(marker.getLatLng()); });
      } else {
        marker.setLatLng(latlng);
      }
    }

    function write(latlng) {
      var wrapped = latlng.wrap();
      if (latInput) {
        latInput.value = wrapped.lat.toFixed(6);
        latInput.dispatchEvent(new Event("change", { bubbles: true }));
      }
      if (lonInput) {
        lonInput.value = wrapped.lng.toFixed(6);
        lonInput.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }

    if (hasPlace) place([+d.lat, +d.lon]);
    if (draggable) {
      map.on("click", function (event) {
        place(event.latlng);
        write(event.latlng);
      });
      [latInput, lonInput].forEach(function (field) {
        if (!field) return;
        field.addEventListener("input", function () {
          var lat = parseFloat(latInput && latInput.value);
          var lon = parseFloat(lonInput && lonInput.value);
          if (isFinite(lat) && isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
            place([lat, lon]);
            map.setView([lat, lon], Math.max(map.getZoom(), +d.zoom));
          }
        });
      });
    }
    box.smallMap = map;
  }

  document.querySelectorAll(".small-map").forEach(setUp);
})();
