/* Placing maps (the organiser's preview, the coordinators' place-by-click maps): the configured
 * tiles or the country outlines, opened on the event's town or country, a place search run on a
 * button or Enter (never per keystroke: Nominatim's usage policy), a draggable pin, and after each
 * move the time zone at the point and a warning when it is outside the event's country.
 * Configuration comes from JSON blocks and data attributes (no inline script, strict CSP);
 * every sentence shown comes from the server. */
(function () {
  "use strict";

  var worldPromises = {};

  function world(url) {
    if (!worldPromises[url]) {
      worldPromises[url] = fetch(url)
        .then(function (response) { return response.json(); })
        .then(function (topology) { return topojson.feature(topology, topology.objects.countries); });
    }
    return worldPromises[url];
  }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      });
  }

  function withParameters(url, parameters) {
    var query = Object.keys(parameters)
      .map(function (name) { return encodeURIComponent(name) + "=" + encodeURIComponent(parameters[name]); })
      .join("&");
    return url + (url.indexOf("?") < 0 ? "?" : "&") + query;
  }

  function say(element, text, warning) {
    if (!element) { return; }
    element.textContent = text || "";
    element.classList.toggle("place-warning", Boolean(warning));
  }

  /* options: config (placing_config()), view ({center, zoom} or {bounds}), country, point
   * ([lat, lon] or null), zoom (for a found place), tools (the element holding the search box
   * and the status lines), onMove(latlng) (called after a drag, a click or a pick). */
  function create(element, options) {
    var config = options.config;
    var map = L.map(element, {
      worldCopyJump: true,
      scrollWheelZoom: false,
      attributionControl: Boolean(config.tiles)
    });
    var view = options.view || { center: [20, 0], zoom: 2 };
    var touched = false;  // once the person moves the map or the pin, the view is theirs
    function openView() {
      if (view.bounds) {
        map.fitBounds(view.bounds, { padding: [8, 8], maxZoom: options.zoom || 12, animate: false });
      } else {
        map.setView(view.center, view.zoom, { animate: false });
      }
    }
    openView();
    ["pointerdown", "wheel", "keydown"].forEach(function (name) {
      element.addEventListener(name, function () { touched = true; });
    });
    /* The page's layout may still change the box's size (style sheets, the search box): keep the
       opening view filling it until the person takes over. */
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () {
        map.invalidateSize({ pan: false });
        if (!touched) { openView(); }
      }).observe(element);
    }
    if (config.tiles) {
      L.tileLayer(config.tiles, { attribution: config.attribution, maxZoom: 19 }).addTo(map);
    } else if (typeof topojson !== "undefined") {
      world(config.world).then(function (countries) {
        L.geoJSON(countries, {
          interactive: false,
          style: { color: "#7a7a7a", weight: 0.6, fillColor: "#e9e4d8", fillOpacity: 1 }
        }).addTo(map).bringToBack();
      }).catch(function () {});
    }

    var tools = options.tools;
    if (tools) { tools.hidden = false; }
    var find = function (selector) { return tools ? tools.querySelector(selector) : null; };
    var zoneLine = find("[data-place-zone]");
    var warningLine = find("[data-place-warning]");
    var marker = null;
    var checked = 0;

    function check(latlng) {
      var asked = ++checked;
      say(zoneLine, config.messages.checking);
      var point = latlng.wrap();
      var url = withParameters(config.atUrl, {
        lat: point.lat.toFixed(6),
        lon: point.lng.toFixed(6),
        country: options.country || ""
      });
      getJson(url).then(function (answer) {
        if (asked !== checked) { return; }  // an older answer, after a newer move
        say(zoneLine, answer.ok ? answer.body.zone_message : answer.body.message);
        say(warningLine, answer.ok && answer.body.outside ? answer.body.message : "", true);
        element.dataset.checked = String(asked);
      }).catch(function () {
        if (asked === checked) { say(zoneLine, config.messages.failed); }
      });
    }

    function moved(latlng) {
      if (options.onMove) { options.onMove(latlng.wrap()); }
      check(latlng);
    }

    function place(latlng) {
      if (marker) {
        marker.setLatLng(latlng);
        return;
      }
      marker = L.marker(latlng, {
        draggable: true, title: config.messages.marker, alt: config.messages.marker
      }).addTo(map);
      marker.on("dragend", function () { moved(marker.getLatLng()); });  // when the drag ends, not during it
    }

    map.on("click", function (event) {
      place(event.latlng);
      moved(event.latlng);
    });
    if (options.point) { place(options.point); }

    var input = find("[data-place-query]");
    var button = find("[data-place-search]");
    var status = find("[data-place-status]");
    var list = find("[data-place-results]");

    function pick(result) {
      touched = true;
      var latlng = L.latLng(result.lat, result.lon);
      place(latlng);
      map.setView(latlng, result.precision === "address" ? 17 : 13);
      moved(latlng);
      say(status, config.messages.moved.replace("%(name)s", result.name));
      list.replaceChildren();
      input.focus();  // the chosen button is gone: keep keyboard users where they searched
    }

    function search() {
      var text = input.value.trim();
      if (!text) { input.focus(); return; }
      say(status, config.messages.searching);
      list.replaceChildren();
      button.disabled = true;
      getJson(withParameters(config.searchUrl, { q: text, country: options.country || "" }))
        .then(function (answer) {
          var places = answer.ok ? answer.body.places : [];
          say(status, places.length ? config.messages.choose : answer.body.message);
          places.forEach(function (result) {
            var item = document.createElement("li");
            var choice = document.createElement("button");
            choice.type = "button";
            choice.className = "place-result";
            choice.textContent = result.name;
            choice.addEventListener("click", function () { pick(result); });
            item.appendChild(choice);
            list.appendChild(item);
          });
        })
        .catch(function () { say(status, config.messages.failed); })
        .then(function () { button.disabled = false; });
    }

    if (input && button && list) {
      button.addEventListener("click", search);
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();  // the box sits inside the page's form: search, do not send it
          search();
        }
      });
    }

    element.placeMap = map;  // for the page's own scripts and the browser tests
    return {
      map: map,
      moveTo: function (lat, lon, zoom) {
        touched = true;
        var latlng = L.latLng(lat, lon);
        place(latlng);
        map.setView(latlng, zoom || Math.max(map.getZoom(), 12));
        check(latlng);
      }
    };
  }

  window.MapappPlaceMap = { create: create };
})();
