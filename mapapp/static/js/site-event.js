/* An event's page on the published site (mapapp publish): rendered once, in English, and put
 * into the visitor's language here. The language is the page's ?lang= (the map's links carry
 * it), else the language of the map page that linked here, else the browser's languages.
 * Each element with data-t gets the catalog's translation of that message id
 * (i18n/<lang>.json), its %(name)s placeholders filled from data-v-<name>; dates, times and
 * country names come from Intl. Texts go in through textContent only. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("site-config").textContent);
  var languages = config.languages;
  var root = document.documentElement;
  var article = document.querySelector("article.event");

  function chosenLanguage() {
    var asked = new URLSearchParams(window.location.search).get("lang");
    if (asked && languages[asked]) return asked;
    if (document.referrer) {
      try {
        var from = new URL(document.referrer);
        // A map page of this site (its index or embed): the longest matching map address wins,
        // so /fr/ is French and / is English.
        var code = null;
        var longest = -1;
        Object.keys(languages).forEach(function (language) {
          var map = languages[language].map;
          var rest = from.pathname.slice(map.length);
          var isMap = from.pathname.indexOf(map) === 0 && (rest === "" || rest === "index.html" || rest.indexOf("embed") === 0);
          if (from.origin === window.location.origin && isMap && map.length > longest) {
            code = language;
            longest = map.length;
          }
        });
        if (code) return code;
      } catch (error) { /* not a URL: ignore it */ }
    }
    var preferred = navigator.languages || [navigator.language || ""];
    for (var i = 0; i < preferred.length; i++) {
      var tag = String(preferred[i] || "").toLowerCase();
      if (/^zh-(tw|hk|mo|hant)/.test(tag)) continue; // Traditional Chinese readers get English
      var primary = tag.split("-")[0];
      if (languages[primary]) return primary;
    }
    return config.defaultLanguage;
  }

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function valuesOf(node) {
    var values = {};
    Object.keys(node.dataset).forEach(function (key) {
      if (key.indexOf("v") === 0 && key.length > 1) {
        values[key.charAt(1).toLowerCase() + key.slice(2)] = node.dataset[key];
      }
    });
    return values;
  }

  function countryName(code, language) {
    try {
      return new Intl.DisplayNames([languages[language].formats], { type: "region" }).of(code) || code;
    } catch (error) {
      return code;
    }
  }

  function formatMoment(iso, language, zone, withDate) {
    var moment = new Date(iso);
    if (!iso || isNaN(moment.getTime())) return "";
    var options = withDate ? { dateStyle: "full", timeStyle: "short" } : { timeStyle: "short" };
    if (zone) options.timeZone = zone;
    try {
      return moment.toLocaleString(languages[language].formats, options);
    } catch (error) {
      delete options.timeZone;
      return moment.toLocaleString(languages[language].formats, options);
    }
  }

  function localWhen(language) {
    var start = article.getAttribute("data-start");
    var end = article.getAttribute("data-end");
    var zone = article.getAttribute("data-timezone") || "UTC";
    var text = formatMoment(start, language, zone, true);
    if (!text) return "";
    if (end) {
      var sameDay = new Date(start).toLocaleDateString("en-CA", { timeZone: zone }) ===
        new Date(end).toLocaleDateString("en-CA", { timeZone: zone });
      text += sameDay ? "–" + formatMoment(end, language, zone, false) : " – " + formatMoment(end, language, zone, true);
    }
    return text + " (" + zone + ")";
  }

  function showPassed() {
    var start = article.getAttribute("data-start");
    var last = new Date(article.getAttribute("data-end") || start);
    if (!start || isNaN(last.getTime()) || last.getTime() > Date.now()) return;
    article.classList.add("event-is-past");
    document.querySelectorAll(".event-passed, .event-calendar-past").forEach(function (node) { node.hidden = false; });
    document.querySelectorAll(".calendar-upcoming").forEach(function (node) { node.hidden = true; });
  }

  function translate(language, catalog) {
    function t(text, values) {
      var entry = catalog[text];
      return fill(typeof entry === "string" && entry ? entry : text, values || {});
    }
    var own = languages[language];
    root.lang = own.tag;
    root.dir = own.dir;
    root.setAttribute("data-formats", own.formats);
    document.querySelectorAll("[data-t]").forEach(function (node) {
      var values = valuesOf(node);
      if (node.hasAttribute("data-country") && values.country !== undefined) {
        values.country = countryName(node.getAttribute("data-country"), language);
      }
      node.textContent = t(node.getAttribute("data-t"), values);
    });
    document.querySelectorAll("[data-t-aria-label]").forEach(function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-t-aria-label")));
    });
    var share = document.querySelector(".event-share");
    if (share) {
      share.setAttribute("data-copied", t("Link copied"));
      share.setAttribute("data-copy-failed", t("The link is selected: copy it with your keyboard or menu."));
    }
    var place = document.querySelector(".event-place[data-country]");
    if (place && language !== config.defaultLanguage) {
      var parts = [place.getAttribute("data-place"), place.getAttribute("data-country") && countryName(place.getAttribute("data-country"), language)];
      place.textContent = parts.filter(Boolean).join(", ");
    }
    var when = document.querySelector(".event-when");
    if (when && language !== config.defaultLanguage) {
      var first = when.firstChild;
      if (first && first.nodeType === 3) first.textContent = localWhen(language) + " ";
    }
    document.querySelectorAll(".visitor-time[data-t-template]").forEach(function (node) {
      var yours = formatMoment(article.getAttribute("data-start"), language, "", true);
      if (yours) node.textContent = t(node.getAttribute("data-t-template"), { when: yours });
    });
    // Links back to the map go to the map in the same language.
    document.querySelectorAll("a.site-map-link").forEach(function (link) {
      link.href = own.map + (link.getAttribute("data-query") || "");
    });
    document.querySelectorAll(".language-switch a[data-lang]").forEach(function (link) {
      if (link.getAttribute("data-lang") === language) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    });
    document.body.setAttribute("data-language", language);
  }

  showPassed();
  var language = chosenLanguage();
  if (language === config.defaultLanguage) {
    translate(language, {});
    return;
  }
  fetch(config.catalogUrl.replace("LANG", language))
    .then(function (response) {
      if (!response.ok) throw new Error("catalog " + response.status);
      return response.json();
    })
    .then(function (catalog) { translate(language, catalog); })
    .catch(function () {
      translate(config.defaultLanguage, {}); // the page stays in English
    });
})();
