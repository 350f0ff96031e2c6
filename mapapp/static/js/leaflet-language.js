/* Leaflet's own control texts (the zoom buttons' names) in the page's language. Loaded right after
 * leaflet.js and before any map is made; the texts come from base.html's
 * <meta name="mapapp-leaflet"> (data-zoom-in, data-zoom-out), translated by the catalog. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="mapapp-leaflet"]');
  if (!meta || !window.L) return;
  L.Control.Zoom.prototype.options.zoomInTitle = meta.dataset.zoomIn;
  L.Control.Zoom.prototype.options.zoomOutTitle = meta.dataset.zoomOut;
})();
