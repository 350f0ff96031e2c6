/* The events map: loads compact event data, filters it, clusters it with Supercluster and
 * lists what is in view. Every piece of event text goes into the page through textContent,
 * never as HTML. The base map (`map_main`) is created by folium's /map-setup.js. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("map-config").textContent);
  var map = window.map_main;
  var form = document.getElementById("map-filters");
  var summary = document.getElementById("summary");
  var list = document.getElementById("event-list");
  var listStatus = document.getElementById("list-status");
  var listMore = document.getElementById("list-more");
  var embedCode = document.getElementById("embed-code");
  var embedFull = document.getElementById("embed-full");

  var DAY_MS = 86400000;
  var PAGE_SIZE = 50;
  var SEARCH_DELAY_MS = 250;
  var WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];
  var FILTER_NAMES = ["q", "country", "category", "format", "year", "from", "to"];

  var data = null; // the compact columns of /api/map-data.json
  var labels = null; // titles and cities, aligned with data
  var searches = {}; // free text -> Set of matching ids (answered by the server)
  var kept = []; // positions of the events the filters keep
  var index = null; // Supercluster of the kept events that have a place
  var markers = L.layerGroup().addTo(map);
  var listLimit = PAGE_SIZE;
  var searchTimer = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function urlFor(template, id) {
    return template.replace("EVENT_ID", encodeURIComponent(id));
  }

  function isHttpUrl(value) {
    return /^https?:\/\/[^\s]+$/i.test(value || "");
  }

  function plural(count, word) {
    return count.toLocaleString("en") + " " + word + (count === 1 ? "" : "s");
  }

  // Filters: read from the form (map page) or the address (embed), written back to the address.

  function currentFilters() {
    var values = {};
    var params = new URLSearchParams(window.location.search);
    FILTER_NAMES.forEach(function (name) {
      var field = form ? form.elements.namedItem(name) : null;
      values[name] = ((field ? field.value : params.get(name)) || "").trim();
    });
    if (!values.year) values.year = String(config.edition);
    return values;
  }

  function filterParams(filters) {
    var params = new URLSearchParams();
    FILTER_NAMES.forEach(function (name) {
      var value = filters[name];
      if (!value || (name === "year" && value === String(config.edition))) return;
      params.set(name, value);
    });
    return params;
  }

  function dayOf(isoDate) {
    var parts = isoDate.split("-");
    return Date.UTC(+parts[0], +parts[1] - 1, +parts[2]) / DAY_MS;
  }

  function keptPositions(filters, matches) {
    var category = filters.category ? data.categories.indexOf(filters.category) : -2;
    var format = filters.format ? data.formats.indexOf(filters.format) : -2;
    var country = filters.country ? data.countries.indexOf(filters.country) : -2;
    var first = -Infinity;
    var last = Infinity;
    if (filters.year && filters.year !== "all") {
      first = dayOf(filters.year + "-01-01");
      last = dayOf(filters.year + "-12-31");
    }
    if (filters.from) first = Math.max(first, dayOf(filters.from));
    if (filters.to) last = Math.min(last, dayOf(filters.to));
    var result = [];
    for (var i = 0; i < data.count; i++) {
      if (category !== -2 && data.category[i] !== category) continue;
      if (format !== -2 && data.format[i] !== format) continue;
      if (country !== -2 && data.country[i] !== country) continue;
      var day = data.day[i];
      if (day < first || day > last) continue;
      if (matches && !matches.has(data.id[i])) continue;
      result.push(i);
    }
    return result;
  }

  function apply() {
    if (!data) return;
    var filters = currentFilters();
    var matches = null;
    if (filters.q) {
      matches = searches[filters.q];
      if (!matches) {
        fetchSearch(filters.q);
        return;
      }
    }
    kept = keptPositions(filters, matches);
    var countries = new Set();
    var points = [];
    kept.forEach(function (i) {
      if (data.country[i] >= 0) countries.add(data.country[i]);
      if (data.lat[i] === null) return;
      points.push({
        type: "Feature",
        properties: { i: i },
        geometry: { type: "Point", coordinates: [data.lon[i] / data.scale, data.lat[i] / data.scale] },
      });
    });
    index = new Supercluster({ radius: 60, maxZoom: 16 }).load(points);
    summary.textContent =
      plural(kept.length, "event") + " in " + plural(countries.size, "country").replace(/ys$/, "ies");
    writeAddress(filters);
    listLimit = PAGE_SIZE;
    draw();
    document.body.setAttribute("data-map-ready", "true");
  }

  function fetchSearch(text) {
    summary.textContent = "Searching…";
    fetch(config.searchUrl + "?" + new URLSearchParams({ q: text }).toString())
      .then(function (response) {
        if (!response.ok) throw new Error("search failed: " + response.status);
        return response.json();
      })
      .then(function (body) {
        searches[text] = new Set(body.ids);
        apply();
      })
      .catch(function () {
        summary.textContent = "The search did not work. Please try again.";
      });
  }

  function writeAddress(filters) {
    var query = filterParams(filters).toString();
    var suffix = query ? "?" + query : "";
    if (window.location.search !== suffix) {
      window.history.replaceState(null, "", window.location.pathname + suffix);
    }
    if (embedCode) {
      embedCode.value =
        '<iframe src="' + config.embedUrl + suffix + '" title="Rare Disease Day events map" ' +
        'width="100%" height="480" style="border:0" loading="lazy"></iframe>';
    }
    if (embedFull) embedFull.href = config.mapUrl + suffix;
  }

  // Drawing: clusters and markers for what is in view.

  function viewBox() {
    var bounds = map.getBounds();
    var west = bounds.getWest();
    var east = bounds.getEast();
    var south = Math.max(bounds.getSouth(), -85);
    var north = Math.min(bounds.getNorth(), 85);
    var center = map.getCenter().lng;
    if (east - west >= 360) return { box: [-180, south, 180, north], center: center };
    var w = ((((west + 180) % 360) + 360) % 360) - 180;
    var e = w + (east - west);
    if (e > 180) e -= 360; // Supercluster takes west > east as crossing the antimeridian
    return { box: [w, south, e, north], center: center };
  }

  function nearView(lon, view) {
    var shifted = lon;
    while (shifted - view.center > 180) shifted -= 360;
    while (view.center - shifted > 180) shifted += 360;
    return shifted;
  }

  function draw() {
    if (!index) return;
    var view = viewBox();
    var zoom = Math.round(map.getZoom());
    markers.clearLayers();
    index.getClusters(view.box, zoom).forEach(function (feature) {
      var lon = nearView(feature.geometry.coordinates[0], view);
      var latlng = [feature.geometry.coordinates[1], lon];
      if (feature.properties.cluster) {
        markers.addLayer(clusterMarker(feature, latlng));
      } else {
        markers.addLayer(eventMarker(feature.properties.i, latlng));
      }
    });
    drawList(view);
  }

  function clusterMarker(feature, latlng) {
    var count = feature.properties.point_count;
    var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
    var icon = el("span", null, count.toLocaleString("en"));
    var marker = L.marker(latlng, {
      icon: L.divIcon({ className: "cluster-icon cluster-" + size, html: icon, iconSize: [40, 40] }),
      title: plural(count, "event") + ": zoom in",
      alt: plural(count, "event"),
      keyboard: true,
    });
    marker.on("click", function () {
      var zoom = Math.min(index.getClusterExpansionZoom(feature.properties.cluster_id), 18);
      map.setView(latlng, zoom);
    });
    return marker;
  }

  function categoryCode(i) {
    return data.categories[data.category[i]] || "other";
  }

  function eventTitle(i) {
    return labels ? labels.title[i] : "Event";
  }

  function eventMarker(i, latlng) {
    var code = categoryCode(i);
    var category = config.categories[code] || { label: code };
    var letter = el("span", null, category.label.charAt(0));
    var marker = L.marker(latlng, {
      icon: L.divIcon({ className: "event-marker cat-" + code, html: letter, iconSize: [26, 26] }),
      title: eventTitle(i) + " (" + category.label + ")",
      alt: eventTitle(i),
      keyboard: true,
    });
    // A popup of its own, not bound to the marker: redrawing the markers must not close it.
    marker.on("click", function () {
      openPopup(i, latlng);
    });
    return marker;
  }

  // Popups: the event's details load on demand and are built from DOM nodes.

  function localWhen(event) {
    var start = event.starts_at || "";
    if (!start) return "";
    var day = new Date(Date.UTC(+start.slice(0, 4), +start.slice(5, 7) - 1, +start.slice(8, 10)));
    var date = WEEKDAYS[day.getUTCDay()] + " " + day.getUTCDate() + " " + MONTHS[day.getUTCMonth()] + " " + day.getUTCFullYear();
    var text = date + ", " + start.slice(11, 16);
    var end = event.ends_at || "";
    if (end) text += end.slice(0, 10) === start.slice(0, 10) ? "–" + end.slice(11, 16) : " to " + end.replace("T", " ");
    return text + " (" + (event.timezone || "UTC") + ")";
  }

  function visitorWhen(event) {
    if (!event.start) return "";
    var moment = new Date(event.start);
    if (isNaN(moment.getTime())) return "";
    return moment.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" }) + " your time";
  }

  function openPopup(i, latlng) {
    L.popup({ maxWidth: 320, minWidth: 220, offset: [0, -8] })
      .setLatLng(latlng)
      .setContent(popupFor(data.id[i]))
      .openOn(map);
  }

  function popupFor(id) {
    var box = el("div", "event-popup");
    box.appendChild(el("p", "popup-loading", "Loading the event…"));
    fetch(urlFor(config.eventApiUrl, id))
      .then(function (response) {
        if (!response.ok) throw new Error("event " + response.status);
        return response.json();
      })
      .then(function (event) {
        box.textContent = "";
        fillPopup(box, event);
      })
      .catch(function () {
        box.textContent = "";
        box.appendChild(el("p", "popup-error", "This event could not be loaded. It may have just been withdrawn."));
      });
    return box;
  }

  function fillPopup(box, event) {
    var category = config.categories[event.category] || { label: event.category };
    box.appendChild(el("h3", "popup-title", event.title));
    box.appendChild(el("p", "popup-kind", category.label + " · " + (config.formats[event.format] || event.format)));
    box.appendChild(el("p", "popup-when", localWhen(event)));
    if (event.format !== "in_person") {
      var yours = visitorWhen(event);
      if (yours) box.appendChild(el("p", "popup-visitor-time", yours));
    }
    var place = [event.venue, event.city, event.country_name].filter(Boolean).join(", ");
    if (place) box.appendChild(el("p", "popup-place", place));
    if (event.organiser) box.appendChild(el("p", "popup-organiser", "By " + event.organiser));
    var links = el("p", "popup-links");
    if (isHttpUrl(event.website)) {
      var site = el("a", "popup-website", "Website");
      site.href = event.website;
      site.rel = "noopener nofollow ugc";
      site.target = "_blank";
      links.appendChild(site);
    }
    var page = el("a", "popup-page", "Event page");
    page.href = urlFor(config.eventUrl, event.id);
    if (config.embed) page.target = "_blank";
    links.appendChild(page);
    var ics = el("a", "popup-ics", "Add to calendar");
    ics.href = urlFor(config.icsUrl, event.id);
    ics.setAttribute("download", "");
    links.appendChild(ics);
    box.appendChild(links);
  }

  // The list: the kept events in view, plus online events that have no place, a page at a time.

  function drawList(view) {
    if (!list || !labels) return;
    var bounds = map.getBounds();
    var inView = kept.filter(function (i) {
      if (data.lat[i] === null) return true;
      return bounds.contains([data.lat[i] / data.scale, nearView(data.lon[i] / data.scale, view)]);
    });
    inView.sort(function (a, b) {
      return data.day[a] - data.day[b] || (labels.title[a] < labels.title[b] ? -1 : 1);
    });
    list.textContent = "";
    var fragment = document.createDocumentFragment();
    inView.slice(0, listLimit).forEach(function (i) {
      fragment.appendChild(listItem(i));
    });
    list.appendChild(fragment);
    var shown = Math.min(listLimit, inView.length);
    listStatus.textContent = inView.length
      ? "Showing " + shown.toLocaleString("en") + " of " + plural(inView.length, "event") + " in the map's view, by date."
      : "No event in the map's view: zoom out or change the filters.";
    listMore.hidden = shown >= inView.length;
  }

  function listItem(i) {
    var item = el("li", "event-item cat-" + categoryCode(i));
    var link = el("a", "event-item-title", labels.title[i]);
    link.href = urlFor(config.eventUrl, data.id[i]);
    item.appendChild(link);
    var day = new Date(data.day[i] * DAY_MS).toLocaleDateString("en-GB", {
      timeZone: "UTC", day: "numeric", month: "short", year: "numeric",
    });
    var country = config.countries[data.countries[data.country[i]]] || "";
    var where = data.lat[i] === null ? "Online" : [labels.city[i], country].filter(Boolean).join(", ");
    var category = (config.categories[categoryCode(i)] || { label: "" }).label;
    item.appendChild(el("span", "event-item-meta", [day, where, category].filter(Boolean).join(" · ")));
    if (data.lat[i] !== null) {
      var show = el("button", "event-item-show", "Show on map");
      show.type = "button";
      show.setAttribute("aria-label", "Show on map: " + labels.title[i]);
      show.addEventListener("click", function () {
        var latlng = [data.lat[i] / data.scale, data.lon[i] / data.scale];
        map.setView(latlng, Math.max(map.getZoom(), 12));
        openPopup(i, latlng);
      });
      item.appendChild(show);
    }
    return item;
  }

  // Country outlines beneath the tiles, so the map reads as a world map without a tile server.

  function unwrapRing(ring) {
    for (var k = 1; k < ring.length; k++) {
      var previous = ring[k - 1][0];
      while (ring[k][0] - previous > 180) ring[k][0] -= 360;
      while (previous - ring[k][0] > 180) ring[k][0] += 360;
    }
    return ring;
  }

  function unwrapGeometry(geometry) {
    if (!geometry) return;
    var polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
    var east = false;
    polygons.forEach(function (polygon) {
      polygon.forEach(unwrapRing);
      if (polygon[0].some(function (point) { return point[0] > 150; })) east = true;
    });
    // A piece cut off at the antimeridian (Chukotka, Fiji's eastern isles) joins its country.
    if (east) {
      polygons.forEach(function (polygon) {
        if (polygon[0].every(function (point) { return point[0] < -150; })) {
          polygon.forEach(function (ring) { ring.forEach(function (point) { point[0] += 360; }); });
        }
      });
    }
  }

  // The outlines load after the first draw of the events, so that they do not delay it.
  var countriesDrawn = false;
  function drawCountries() {
    if (countriesDrawn) return;
    countriesDrawn = true;
    var pane = map.createPane("countries");
    pane.classList.add("countries-pane");
    fetch(config.countriesUrl)
      .then(function (response) { return response.json(); })
      .then(function (topology) {
        var world = topojson.feature(topology, topology.objects.countries);
        world.features.forEach(function (feature) { unwrapGeometry(feature.geometry); });
        window.mapapp.countries = L.geoJSON(world, {
          pane: "countries",
          interactive: false,
          style: { color: "#9a9aae", weight: 0.7, fillColor: "#f6f5f0", fillOpacity: 1 },
        }).addTo(map);
      })
      .catch(function () { /* the tiles, when reachable, show the countries anyway */ });
  }

  // Wiring

  function load() {
    fetch(config.dataUrl)
      .then(function (response) {
        if (!response.ok) throw new Error("map data " + response.status);
        return response.json();
      })
      .then(function (body) {
        data = body;
        apply();
        fitToFilters();
        drawCountries();
        return fetch(config.labelsUrl).then(function (response) { return response.json(); });
      })
      .then(function (body) {
        labels = body;
        draw();
      })
      .catch(function () {
        summary.textContent = "The events could not be loaded. Please reload the page.";
        drawCountries();
      });
  }

  function fitToFilters() {
    if (!currentFilters().country || !kept.length) return;
    var placed = kept.filter(function (i) { return data.lat[i] !== null; });
    if (!placed.length) return;
    var latlngs = placed.map(function (i) { return [data.lat[i] / data.scale, data.lon[i] / data.scale]; });
    map.fitBounds(L.latLngBounds(latlngs).pad(0.2), { maxZoom: 10 });
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      apply();
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "q") return;
      apply();
      if (event.target.name === "country") fitToFilters();
    });
    form.elements.namedItem("q").addEventListener("input", function () {
      window.clearTimeout(searchTimer);
      searchTimer = window.setTimeout(apply, SEARCH_DELAY_MS);
    });
    document.getElementById("filters-reset").addEventListener("click", function (event) {
      event.preventDefault();
      form.reset();
      FILTER_NAMES.forEach(function (name) {
        var field = form.elements.namedItem(name);
        field.value = name === "year" ? String(config.edition) : "";
      });
      apply();
      map.setView([20, 0], 2);
    });
  }
  if (listMore) {
    listMore.addEventListener("click", function () {
      listLimit += PAGE_SIZE;
      drawList(viewBox());
    });
  }
  map.on("moveend", draw);
  load();
  window.mapapp = { map: map, config: config };
})();
