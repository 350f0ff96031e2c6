/* The map's clusters in a Web Worker: the indexes are built here, off the page's thread, and
 * only the clusters in view go back to the page (map.js). Messages in:
 *   {type: "init", scripts: [Supercluster's URL, map-clusters.js's URL]}: sent as the page starts
 *   {type: "columns", columns}: the events' places and categories, once the data is in
 *   {type: "base", positions}: the events the filters other than category keep
 *   {type: "query", id, box, zoom, buckets}  ->  {type: "clusters", id, items}
 *   {type: "leaves", id, key}                ->  {type: "leaves", id, positions}
 * After a base and between queries, the categories not asked for yet are indexed one at a time,
 * so that the first switch to them is a query too; {type: "built"} says all are. */
(function () {
  "use strict";

  var clusters = null;

  function built() {
    self.postMessage({ type: "built" });
  }

  self.onmessage = function (event) {
    var message = event.data;
    if (message.type === "init") {
      self.importScripts.apply(self, message.scripts);
      return;
    }
    if (message.type === "columns") {
      clusters = new self.MapClusters(message.columns);
      return;
    }
    if (message.type === "base") {
      clusters.setBase(message.positions);
    } else if (message.type === "query") {
      self.postMessage({ type: "clusters", id: message.id, items: clusters.query(message.box, message.zoom, message.buckets) });
    } else if (message.type === "leaves") {
      self.postMessage({ type: "leaves", id: message.id, positions: clusters.leaves(message.key) });
    }
    clusters.buildRest(built);
  };
})();
