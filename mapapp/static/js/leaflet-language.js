/* Leaflet's own control texts (the zoom buttons' names) in the page's language. Loaded right after
 * leaflet.js and before any map is made; the texts come from base.html's
 * <meta name="mapapp-leaflet">, translated by the catalog. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="mapapp-leaflet"]');
  if (!meta || !window.L) return;
  var texts = JSON.parse(meta.getAttribute("content"));
  L.Control.Zoom.prototype.options.zoomInTitle = texts.zoomIn;
  L.Control.Zoom.prototype.options.zoomOutTitle = texts.zoomOut;
})();
