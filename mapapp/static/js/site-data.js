/* The published site's data in the browser (mapapp publish): what the app's API answers
 * elsewhere. map.js calls it when its configuration names the published files:
 * - event(config, id): an event's details, from the shard of its id (data/events/<2 chars>.json);
 * - search(config, text, data, labels): {ids} of the events a text finds, from the search index
 *   (loaded on the first search) and the labels: every word must be in the title, town, organiser,
 *   venue or region, begin a word of the event's country's name, or be a word of another name of
 *   the event's town in the gazetteer ("München" finds Munich's events);
 * - places(config, text): {places} for "near a place", the towns of events by any of their names.
 * Nothing here writes HTML: map.js puts every text into the page through textContent. */
(function () {
  "use strict";

  var SHARD_PREFIX = 2; // mapapp/publish.py shard_of
  var SHARD_FALLBACK = "__";
  var MAX_PLACES = 5;
  var shards = {};
  var index = null;
  var haystacks = null;

  function getJSON(url) {
    return fetch(url).then(function (response) {
      if (!response.ok) throw new Error(url + " " + response.status);
      return response.json();
    });
  }

  function shardOf(id) {
    var key = String(id).slice(0, SHARD_PREFIX).toLowerCase();
    return /^[a-z0-9]{2}$/.test(key) ? key : SHARD_FALLBACK;
  }

  function event(config, id) {
    var key = shardOf(id);
    if (!shards[key]) {
      shards[key] = getJSON(config.eventsShardUrl.replace("SHARD", key));
      shards[key].catch(function () { delete shards[key]; }); // a failed load is tried again
    }
    return shards[key].then(function (shard) {
      if (!Object.prototype.hasOwnProperty.call(shard, id)) throw new Error("no event " + id);
      return shard[id];
    });
  }

  // As mapapp.publish.fold_text and the gazetteer fold: case and accents off, punctuation a space.
  function fold(text) {
    return String(text || "")
      .toLowerCase()
      .normalize("NFKD")
      .replace(/[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g, "")
      .replace(/[^\p{L}\p{N}]+/gu, " ")
      .trim();
  }

  function loadIndex(config) {
    if (!index) {
      index = getJSON(config.searchIndexUrl);
      index.catch(function () { index = null; });
    }
    return index;
  }

  function townKey(data, labels, i) {
    var country = data.country[i] >= 0 ? data.countries[data.country[i]] : "";
    return labels.city[i] + "\n" + country;
  }

  function buildHaystacks(found, data, labels) {
    var texts = [];
    var towns = [];
    for (var i = 0; i < data.count; i++) {
      texts.push(" " + fold(labels.title[i] + " " + labels.city[i]) + " " + (found.text[i] || "") + " ");
      var town = found.towns[townKey(data, labels, i)];
      towns.push(town && town[2] ? " " + town[2].split("|").join(" | ") + " " : "");
    }
    return { texts: texts, towns: towns };
  }

  // The countries whose name (in the page's language) has a word beginning with `word`.
  function countriesNamed(config, word, data) {
    var codes = new Set();
    data.countries.forEach(function (code, position) {
      var name = " " + fold(config.countries[code] || code);
      if (word.length >= 3 && name.indexOf(" " + word) >= 0) codes.add(position);
    });
    return codes;
  }

  function search(config, text, data, labels) {
    var ready = [loadIndex(config), labels ? Promise.resolve(labels) : getJSON(config.labelsUrl)];
    return Promise.all(ready).then(function (loaded) {
      var found = loaded[0];
      labels = loaded[1];
      if (found.count !== data.count || labels.count !== data.count) {
        throw new Error("the search index is of another publish: reload the page");
      }
      if (!haystacks) haystacks = buildHaystacks(found, data, labels);
      var trimmed = text.trim();
      var ids = [];
      var code = data.countries.indexOf(trimmed.toUpperCase());
      if (/^[A-Za-z]{2}$/.test(trimmed) && code >= 0) {
        for (var c = 0; c < data.count; c++) if (data.country[c] === code) ids.push(data.id[c]);
        return { ids: ids };
      }
      var words = fold(text).split(" ").filter(Boolean);
      var countries = words.map(function (word) { return countriesNamed(config, word, data); });
      for (var i = 0; i < data.count; i++) {
        var every = words.every(function (word, w) {
          return haystacks.texts[i].indexOf(word) >= 0 ||
            countries[w].has(data.country[i]) ||
            (haystacks.towns[i] && haystacks.towns[i].indexOf(" " + word + " ") >= 0);
        });
        if (every) ids.push(data.id[i]);
      }
      return { ids: ids };
    });
  }

  function places(config, text) {
    var wanted = fold(text);
    return loadIndex(config).then(function (found) {
      var result = [];
      Object.keys(found.towns).forEach(function (key) {
        var parts = key.split("\n");
        var town = found.towns[key];
        var names = town[2] ? town[2].split("|") : [];
        if (fold(parts[0]) !== wanted && names.indexOf(wanted) < 0) return;
        var country = config.countries[parts[1]] || parts[1];
        result.push({
          name: parts[0],
          country: parts[1],
          label: country ? parts[0] + ", " + country : parts[0],
          lat: town[0],
          lon: town[1],
          precision: "city",
        });
      });
      return { places: result.slice(0, MAX_PLACES) };
    });
  }

  window.mapappSite = { event: event, search: search, places: places, fold: fold };
})();
