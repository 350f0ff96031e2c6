/* The coordinators' edit form: the placing map (static/js/place-map.js) writes the point it is
   given into the form's latitude and longitude fields, saved with the form; typing in those fields
   moves the pin; the chosen country is the one the map searches in and checks the point against.
   The zone menu follows the country through static/js/zones.js. Sentences come from the page. */
(function () {
  "use strict";

  var element = document.querySelector("[data-edit-map]");
  var configBlock = document.getElementById("admin-config");
  if (!element || !configBlock || !window.MapappPlaceMap) {
    return;
  }
  var config = JSON.parse(configBlock.textContent);
  var latitude = document.getElementById("field-latitude");
  var longitude = document.getElementById("field-longitude");
  var country = document.getElementById("field-country");
  var hint = document.getElementById("edit-map-hint");

  function number(value) {
    var parsed = parseFloat(value);
    return isFinite(parsed) ? parsed : null;
  }

  var lat = number(element.dataset.lat);
  var lon = number(element.dataset.lon);
  var options = {
    config: config.placing,
    view: JSON.parse(element.dataset.view || "null"),
    country: country ? country.value : element.dataset.country,
    point: lat !== null && lon !== null ? [lat, lon] : null,
    zoom: 11,
    tools: element.parentNode.querySelector("[data-place-tools]"),
    onMove: function (point) {
      latitude.value = point.lat.toFixed(6);
      longitude.value = point.lng.toFixed(6);
      if (hint) {
        hint.textContent = element.dataset.moved
          .replace("{lat}", point.lat.toFixed(4))
          .replace("{lon}", point.lng.toFixed(4));
      }
    }
  };
  var placeMap = window.MapappPlaceMap.create(element, options);

  /* A point typed into the fields moves the pin (once both are numbers in range). */
  function typed() {
    var typedLat = number(latitude.value);
    var typedLon = number(longitude.value);
    if (typedLat === null || typedLon === null || Math.abs(typedLat) > 90 || Math.abs(typedLon) > 180) {
      return;
    }
    placeMap.moveTo(typedLat, typedLon);
  }
  if (latitude && longitude) {
    latitude.addEventListener("change", typed);
    longitude.addEventListener("change", typed);
  }
  if (country) {
    country.addEventListener("change", function () { options.country = country.value; });
  }
})();
