/* The dashboard's choropleth: world-atlas countries shaded by approved events (offline, no tiles).
   world-atlas names countries by ISO 3166-1 numeric code; the server keys its data the same way,
   with the colour classes of the legend, each country's page and the points of small countries. */
(function () {
  "use strict";

  var element = document.getElementById("choropleth");
  if (!element) return;
  var data = JSON.parse(document.getElementById("stats-data").textContent);
  // The sentences, in the page's language: "counts" holds one form per CLDR plural category.
  var strings = JSON.parse(document.getElementById("stats-strings").textContent);
  var language = document.documentElement.dataset.formats || document.documentElement.lang || "en";
  var plurals = window.Intl && Intl.PluralRules ? new Intl.PluralRules(language) : null;

  function shade(count) {
    for (var i = 0; i < data.classes.length; i++) {
      if (data.classes[i][0] <= count && count <= data.classes[i][1]) return data.classes[i][2];
    }
    return data.noEvents;
  }

  function describe(country) {
    var text = strings.none;
    if (country.count !== 0) {
      var category = plurals ? plurals.select(country.count) : (country.count === 1 ? "one" : "other");
      text = strings.counts[category] || strings.counts.other;
    }
    // Replaced in one pass, so that a country's name is never read as a placeholder.
    return text.replace(/%\((name|num)\)s/g, function (whole, key) {
      return key === "name" ? country.name : country.count.toLocaleString(language);
    });
  }

  // Polygons crossing 180°: each ring is made continuous (no jump of a whole turn between two
  // points), then each piece is moved by whole turns to lie nearest the country's largest piece
  // (Chukotka beside Russia, Fiji's eastern isles beside Viti Levu, the Aleutians beside Alaska).

  function unwrapRing(ring) {
    for (var k = 1; k < ring.length; k++) {
      var previous = ring[k - 1][0];
      while (ring[k][0] - previous > 180) ring[k][0] -= 360;
      while (previous - ring[k][0] > 180) ring[k][0] += 360;
    }
  }

  function box(polygon) {
    var west = Infinity, east = -Infinity, south = Infinity, north = -Infinity;
    polygon[0].forEach(function (point) {
      west = Math.min(west, point[0]); east = Math.max(east, point[0]);
      south = Math.min(south, point[1]); north = Math.max(north, point[1]);
    });
    return { middle: (west + east) / 2, area: (east - west) * (north - south) };
  }

  function unwrapGeometry(geometry) {
    if (!geometry) return;
    var polygons = geometry.type === "Polygon" ? [geometry.coordinates]
      : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
    polygons.forEach(function (polygon) { polygon.forEach(unwrapRing); });
    if (polygons.length < 2) return;
    var boxes = polygons.map(box);
    var largest = boxes.reduce(function (best, item) { return item.area > best.area ? item : best; });
    polygons.forEach(function (polygon, i) {
      var shift = Math.round((largest.middle - boxes[i].middle) / 360) * 360;
      if (!shift) return;
      polygon.forEach(function (ring) { ring.forEach(function (point) { point[0] += shift; }); });
    });
  }

  // One tooltip follows the pointer. (A tooltip bound to each shape listens for focus, which
  // makes Chromium put every shape in the Tab order: hundreds of stops before the tables, which
  // are the keyboard's way to the same pages.)
  var tip = L.tooltip({ direction: "top", offset: [0, -8] });

  function linkTo(layer, country) {
    layer.on("mouseover", function (event) {
      var label = document.createElement("span");
      label.textContent = describe(country);
      tip.setLatLng(event.latlng).setContent(label).openOn(map);
    });
    layer.on("mousemove", function (event) { tip.setLatLng(event.latlng); });
    layer.on("mouseout", function () { map.closeTooltip(tip); });
    layer.on("click", function () { window.location.assign(country.url); });
  }

  var map = L.map(element, { attributionControl: false, minZoom: 1 }).setView([20, 10], 1);

  fetch(data.world)
    .then(function (response) {
      if (!response.ok) throw new Error("world map " + response.status);
      return response.json();
    })
    .then(function (topology) {
      var world = topojson.feature(topology, topology.objects.countries);
      world.features.forEach(function (feature) { unwrapGeometry(feature.geometry); });
      var countries = L.geoJSON(world, {
        style: function (feature) {
          var country = data.countries[feature.id];
          return {
            color: "#666",
            weight: 0.5,
            fillOpacity: 1,
            fillColor: shade(country ? country.count : 0),
            interactive: Boolean(country),
            className: country ? "country country-" + country.code : "country",
          };
        },
        onEachFeature: function (feature, layer) {
          var country = data.countries[feature.id];
          if (country) linkTo(layer, country);
        }
      }).addTo(map);
      // Small countries on top, as circles that can be seen and clicked at any zoom.
      Object.keys(data.countries).forEach(function (numeric) {
        var country = data.countries[numeric];
        if (!country.point) return;
        var circle = L.circleMarker(country.point, {
          radius: 6,
          color: "#222",
          weight: 1.5,
          fillOpacity: 1,
          fillColor: shade(country.count),
          className: "small-country small-country-" + country.code,
        }).addTo(map);
        linkTo(circle, country);
      });
      window.mapapp = window.mapapp || {};
      window.mapapp.dashboard = { map: map, countries: countries };
      element.dataset.ready = "true";
    })
    .catch(function () {
      element.dataset.ready = "failed";
      var note = document.createElement("p");
      note.className = "map-failed";
      note.textContent = strings.failed;
      element.parentNode.insertBefore(note, element);
    });
})();
