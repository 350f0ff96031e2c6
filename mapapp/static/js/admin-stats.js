/* The dashboard's choropleth: world-atlas countries shaded by approved events (offline, no tiles).
   world-atlas names countries by ISO 3166-1 numeric code; the server keys its counts the same way. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("stats-data").textContent);
  var SHADES = ["#f1e8f6", "#d4b9e3", "#b48acf", "#8f57b5", "#6a1b9a"];
  var NO_EVENTS = "#f7f7f7";

  function shade(count) {
    if (!count) { return NO_EVENTS; }
    // Five equal steps up to the largest count: the country with the most events is darkest.
    var step = Math.max(0, Math.ceil((SHADES.length * count) / data.largest) - 1);
    return SHADES[step];
  }

  var element = document.getElementById("choropleth");
  var map = L.map(element, { worldCopyJump: true, attributionControl: false }).setView([20, 10], 1);

  fetch(data.world)
    .then(function (response) { return response.json(); })
    .then(function (topology) {
      var countries = topojson.feature(topology, topology.objects.countries);
      L.geoJSON(countries, {
        style: function (feature) {
          var country = data.countries[feature.id];
          return { color: "#666", weight: 0.5, fillOpacity: 1, fillColor: shade(country && country.count) };
        },
        onEachFeature: function (feature, layer) {
          var country = data.countries[feature.id];
          var name = country ? country.name : feature.properties.name;
          var count = country ? country.count : 0;
          var label = document.createElement("span");
          label.textContent = name + ": " + count + (count === 1 ? " event" : " events");
          layer.bindTooltip(label);
          if (country) { layer.feature.properties.mapappCode = country.code; }
        }
      }).addTo(map);
      element.dataset.ready = "true";
    });
})();
