/* The map's clusters: one Supercluster index per category, so that switching categories only
 * queries indexes already built instead of clustering every kept event again (0.85 s at 200,000
 * events). The clusters of the categories chosen are merged where they overlap, the way
 * Supercluster merges one zoom level into the next, so counts stay exact and each cluster sits
 * at the centre of the events it holds.
 *
 * Runs in the clusters' Web Worker (map-worker.js) and, where there is none, in the page itself
 * (map.js); both get the same clusters. Needs Supercluster loaded first. */
(function (scope) {
  "use strict";

  var RADIUS = 60; // pixels, as Supercluster's radius
  var EXTENT = 512; // Supercluster's tile extent: its radius is relative to it
  // Clusters are kept up to this zoom: deeper, the events still together share (almost) one point
  // and their cluster opens one popup listing them (map.js's CLUSTER_MAX_ZOOM).
  var MAX_ZOOM = 17;

  function lngX(lng) {
    return lng / 360 + 0.5;
  }

  function latY(lat) {
    var sin = Math.sin((lat * Math.PI) / 180);
    var y = 0.5 - (0.25 * Math.log((1 + sin) / (1 - sin))) / Math.PI;
    return y < 0 ? 0 : y > 1 ? 1 : y;
  }

  /* columns: lon and lat in degrees (NaN: no place), bucket: each event's category position
   * (events of an unknown category in the last bucket), buckets: how many. */
  function MapClusters(columns) {
    this.lon = columns.lon;
    this.lat = columns.lat;
    this.bucket = columns.bucket;
    this.buckets = columns.buckets;
    this.setBase(new Int32Array(0));
  }

  /* The events the other filters keep (country, format, dates, search): every index is theirs. */
  MapClusters.prototype.setBase = function (positions) {
    var members = [];
    for (var b = 0; b < this.buckets; b++) members.push([]);
    for (var k = 0; k < positions.length; k++) {
      var i = positions[k];
      if (this.lat[i] === this.lat[i]) members[this.bucket[i]].push(i); // NaN: no place, no point
    }
    this.members = members;
    this.indexes = new Array(this.buckets);
  };

  MapClusters.prototype.unbuilt = function (buckets) {
    var self = this;
    return (buckets || this.allBuckets()).filter(function (b) { return !self.indexes[b]; });
  };

  MapClusters.prototype.allBuckets = function () {
    var all = [];
    for (var b = 0; b < this.buckets; b++) all.push(b);
    return all;
  };

  MapClusters.prototype.build = function (b) {
    if (this.indexes[b]) return;
    var lon = this.lon;
    var lat = this.lat;
    var points = this.members[b].map(function (i) {
      return { type: "Feature", properties: { i: i }, geometry: { type: "Point", coordinates: [lon[i], lat[i]] } };
    });
    this.indexes[b] = new Supercluster({ radius: RADIUS, maxZoom: MAX_ZOOM }).load(points);
  };

  /* Index the buckets not built yet, one per task (a query meanwhile waits for one at most);
   * call done when all are. */
  MapClusters.prototype.buildRest = function (done) {
    var self = this;
    if (this.timer) return;
    function next() {
      self.timer = null;
      var waiting = self.unbuilt(null);
      if (!waiting.length) {
        done();
        return;
      }
      self.build(waiting[0]);
      self.timer = setTimeout(next, 0);
    }
    this.timer = setTimeout(next, 0);
  };

  /* Return the clusters and events of the chosen buckets (null: all) in a box at a zoom, as
   * plain objects: {key, lat, lon, count, i (an event's position, -1 for a cluster), expansion}. */
  MapClusters.prototype.query = function (box, zoom, buckets) {
    var self = this;
    var items = [];
    var sources = 0;
    (buckets || this.allBuckets()).forEach(function (b) {
      self.build(b);
      var found = self.indexes[b].getClusters(box, zoom);
      if (found.length) sources++;
      found.forEach(function (feature) { items.push(self.item(b, feature)); });
    });
    return sources > 1 ? merge(items, zoom) : items;
  };

  MapClusters.prototype.item = function (b, feature) {
    var lon = feature.geometry.coordinates[0];
    var lat = feature.geometry.coordinates[1];
    var properties = feature.properties;
    var item = { key: "", lat: lat, lon: lon, count: 1, i: -1, expansion: MAX_ZOOM + 1, x: lngX(lon), y: latY(lat) };
    if (properties.cluster) {
      item.key = "c" + b + "_" + properties.cluster_id;
      item.count = properties.point_count;
      item.expansion = this.indexes[b].getClusterExpansionZoom(properties.cluster_id);
    } else {
      item.key = "e" + properties.i;
      item.i = properties.i;
    }
    return item;
  };

  /* Return the positions of the events of a cluster (a key query returned). */
  MapClusters.prototype.leaves = function (key) {
    var self = this;
    var positions = [];
    key.split("+").forEach(function (part) {
      if (part.charAt(0) === "e") {
        positions.push(+part.slice(1));
        return;
      }
      var ids = part.slice(1).split("_");
      var index = self.indexes[+ids[0]];
      if (!index) return;
      index.getLeaves(+ids[1], Infinity).forEach(function (leaf) { positions.push(leaf.properties.i); });
    });
    return positions;
  };

  /* Merge the clusters of several categories that lie within the radius of each other at this
   * zoom (largest first), as Supercluster merges one zoom's clusters into the next one's. */
  function merge(items, zoom) {
    var r = RADIUS / (EXTENT * Math.pow(2, zoom));
    var cells = new Map();
    function cellOf(x, y) { return Math.floor(x / r) + ":" + Math.floor(y / r); }
    items.forEach(function (item, k) { item.order = k; });
    items.forEach(function (item) {
      var cell = cellOf(item.x, item.y);
      if (!cells.has(cell)) cells.set(cell, []);
      cells.get(cell).push(item);
    });
    var sorted = items.slice().sort(function (a, b) { return b.count - a.count || a.order - b.order; });
    var merged = [];
    sorted.forEach(function (item) {
      if (item.taken) return;
      item.taken = true;
      var parts = [item];
      var cx = Math.floor(item.x / r);
      var cy = Math.floor(item.y / r);
      for (var dx = -1; dx <= 1; dx++) {
        for (var dy = -1; dy <= 1; dy++) {
          (cells.get(cx + dx + ":" + (cy + dy)) || []).forEach(function (other) {
            if (other.taken) return;
            var ex = other.x - item.x;
            var ey = other.y - item.y;
            if (ex * ex + ey * ey > r * r) return;
            other.taken = true;
            parts.push(other);
          });
        }
      }
      merged.push(parts.length === 1 ? item : joined(parts, zoom));
    });
    return merged;
  }

  function joined(parts, zoom) {
    var count = 0;
    var wx = 0;
    var wy = 0;
    var expansion = MAX_ZOOM + 1;
    var farthest = 0;
    parts.forEach(function (part) {
      count += part.count;
      wx += part.x * part.count;
      wy += part.y * part.count;
      if (part.i < 0) expansion = Math.min(expansion, part.expansion);
      var dx = part.x - parts[0].x;
      var dy = part.y - parts[0].y;
      farthest = Math.max(farthest, Math.sqrt(dx * dx + dy * dy));
    });
    // The parts come apart at the first zoom whose radius is shorter than their distance.
    if (farthest > 0) {
      var apart = Math.floor(Math.log(RADIUS / (EXTENT * farthest)) / Math.LN2) + 1;
      expansion = Math.min(expansion, Math.max(apart, zoom + 1));
    }
    var x = wx / count;
    var y = wy / count;
    return {
      key: parts.map(function (part) { return part.key; }).sort().join("+"),
      lon: (x - 0.5) * 360,
      lat: (360 * Math.atan(Math.exp((180 - y * 360) * Math.PI / 180))) / Math.PI - 90,
      count: count,
      i: -1,
      expansion: expansion,
      x: x,
      y: y,
    };
  }

  MapClusters.MAX_ZOOM = MAX_ZOOM;
  scope.MapClusters = MapClusters;
})(typeof self !== "undefined" ? self : this);
