/* The time zone select of the event form, its edit page and the preview.
   Without JavaScript the form's select lists every country's zones in groups, and the preview
   lists the chosen country's zones. Here the form keeps only the chosen country's zones, and
   both preselect the browser's zone when it is one of them (browsers may name an alias, such as
   Asia/Calcutta for Asia/Kolkata: each option lists its aliases), else the country's only zone.
   The coordinators' edit page asks for two more things: data-every-zone lists every zone when no
   country is chosen (or the country has no zones of its own), and data-keep-zone never preselects
   the browser's zone (a coordinator's clock says nothing of the event's) and keeps the stored zone
   on the first showing when it is not one of the country's. */
(function () {
  "use strict";

  /* The preview of a placed event: the zone follows the place picked (its label names it). */
  var statedZone = document.querySelector('input[type="hidden"][name="timezone"]');
  var previewData = document.getElementById("preview-data");
  if (statedZone && previewData) {
    var candidates = JSON.parse(previewData.textContent).candidates || [];
    document.querySelectorAll('input[name="place"]').forEach(function (radio) {
      radio.addEventListener("change", function () {
        var candidate = candidates[parseInt(radio.value, 10)];
        if (candidate && candidate.timezone) {
          statedZone.value = candidate.timezone;
        }
      });
    });
  }

  var select = document.querySelector("select[data-zone-select]");
  if (!select) {
    return;
  }
  var everyZone = select.hasAttribute("data-every-zone");
  var keepZone = select.hasAttribute("data-keep-zone");
  var browserZone = "";
  try {
    browserZone = keepZone ? "" : Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    browserZone = "";
  }

  function optionData(option) {
    return {
      value: option.value,
      label: option.textContent,
      also: (option.getAttribute("data-also") || "").split(" ").filter(Boolean)
    };
  }

  function means(zone, name) {
    return zone.value === name || zone.also.indexOf(name) !== -1;
  }

  /* The zone to preselect: the one chosen, else the browser's, else a country's only zone. */
  function preselect(zones, current) {
    var i;
    for (i = 0; i < zones.length; i += 1) {
      if (current && zones[i].value === current) { return zones[i].value; }
    }
    for (i = 0; i < zones.length; i += 1) {
      if (browserZone && means(zones[i], browserZone)) { return zones[i].value; }
    }
    return zones.length === 1 ? zones[0].value : "";
  }

  var prompt = select.querySelector('option[value=""]');
  var promptLabel = prompt ? prompt.textContent : "";
  var groups = {};
  var order = [];  // the groups in the page's order, for the list of every zone
  select.querySelectorAll("optgroup[data-country]").forEach(function (group) {
    var code = group.getAttribute("data-country");
    groups[code] = Array.prototype.map.call(group.querySelectorAll("option"), optionData);
    order.push({ label: group.getAttribute("label"), zones: groups[code] });
  });
  var chosen = select.selectedOptions && select.selectedOptions[0];
  var stored = chosen && chosen.value ? { value: chosen.value, label: chosen.textContent, also: [] } : null;
  var countryField = document.getElementById(select.getAttribute("data-country-field") || "");

  if (!countryField || !Object.keys(groups).length) {
    /* The preview: the country's zones are already the options. */
    var zones = Array.prototype.map.call(
      select.querySelectorAll('option:not([value=""])'), optionData);
    select.value = preselect(zones, select.value);
    return;
  }

  function addOption(parent, zone) {
    var option = document.createElement("option");
    option.value = zone.value;
    option.textContent = zone.label;
    parent.appendChild(option);
  }

  function show(code, firstShowing) {
    var current = select.value;
    var own = groups[code] || [];
    var all = everyZone && (!code || !own.length);
    var shown = all ? order : [{ label: "", zones: own }];
    var zones = [];
    shown.forEach(function (group) { zones = zones.concat(group.zones); });
    var kept = firstShowing && keepZone && stored &&
      !zones.some(function (zone) { return zone.value === stored.value; });
    while (select.firstChild) {
      select.removeChild(select.firstChild);
    }
    var first = document.createElement("option");
    first.value = "";
    first.textContent = code || all ? promptLabel : select.getAttribute("data-no-country") || promptLabel;
    select.appendChild(first);
    if (kept) {
      addOption(select, stored);  // the stored zone, not one of the country's: kept until changed
      zones = zones.concat([stored]);
    }
    shown.forEach(function (group) {
      var parent = select;
      if (group.label) {
        parent = document.createElement("optgroup");
        parent.label = group.label;
        select.appendChild(parent);
      }
      group.zones.forEach(function (zone) { addOption(parent, zone); });
    });
    select.value = preselect(zones, current);
  }

  countryField.addEventListener("change", function () { show(countryField.value, false); });
  show(countryField.value, true);

  /* An online event's country is where the organisation is based: say so in the label (both
     labels come from the select's data attributes, in the page's language). */
  var countryLabel = document.querySelector('label[for="country"]');
  var formats = document.querySelectorAll('input[name="format"]');
  var onlineLabel = select.getAttribute("data-online-country-label");
  var placeLabel = select.getAttribute("data-country-label");
  function labelCountry() {
    var online = document.querySelector('input[name="format"][value="online"]:checked');
    countryLabel.textContent = online ? onlineLabel : placeLabel;
  }
  if (countryLabel && formats.length && onlineLabel && placeLabel) {
    formats.forEach(function (radio) { radio.addEventListener("change", labelCountry); });
    labelCountry();
  }
})();
