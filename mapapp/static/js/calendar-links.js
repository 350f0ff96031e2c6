/* The map page's calendar and download links follow the filters as the visitor changes them.
 *
 * map.js says `document.dispatchEvent(new CustomEvent("mapapp:filters", {detail: query}))`, the
 * detail being the filters as a query string ("country=FR%2CDE&year=2027"); each link marked
 * data-export keeps its address and takes that query. Links marked data-webcal are the same
 * feed under the webcal: scheme that calendar apps subscribe to. No words here to translate. */
(function () {
  "use strict";

  function withQuery(href, query) {
    var base = href.split("#")[0].split("?")[0];
    return query ? base + "?" + query : base;
  }

  function follow(query) {
    document.querySelectorAll("a[data-export]").forEach(function (link) {
      link.setAttribute("href", withQuery(link.getAttribute("href"), query));
    });
  }

  document.addEventListener("mapapp:filters", function (event) {
    var detail = event.detail;
    if (detail === undefined || detail === null) detail = "";
    // Accept URLSearchParams too; drop empty values so the links stay short and cacheable.
    var params = new URLSearchParams(String(detail));
    var kept = new URLSearchParams();
    params.forEach(function (value, name) {
      if (value !== "") kept.append(name, value);
    });
    follow(kept.toString());
  });
})();
