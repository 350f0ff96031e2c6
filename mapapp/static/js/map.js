/* The events map: loads compact event data, filters it, clusters it with Supercluster (one index
 * per category, map-clusters.js, built in a Web Worker where there is one) and lists what is in
 * view. Every piece of event text goes into the page through textContent, never as HTML. The
 * base map (`map_main`) is created by folium's /map-setup.js.
 *
 * Every string a person reads comes from the page's catalog (config.messages, built from
 * mapapp/js_messages.py) through t() and tn(); dates and numbers through Intl in config.lang.
 * The map works with a keyboard: markers in view are focusable in reading order, Enter or Space
 * opens a marker's popup or zooms into a cluster, Escape closes the popup and gives focus back. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("map-config").textContent);
  var map = window.map_main;
  var form = document.getElementById("map-filters");
  var summary = document.getElementById("summary");
  var announcer = document.getElementById("map-announce");
  var list = document.getElementById("event-list");
  var listStatus = document.getElementById("list-status");
  var listMore = document.getElementById("list-more");
  var embedCode = document.getElementById("embed-code");
  var embedFull = document.getElementById("embed-full");
  var filtersToggle = document.getElementById("filters-toggle");
  var nearBox = document.getElementById("near");
  var nearButton = document.getElementById("near-me");
  var nearForm = document.getElementById("near-place");
  var nearStatus = document.getElementById("near-status");
  var nearChoices = document.getElementById("near-choices");
  var nearClear = document.getElementById("near-clear");

  var DAY_MS = 86400000;
  var PAGE_SIZE = 50;
  var SEARCH_DELAY_MS = 250;
  var FILTER_NAMES = ["q", "country", "category", "format", "year", "from", "to"];
  var MULTIPLE = { country: "upper", category: "lower" }; // filters with several values
  // Clusters are kept up to this zoom: deeper, the events still together share (almost) one point
  // and their cluster opens one popup listing them, rather than markers drawn on top of each other.
  var CLUSTER_MAX_ZOOM = MapClusters.MAX_ZOOM;
  var SHOW_ZOOM = 12; // "Show on map" zooms in at least this far
  var FIT_PADDING = [24, 24];
  var FIT_MAX_ZOOM = 10;
  var NEAR_COUNT = 5; // "near me" shows at least this many of the nearest events
  var NEAR_MAX_ZOOM = 11;
  var NEAR_MIN_METRES = 20000;
  var EARTH_RADIUS_KM = 6371.0088;
  var KM_PER_MILE = 1.609344;
  var ROW_PX = 80; // markers are focused row by row, this high, west to east in each row
  var SVG_NS = "http://www.w3.org/2000/svg";

  var data = null; // the compact columns of /api/map-data.json
  var labels = null; // titles and cities, aligned with data
  var searches = {}; // free text -> Set of matching ids (answered by the server)
  var kept = []; // positions of the events the filters keep
  var keptMask = null; // Uint8Array: 1 at the positions in kept
  var base = null; // positions kept by every filter but category: what the clusters index
  var baseKey = null;
  var buckets = null; // the category positions chosen (null: all), as the clusters name them
  var clusterer = null; // the clusters' indexes: in a Web Worker, or in the page without one
  var drawRequest = 0; // draws are answered in order; only the latest one's answer is drawn
  var order = null; // every position by date and title, once the labels are in
  var markers = L.layerGroup().addTo(map);
  var shown = new Map(); // marker key ("c3_12", "e34", "c3_12+c5_7" merged) -> marker drawn now
  var listLimit = PAGE_SIZE;
  var searchTimer = null;
  var popup = null; // the open popup of ours
  var popupOrigin = null; // {key, latlng} of what opened it, to give focus back
  var focusInPopup = false;
  var pendingFocus = null; // after a keyboard zoom, the point whose nearest marker gets focus
  var pendingAnnouncement = null;
  var near = null; // {lat, lon, label}: the list is sorted by distance from it
  var pluralRules = new Intl.PluralRules(config.lang);
  var formats = {};

  // Words and numbers in the page's language

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function t(text, values) {
    var entry = config.messages ? config.messages[text] : null;
    return fill(typeof entry === "string" && entry ? entry : text, values);
  }

  function tn(count, singular, values) {
    var entry = config.messages ? config.messages[singular] : null;
    var form = singular;
    if (entry && typeof entry === "object") form = entry[pluralRules.select(count)] || entry.other || singular;
    return fill(form, Object.assign({ num: formatNumber(count) }, values || {}));
  }

  function formatNumber(count) {
    return count.toLocaleString(config.lang);
  }

  function formatter(kind, options) {
    var key = kind + JSON.stringify(options);
    if (!formats[key]) {
      formats[key] = kind === "date" ? new Intl.DateTimeFormat(config.lang, options) : new Intl.NumberFormat(config.lang, options);
    }
    return formats[key];
  }

  function formatDistance(km) {
    var unit = config.distanceUnit === "mile" ? "mile" : "kilometer";
    var value = unit === "mile" ? km / KM_PER_MILE : km;
    return formatter("number", { style: "unit", unit: unit, maximumFractionDigits: 1 }).format(value);
  }

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

  function announce(text) {
    if (announcer) announcer.textContent = text;
  }

  // Filters: read from the form (map page) or the address (embed), written back to the address.
  // Country and category take several values, written as one comma list (country=FR,DE).

  function codesOf(name, values) {
    var codes = [];
    values.forEach(function (value) {
      (value || "").split(",").forEach(function (code) {
        code = code.trim();
        code = MULTIPLE[name] === "upper" ? code.toUpperCase() : code.toLowerCase();
        if (code && codes.indexOf(code) < 0) codes.push(code);
      });
    });
    return codes;
  }

  function addressFilters() {
    var values = {};
    var params = new URLSearchParams(window.location.search);
    FILTER_NAMES.forEach(function (name) {
      values[name] = MULTIPLE[name] ? codesOf(name, params.getAll(name)) : (params.get(name) || "").trim();
    });
    if (!values.year) values.year = String(config.edition);
    return values;
  }

  function formFilters() {
    var values = {};
    FILTER_NAMES.forEach(function (name) {
      if (MULTIPLE[name]) {
        var checked = form.querySelectorAll('input[name="' + name + '"]:checked');
        values[name] = codesOf(name, Array.prototype.map.call(checked, function (box) { return box.value; }));
        return;
      }
      var field = form.elements.namedItem(name);
      values[name] = ((field ? field.value : "") || "").trim();
    });
    if (!values.year) values.year = String(config.edition);
    return values;
  }

  function currentFilters() {
    return form ? formFilters() : addressFilters();
  }

  function filterQuery(filters, sorted) {
    var parts = [];
    FILTER_NAMES.forEach(function (name) {
      var value = filters[name];
      if (Array.isArray(value)) value = (sorted ? value.slice().sort() : value).join(",");
      if (!value || (name === "year" && value === String(config.edition))) return;
      parts.push(name + "=" + encodeURIComponent(value).replace(/%2C/gi, ",").replace(/%20/g, "+"));
    });
    return parts.join("&");
  }

  function activeFilterCount(filters) {
    return FILTER_NAMES.filter(function (name) {
      var value = filters[name];
      if (Array.isArray(value)) return value.length > 0;
      return value && !(name === "year" && value === String(config.edition));
    }).length;
  }

  function dayOf(isoDate) {
    var parts = isoDate.split("-");
    return Date.UTC(+parts[0], +parts[1] - 1, +parts[2]) / DAY_MS;
  }

  function positionsIn(codes, dictionary) {
    if (!codes.length) return null;
    var positions = new Set();
    codes.forEach(function (code) {
      var position = dictionary.indexOf(code);
      if (position >= 0) positions.add(position);
    });
    return positions;
  }

  function keptPositions(filters, matches) {
    var categories = positionsIn(filters.category, data.categories);
    var countries = positionsIn(filters.country, data.countries);
    var format = filters.format ? data.formats.indexOf(filters.format) : -2;
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
      if (categories && !categories.has(data.category[i])) continue;
      if (format !== -2 && data.format[i] !== format) continue;
      if (countries && !countries.has(data.country[i])) continue;
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
    // The clusters index what every filter but category keeps: a category switch re-indexes
    // nothing, it asks for the chosen categories' clusters.
    var others = Object.assign({}, filters, { category: [] });
    var key = filterQuery(others, true);
    if (key !== baseKey) {
      baseKey = key;
      base = keptPositions(others, matches);
      clusterer.setBase(Int32Array.from(base));
      resetMarkers();
    }
    var categories = positionsIn(filters.category, data.categories);
    buckets = categories ? Array.from(categories).sort() : null;
    kept = categories ? base.filter(function (i) { return categories.has(data.category[i]); }) : base;
    keptMask = new Uint8Array(data.count);
    var countries = new Set();
    kept.forEach(function (i) {
      keptMask[i] = 1;
      if (data.country[i] >= 0) countries.add(data.country[i]);
    });
    summary.textContent = tn(kept.length, "%(num)s event in %(countries)s", {
      countries: tn(countries.size, "%(num)s country"),
    });
    writeAddress(filters);
    showFilterChoices(filters);
    listLimit = PAGE_SIZE;
    draw();
  }

  function fetchSearch(text) {
    summary.textContent = t("Searching…");
    // The published site searches its own index in the browser (static/js/site-data.js).
    var found = config.searchIndexUrl
      ? window.mapappSite.search(config, text, data, labels)
      : fetch(config.searchUrl + "?" + new URLSearchParams({ q: text }).toString())
        .then(function (response) {
          if (!response.ok) throw new Error("search failed: " + response.status);
          return response.json();
        });
    found
      .then(function (body) {
        searches[text] = new Set(body.ids);
        apply();
      })
      .catch(function () {
        summary.textContent = t("The search did not work. Please try again.");
      });
  }

  function writeAddress(filters) {
    var query = filterQuery(filters, false);
    var suffix = query ? "?" + query : "";
    // The address keeps its own spelling while it means the same filters (country=DE,FR).
    if (filterQuery(addressFilters(), true) !== filterQuery(filters, true)) {
      window.history.replaceState(null, "", window.location.pathname + suffix);
    }
    if (embedCode) {
      embedCode.value =
        '<iframe src="' + config.embedUrl + suffix + '" title="' + t("Rare Disease Day events map").replace(/"/g, "&quot;") + '" ' +
        'width="100%" height="480" style="border:0" loading="lazy"></iframe>';
    }
    if (embedFull) embedFull.href = config.mapUrl + suffix;
    // The calendar and export links of the view (calendar-links.js) follow the filters.
    document.dispatchEvent(new CustomEvent("mapapp:filters", { detail: query }));
  }

  function showFilterChoices(filters) {
    if (!form) return;
    var countrySummary = document.getElementById("filter-country-summary");
    var categorySummary = document.getElementById("filter-category-summary");
    if (countrySummary) {
      countrySummary.textContent = filters.country.length
        ? t("Countries (%(num)s)", { num: formatNumber(filters.country.length) })
        : t("All countries");
    }
    if (categorySummary) {
      categorySummary.textContent = filters.category.length
        ? t("Categories (%(num)s)", { num: formatNumber(filters.category.length) })
        : t("All categories");
    }
    if (filtersToggle) {
      filtersToggle.textContent = t("Filters (%(num)s)", { num: formatNumber(activeFilterCount(filters)) });
    }
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

  function resetMarkers() {
    markers.clearLayers();
    shown = new Map();
  }

  function draw() {
    if (!base) return;
    var view = viewBox();
    var zoom = Math.min(Math.round(map.getZoom()), CLUSTER_MAX_ZOOM);
    var request = ++drawRequest;
    clusterer.query(view.box, zoom, buckets, function (items) {
      if (request === drawRequest) drawClusters(items, view);
    });
  }

  function drawClusters(items, view) {
    var wanted = new Map();
    items.forEach(function (item) {
      var latlng = L.latLng(item.lat, nearView(item.lon, view));
      var marker = shown.get(item.key);
      if (marker) {
        if (!marker.getLatLng().equals(latlng)) marker.setLatLng(latlng);
      } else {
        marker = item.i < 0 ? clusterMarker(item, latlng) : eventMarker(item.i, latlng, item.key);
        markers.addLayer(marker);
      }
      wanted.set(item.key, marker);
    });
    shown.forEach(function (marker, key) {
      if (!wanted.has(key)) markers.removeLayer(marker);
    });
    shown = wanted;
    orderForKeyboard();
    var inView = drawList(view); // how many
    if (pendingFocus) {
      focusNearest(pendingFocus);
      pendingFocus = null;
    }
    if (pendingAnnouncement) {
      announce(pendingAnnouncement(inView));
      pendingAnnouncement = null;
    }
    // Tests and benchmarks wait for a draw: the first says the map is ready, each one counts.
    document.body.setAttribute("data-map-draws", String(+(document.body.getAttribute("data-map-draws") || 0) + 1));
    document.body.setAttribute("data-map-ready", "true");
  }

  // Tab goes through the markers in reading order (row by row), then on to the map's controls:
  // the marker pane is reordered, and the marker that had focus keeps it.
  function orderForKeyboard() {
    var pane = map.getPane("markerPane");
    var entries = [];
    shown.forEach(function (marker) {
      var icon = marker.getElement();
      if (!icon) return;
      var point = map.latLngToContainerPoint(marker.getLatLng());
      entries.push({ icon: icon, row: Math.floor(point.y / ROW_PX), x: point.x });
    });
    entries.sort(function (a, b) { return a.row - b.row || a.x - b.x; });
    var icons = Array.prototype.filter.call(pane.children, function (child) { return child.classList.contains("leaflet-marker-icon"); });
    var inOrder = icons.length === entries.length && entries.every(function (entry, k) { return icons[k] === entry.icon; });
    if (inOrder) return;
    var active = document.activeElement;
    entries.forEach(function (entry) { pane.appendChild(entry.icon); });
    if (active && pane.contains(active) && document.activeElement !== active) active.focus({ preventScroll: true });
  }

  function focusNearest(latlng) {
    var target = map.latLngToContainerPoint(latlng);
    var best = null;
    var bestDistance = Infinity;
    shown.forEach(function (marker) {
      var distance = map.latLngToContainerPoint(marker.getLatLng()).distanceTo(target);
      if (distance < bestDistance && marker.getElement()) {
        best = marker;
        bestDistance = distance;
      }
    });
    if (best) best.getElement().focus({ preventScroll: true });
    else map.getContainer().focus({ preventScroll: true });
  }

  // A marker answers a click, and Enter or Space when it has focus.
  function onActivate(marker, label, action) {
    marker.on("click", function () { action(false); });
    marker.on("add", function () {
      var icon = marker.getElement();
      icon.setAttribute("aria-label", label);
      L.DomEvent.on(icon, "keydown", function (event) {
        if (event.key !== "Enter" && event.key !== " " && event.key !== "Spacebar") return;
        L.DomEvent.preventDefault(event);
        L.DomEvent.stopPropagation(event);
        action(true);
      });
    });
    return marker;
  }

  function clusterMarker(item, latlng) {
    var count = item.count;
    var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
    var atOnePlace = item.expansion > CLUSTER_MAX_ZOOM || map.getZoom() >= CLUSTER_MAX_ZOOM;
    var label = atOnePlace
      ? tn(count, "%(num)s event at this place: select to list them")
      : tn(count, "%(num)s event near here: select to zoom in");
    var marker = L.marker(latlng, {
      icon: L.divIcon({ className: "cluster-icon cluster-" + size, html: el("span", null, formatNumber(count)), iconSize: [40, 40] }),
      title: label,
      keyboard: true,
      autoPanOnFocus: false, // panning on focus redraws the markers and loses the focus
    });
    return onActivate(marker, label, function (byKeyboard) {
      openCluster(item, latlng, byKeyboard);
    });
  }

  function openCluster(item, latlng, byKeyboard) {
    var zoom = item.expansion;
    if (zoom > CLUSTER_MAX_ZOOM || map.getZoom() >= CLUSTER_MAX_ZOOM) {
      clusterer.leaves(item.key, function (positions) {
        openPlacePopup(positions, latlng, { key: item.key, latlng: latlng }, byKeyboard);
      });
      return;
    }
    if (byKeyboard) pendingFocus = latlng;
    pendingAnnouncement = function (count) { return tn(count, "Zoomed in: %(num)s event in view"); };
    map.setView(latlng, Math.min(zoom, map.getMaxZoom()));
  }

  function categoryCode(i) {
    return data.categories[data.category[i]] || "other";
  }

  function categoryOf(code) {
    return config.categories[code] || config.categories.other || { label: code, symbol: "" };
  }

  function eventTitle(i) {
    return labels ? labels.title[i] : t("Event");
  }

  function symbol(code) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "symbol");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", categoryOf(code).symbol);
    svg.appendChild(path);
    return svg;
  }

  function eventMarker(i, latlng, key) {
    var code = categoryCode(i);
    var label = t("%(title)s (%(category)s)", { title: eventTitle(i), category: categoryOf(code).label });
    var marker = L.marker(latlng, {
      icon: L.divIcon({ className: "event-marker cat-" + code, html: symbol(code), iconSize: [26, 26] }),
      title: label,
      keyboard: true,
      autoPanOnFocus: false,
    });
    // A popup of its own, not bound to the marker: redrawing the markers must not close it.
    return onActivate(marker, label, function (byKeyboard) {
      openEventPopup(i, latlng, { key: key, latlng: latlng }, byKeyboard);
    });
  }

  // Popups: the event's details load on demand and are built from DOM nodes; once loaded, the
  // popup is laid out again and panned into view (Leaflet's update() re-runs its autopan).

  function localDate(text) {
    return new Date(Date.UTC(+text.slice(0, 4), +text.slice(5, 7) - 1, +text.slice(8, 10),
      +text.slice(11, 13) || 0, +text.slice(14, 16) || 0));
  }

  function localWhen(event) {
    if (!event.starts_at) return "";
    var format = formatter("date", { dateStyle: "full", timeStyle: "short", timeZone: "UTC" });
    var start = localDate(event.starts_at);
    var when = format.format(start);
    if (event.ends_at) {
      try {
        when = format.formatRange(start, localDate(event.ends_at));
      } catch (error) { /* an end before the start: the start alone */ }
    }
    return t("%(when)s (%(zone)s)", { when: when, zone: event.timezone || "UTC" });
  }

  function visitorWhen(event) {
    if (!event.start) return "";
    var moment = new Date(event.start);
    if (isNaN(moment.getTime())) return "";
    return t("%(when)s your time", { when: formatter("date", { dateStyle: "full", timeStyle: "short" }).format(moment) });
  }

  function newPopup() {
    var size = map.getSize();
    return L.popup({
      maxWidth: Math.max(160, Math.min(320, size.x - 70)),
      minWidth: Math.max(120, Math.min(220, size.x - 70)),
      maxHeight: Math.max(100, size.y - 110), // taller content scrolls inside the popup
      autoPanPadding: [12, 12],
      offset: [0, -8],
    });
  }

  // Lay the popup out again and pan it into view; Leaflet's update() puts the content back into
  // the popup, which loses the focus, so the element that had it gets it back.
  function relayout(opened) {
    var active = document.activeElement;
    var element = opened.getElement();
    var inside = element && element.contains(active);
    opened.update();
    if (inside && document.activeElement !== active && document.contains(active)) active.focus({ preventScroll: true });
  }

  function showPopup(latlng, box, origin, byKeyboard) {
    box.tabIndex = -1;
    if (popup) map.closePopup(popup); // the one open gives focus back to its own marker first
    popupOrigin = origin;
    focusInPopup = false;
    popup = newPopup().setLatLng(latlng).setContent(box).openOn(map);
    if (byKeyboard) box.focus({ preventScroll: true });
    return popup;
  }

  function openEventPopup(i, latlng, origin, byKeyboard) {
    var box = el("div", "event-popup");
    var opened = showPopup(latlng, box, origin, byKeyboard);
    loadEvent(data.id[i], box, opened, null);
  }

  function loadEvent(id, box, opened, before) {
    rebuild(box, opened, before, function () {
      box.appendChild(el("p", "popup-loading", t("Loading the event…")));
    });
    // The published site keeps events' details in shards by id (static/js/site-data.js).
    var loaded = config.eventsShardUrl
      ? window.mapappSite.event(config, id)
      : fetch(urlFor(config.eventApiUrl, id)).then(function (response) {
        if (!response.ok) throw new Error("event " + response.status);
        return response.json();
      });
    loaded
      .then(function (event) {
        var active = document.activeElement;
        var hadFocus = box.contains(active) && !(before && before.contains(active));
        var heading = null;
        rebuild(box, opened, before, function () { heading = fillPopup(box, event); });
        if (hadFocus) heading.focus({ preventScroll: true });
      })
      .catch(function () {
        rebuild(box, opened, before, function () {
          box.appendChild(el("p", "popup-error", t("This event could not be loaded. It may have just been withdrawn.")));
        });
      });
  }

  // Replace a popup's content (keeping `before`, e.g. a "back" button, at its top), lay it out
  // again and give the focus back to the element that had it, if it is still there.
  function rebuild(box, opened, before, build) {
    var active = document.activeElement;
    box.textContent = "";
    if (before) box.appendChild(before);
    build();
    relayout(opened);
    if (active && box.contains(active) && document.activeElement !== active) active.focus({ preventScroll: true });
  }

  function fillPopup(box, event) {
    var heading = el("h3", "popup-title", event.title);
    heading.tabIndex = -1;
    heading.dir = "auto";
    if (event.language) heading.lang = event.language;
    box.appendChild(heading);
    box.appendChild(el("p", "popup-kind", t("%(category)s · %(format)s", {
      category: categoryOf(event.category).label,
      format: config.formats[event.format] || event.format,
    })));
    box.appendChild(el("p", "popup-when", localWhen(event)));
    if (event.format !== "in_person") {
      var yours = visitorWhen(event);
      if (yours) box.appendChild(el("p", "popup-visitor-time", yours));
    }
    var country = config.countries[event.country] || event.country_name;
    var place = [event.venue, event.city, country].filter(Boolean).join(", ");
    if (place) {
      var where = box.appendChild(el("p", "popup-place", place));
      where.dir = "auto";
    }
    if (event.organiser) {
      var by = box.appendChild(el("p", "popup-organiser", t("By %(organiser)s", { organiser: event.organiser })));
      by.dir = "auto";
    }
    var links = el("p", "popup-links");
    if (isHttpUrl(event.website)) {
      var site = el("a", "popup-website", t("Website"));
      site.href = event.website;
      site.rel = "noopener nofollow ugc";
      site.target = "_blank";
      links.appendChild(site);
    }
    var page = el("a", "popup-page", t("Event page"));
    page.href = urlFor(config.eventUrl, event.id);
    if (config.embed) page.target = "_blank";
    links.appendChild(page);
    var ics = el("a", "popup-ics", t("Add to calendar"));
    ics.href = urlFor(config.icsUrl, event.id);
    ics.setAttribute("download", "");
    links.appendChild(ics);
    box.appendChild(links);
    return heading;
  }

  // Events at one place (a town's point, shared by every event geocoded to it): one popup lists
  // them, each opens its details in the same popup, and "back" returns to the list.
  function openPlacePopup(positions, latlng, origin, byKeyboard) {
    positions.sort(byDateAndTitle);
    var box = el("div", "event-popup place-popup");
    var opened = showPopup(latlng, box, origin, byKeyboard);
    placeList(box, opened, positions, null);
    announce(tn(positions.length, "Showing %(num)s event at this place"));
  }

  function placeList(box, opened, positions, focusId) {
    box.textContent = "";
    var heading = el("h3", "popup-title", tn(positions.length, "%(num)s event at this place"));
    heading.tabIndex = -1;
    box.appendChild(heading);
    var items = el("ul", "place-events");
    var focusTarget = null;
    positions.forEach(function (i) {
      var item = el("li");
      var choice = el("button", "place-event", eventTitle(i));
      choice.type = "button";
      choice.dir = "auto";
      // The buttons replace the popup's content: the click must not go on to the map, which
      // no longer finds it inside the popup and would close it.
      choice.addEventListener("click", function (event) {
        L.DomEvent.stopPropagation(event);
        var back = el("button", "place-back", tn(positions.length, "Back to the %(num)s event at this place"));
        back.type = "button";
        back.addEventListener("click", function (event) {
          L.DomEvent.stopPropagation(event);
          placeList(box, opened, positions, data.id[i]);
        });
        var focused = box.contains(document.activeElement);
        loadEvent(data.id[i], box, opened, back);
        if (focused) back.focus({ preventScroll: true });
      });
      item.appendChild(choice);
      item.appendChild(el("span", "place-event-meta", [listDay(i), categoryOf(categoryCode(i)).label].join(" · ")));
      items.appendChild(item);
      if (data.id[i] === focusId) focusTarget = choice;
    });
    box.appendChild(items);
    relayout(opened);
    if (focusTarget) focusTarget.focus({ preventScroll: true });
  }

  function focusOrigin() {
    var origin = popupOrigin;
    popupOrigin = null;
    if (!origin) return;
    var marker = shown.get(origin.key);
    if (marker && marker.getElement()) marker.getElement().focus({ preventScroll: true });
    else focusNearest(origin.latlng);
  }

  map.on("popupclose", function (event) {
    if (event.popup !== popup) return;
    popup = null;
    var active = document.activeElement;
    var element = event.popup.getElement();
    if (focusInPopup || (element && element.contains(active))) focusOrigin();
    focusInPopup = false;
  });

  document.addEventListener("focusin", function (event) {
    var element = popup && popup.getElement();
    focusInPopup = Boolean(element && element.contains(event.target));
  });

  map.getContainer().addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !popup) return;
    event.preventDefault();
    map.closePopup(popup);
  });

  // The list: the kept events in view, plus online events that have no place, a page at a time,
  // by date or, after "near me", by distance.

  // A test of "in the map's view" without an object per event (the list walks 200,000 of them).
  function inViewTest(view) {
    var bounds = map.getBounds();
    var south = bounds.getSouth();
    var north = bounds.getNorth();
    var west = bounds.getWest();
    var east = bounds.getEast();
    var scale = data.scale;
    return function (i) {
      var lat = data.lat[i];
      if (lat === null) return true;
      lat /= scale;
      if (lat < south || lat > north) return false;
      var lon = nearView(data.lon[i] / scale, view);
      return lon >= west && lon <= east;
    };
  }

  function keptInView(view) {
    return kept.filter(inViewTest(view));
  }

  // Every position by date and title, sorted once when the labels come: the list then walks it
  // for the first page of what is in view instead of sorting everything in view at each draw.
  function sortOrder() {
    order = new Int32Array(data.count);
    for (var k = 0; k < data.count; k++) order[k] = k;
    order.sort(byDateAndTitle);
  }

  function byDateAndTitle(a, b) {
    if (data.day[a] !== data.day[b]) return data.day[a] - data.day[b];
    var first = eventTitle(a);
    var second = eventTitle(b);
    return first < second ? -1 : first > second ? 1 : a - b;
  }

  function distanceTo(i) {
    if (!near || data.lat[i] === null) return Infinity;
    var rad = Math.PI / 180;
    var lat1 = near.lat * rad;
    var lat2 = (data.lat[i] / data.scale) * rad;
    var dLat = lat2 - lat1;
    var dLon = (data.lon[i] / data.scale - near.lon) * rad;
    var h = Math.pow(Math.sin(dLat / 2), 2) + Math.cos(lat1) * Math.cos(lat2) * Math.pow(Math.sin(dLon / 2), 2);
    return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  // Return how many kept events are in view, and list the first page of them.
  function drawList(view) {
    var distances = null;
    var page = [];
    var total = 0;
    if (near || !order || !list || !labels) {
      var inView = keptInView(view);
      total = inView.length;
      if (!list || !labels) return total;
      if (near) {
        distances = new Map();
        inView.forEach(function (i) { distances.set(i, distanceTo(i)); });
        inView.sort(function (a, b) { return distances.get(a) - distances.get(b) || byDateAndTitle(a, b); });
      } else {
        inView.sort(byDateAndTitle);
      }
      page = inView.slice(0, listLimit);
    } else {
      var visible = inViewTest(view);
      for (var k = 0; k < order.length; k++) {
        var i = order[k];
        if (!keptMask[i] || !visible(i)) continue;
        if (total < listLimit) page.push(i);
        total++;
      }
    }
    list.textContent = "";
    var fragment = document.createDocumentFragment();
    page.forEach(function (i) {
      fragment.appendChild(listItem(i, distances ? distances.get(i) : null));
    });
    list.appendChild(fragment);
    var count = page.length;
    if (!total) listStatus.textContent = t("No event in the map's view: zoom out or change the filters.");
    else if (near) listStatus.textContent = tn(total, "Showing %(shown)s of %(num)s event in the map's view, nearest first.", { shown: formatNumber(count) });
    else listStatus.textContent = tn(total, "Showing %(shown)s of %(num)s event in the map's view, by date.", { shown: formatNumber(count) });
    listMore.hidden = count >= total;
    return total;
  }

  function listDay(i) {
    return formatter("date", { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" }).format(new Date(data.day[i] * DAY_MS));
  }

  function listItem(i, distance) {
    var item = el("li", "event-item cat-" + categoryCode(i));
    item.setAttribute("data-id", data.id[i]);
    var link = el("a", "event-item-title", labels.title[i]);
    link.href = urlFor(config.eventUrl, data.id[i]);
    link.dir = "auto";
    item.appendChild(link);
    var country = config.countries[data.countries[data.country[i]]] || "";
    var where = data.lat[i] === null ? t("Online") : [labels.city[i], country].filter(Boolean).join(", ");
    var category = categoryOf(categoryCode(i)).label;
    item.appendChild(el("span", "event-item-meta", [listDay(i), where, category].filter(Boolean).join(" · ")));
    if (distance !== null && distance !== undefined && isFinite(distance)) {
      item.appendChild(el("span", "event-item-distance", t("%(distance)s away", { distance: formatDistance(distance) })));
    }
    if (data.lat[i] !== null) {
      var show = el("button", "event-item-show", t("Show on map"));
      show.type = "button";
      show.setAttribute("aria-label", t("Show on map: %(title)s", { title: labels.title[i] }));
      show.addEventListener("click", function () {
        showOnMap(i);
      });
      item.appendChild(show);
    }
    return item;
  }

  function showOnMap(i) {
    var latlng = L.latLng(data.lat[i] / data.scale, data.lon[i] / data.scale);
    map.getContainer().scrollIntoView({ block: "nearest" });
    map.setView(latlng, Math.max(map.getZoom(), SHOW_ZOOM), { animate: false });
    openEventPopup(i, latlng, { key: "e" + i, latlng: latlng }, true);
  }

  // Near me, or near a place a visitor types (answered by the app's gazetteer, never elsewhere).

  function nearMessage(text, isError) {
    if (!nearStatus) return;
    nearStatus.textContent = text;
    nearStatus.classList.toggle("near-error", Boolean(isError));
  }

  function setNear(origin) {
    near = origin;
    if (nearClear) nearClear.hidden = false;
    var nearest = kept.filter(function (i) { return data.lat[i] !== null; })
      .map(function (i) { return distanceTo(i); })
      .sort(function (a, b) { return a - b; });
    var reach = nearest.length ? nearest[Math.min(NEAR_COUNT, nearest.length) - 1] : 0;
    var metres = Math.max(NEAR_MIN_METRES, reach * 2000 * 1.1);
    listLimit = PAGE_SIZE;
    map.fitBounds(L.latLng(origin.lat, origin.lon).toBounds(metres), { maxZoom: NEAR_MAX_ZOOM, animate: false });
    draw();
    nearMessage(origin.label
      ? t("The list shows the events nearest to %(place)s first.", { place: origin.label })
      : t("The list shows the events nearest to you first."), false);
  }

  function clearNear() {
    near = null;
    if (nearClear) nearClear.hidden = true;
    if (nearChoices) nearChoices.textContent = "";
    nearMessage(t("The list is in date order again."), false);
    draw();
  }

  function locateVisitor() {
    if (!navigator.geolocation) {
      nearMessage(t("This browser cannot tell where you are. Type a town instead."), true);
      return;
    }
    nearMessage(t("Asking your browser where you are…"), false);
    navigator.geolocation.getCurrentPosition(
      function (position) {
        if (nearChoices) nearChoices.textContent = "";
        setNear({ lat: position.coords.latitude, lon: position.coords.longitude, label: "" });
      },
      function (error) {
        nearMessage(error.code === 1
          ? t("Your browser did not share your location. You can type a town instead.")
          : t("Your location could not be found. You can type a town instead."), true);
      },
      { timeout: 15000, maximumAge: 300000 }
    );
  }

  function findPlace(text) {
    if (!text) {
      nearMessage(t("Type the name of a town first."), true);
      return;
    }
    nearMessage(t("Looking for %(place)s…", { place: text }), false);
    var asked = config.searchIndexUrl
      ? window.mapappSite.places(config, text)
      : fetch(config.placesUrl + "?" + new URLSearchParams({ q: text }).toString()).then(function (response) {
        if (!response.ok) throw new Error("places " + response.status);
        return response.json();
      });
    asked
      .then(function (body) {
        var places = (body && body.places) || [];
        if (!places.length) {
          nearMessage(t("We could not find %(place)s. Check the spelling, or try a larger town nearby.", { place: text }), true);
          return;
        }
        showPlaceChoices(places, places[0]);
        setNear({ lat: places[0].lat, lon: places[0].lon, label: places[0].label || places[0].name });
      })
      .catch(function () {
        nearMessage(t("The place search did not work. Please try again."), true);
      });
  }

  function showPlaceChoices(places, chosen) {
    if (!nearChoices) return;
    nearChoices.textContent = "";
    if (places.length < 2) return;
    nearChoices.appendChild(el("span", "near-choices-label", t("Another place with this name?")));
    places.forEach(function (place) {
      if (place === chosen) return;
      var choice = el("button", "near-choice", place.label || place.name);
      choice.type = "button";
      choice.addEventListener("click", function () {
        showPlaceChoices(places, place);
        setNear({ lat: place.lat, lon: place.lon, label: place.label || place.name });
      });
      nearChoices.appendChild(choice);
    });
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

  // The clusters' indexes: built in a Web Worker (map-worker.js) where the page can start one,
  // else in the page; both run map-clusters.js, so both draw the same clusters.

  function clusterColumns() {
    var lon = new Float64Array(data.count);
    var lat = new Float64Array(data.count);
    var bucket = new Uint8Array(data.count);
    var unknown = data.categories.length; // events of a category not in the list: a bucket of their own
    for (var i = 0; i < data.count; i++) {
      lon[i] = data.lat[i] === null ? NaN : data.lon[i] / data.scale;
      lat[i] = data.lat[i] === null ? NaN : data.lat[i] / data.scale;
      bucket[i] = data.category[i] >= 0 && data.category[i] < unknown ? data.category[i] : unknown;
    }
    return { lon: lon, lat: lat, bucket: bucket, buckets: unknown + 1 };
  }

  // The worker starts with the page, so that it loads its scripts while the data downloads.
  function startWorker() {
    if (typeof Worker !== "function" || !config.clusterWorkerUrl) return null;
    try {
      return workerClusterer(new Worker(config.clusterWorkerUrl));
    } catch (error) {
      return null; // no worker here (a policy, a sandbox): the page clusters itself
    }
  }

  function makeClusterer(starting) {
    var columns = clusterColumns();
    return starting && !starting.failed ? starting.use(columns) : pageClusterer(columns);
  }

  function clustersBuilt(built) {
    document.body.setAttribute("data-clusters-built", built ? "true" : "false");
  }

  function pageClusterer(columns) {
    var clusters = new MapClusters(columns);
    document.body.setAttribute("data-clusters", "page");
    return {
      setBase: function (positions) {
        clustersBuilt(false);
        clusters.setBase(positions);
      },
      query: function (box, zoom, chosen, done) {
        done(clusters.query(box, zoom, chosen));
        clusters.buildRest(function () { clustersBuilt(true); });
      },
      leaves: function (key, done) {
        done(clusters.leaves(key));
      },
    };
  }

  function workerClusterer(worker) {
    var answers = new Map(); // request id -> what to do with the worker's answer
    var nextId = 0;
    var columns = null;
    var handle = null;
    worker.onmessage = function (event) {
      var message = event.data;
      if (message.type === "built") {
        clustersBuilt(true);
        return;
      }
      var done = answers.get(message.id);
      answers.delete(message.id);
      if (done) done(message.type === "clusters" ? message.items : message.positions);
    };
    // A worker that cannot start or load its scripts: the page takes over, from the same base.
    worker.onerror = function (event) {
      if (event.preventDefault) event.preventDefault();
      if (handle.failed) return;
      handle.failed = true;
      worker.terminate();
      if (!columns) return; // the data is not in yet: the page's clusters start with it
      clusterer = pageClusterer(columns);
      if (base) clusterer.setBase(Int32Array.from(base));
      resetMarkers();
      draw();
    };
    function ask(message, done) {
      message.id = ++nextId;
      answers.set(message.id, done);
      worker.postMessage(message);
    }
    worker.postMessage({ type: "init", scripts: config.clusterScripts });
    handle = {
      failed: false,
      use: function (given) {
        columns = given;
        worker.postMessage({ type: "columns", columns: columns });
        document.body.setAttribute("data-clusters", "worker");
        return handle;
      },
      setBase: function (positions) {
        clustersBuilt(false);
        worker.postMessage({ type: "base", positions: positions });
      },
      query: function (box, zoom, chosen, done) {
        ask({ type: "query", box: box, zoom: zoom, buckets: chosen }, done);
      },
      leaves: function (key, done) {
        ask({ type: "leaves", key: key }, done);
      },
    };
    return handle;
  }

  // Wiring

  function load() {
    var startingWorker = startWorker();
    fetch(config.dataUrl)
      .then(function (response) {
        if (!response.ok) throw new Error("map data " + response.status);
        return response.json();
      })
      .then(function (body) {
        data = body;
        clusterer = makeClusterer(startingWorker);
        apply();
        fitKept();
        drawCountries();
        return fetch(config.labelsUrl).then(function (response) { return response.json(); });
      })
      .then(function (body) {
        labels = body;
        sortOrder();
        resetMarkers(); // their names (titles) come with the labels
        draw();
      })
      .catch(function () {
        summary.textContent = t("The events could not be loaded. Please reload the page.");
        drawCountries();
      });
  }

  // Fit the view to every kept event with a place (the first view, a change of country).
  function fitKept() {
    var south = Infinity;
    var north = -Infinity;
    var west = Infinity;
    var east = -Infinity;
    kept.forEach(function (i) {
      if (data.lat[i] === null) return;
      var lat = data.lat[i] / data.scale;
      var lon = data.lon[i] / data.scale;
      if (lat < south) south = lat;
      if (lat > north) north = lat;
      if (lon < west) west = lon;
      if (lon > east) east = lon;
    });
    if (south === Infinity) return;
    map.fitBounds([[south, west], [north, east]], { padding: FIT_PADDING, maxZoom: FIT_MAX_ZOOM, animate: false });
  }

  function setFiltersCollapsed(collapsed) {
    form.classList.toggle("is-collapsed", collapsed);
    filtersToggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      apply();
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "q") return;
      apply();
      if (event.target.name === "country") fitKept();
    });
    form.elements.namedItem("q").addEventListener("input", function () {
      window.clearTimeout(searchTimer);
      searchTimer = window.setTimeout(apply, SEARCH_DELAY_MS);
    });
    document.getElementById("filters-reset").addEventListener("click", function (event) {
      event.preventDefault();
      form.reset();
      FILTER_NAMES.forEach(function (name) {
        if (MULTIPLE[name]) {
          form.querySelectorAll('input[name="' + name + '"]').forEach(function (box) { box.checked = false; });
          return;
        }
        form.elements.namedItem(name).value = name === "year" ? String(config.edition) : "";
      });
      apply();
      fitKept();
    });
  }
  if (form && filtersToggle) {
    filtersToggle.hidden = false;
    form.classList.add("is-collapsible");
    setFiltersCollapsed(true);
    filtersToggle.addEventListener("click", function () {
      setFiltersCollapsed(!form.classList.contains("is-collapsed"));
    });
  }
  if (listMore) {
    listMore.addEventListener("click", function () {
      listLimit += PAGE_SIZE;
      draw();
    });
  }
  if (nearBox) nearBox.hidden = false;
  if (nearButton) nearButton.addEventListener("click", locateVisitor);
  if (nearClear) nearClear.addEventListener("click", clearNear);
  if (nearForm) {
    nearForm.addEventListener("submit", function (event) {
      event.preventDefault();
      findPlace(nearForm.elements.namedItem("place").value.trim());
    });
  }
  map.on("moveend", function () {
    if (!pendingAnnouncement && data) {
      pendingAnnouncement = function (count) { return tn(count, "%(num)s event in view"); };
    }
    draw();
  });
  load();
  window.mapapp = { map: map, config: config };
})();
