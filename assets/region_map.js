/* Region map styling for dash-leaflet GeoJSON layers (components/region_map.py).
 * Local only: nothing here loads anything from the network.
 * dash-leaflet calls these as fn(feature, context); context.hideout is the
 * GeoJSON component's `hideout` prop: {weight, color, fillOpacity, selected}. */
window.dashExtensions = Object.assign({}, window.dashExtensions);
window.dashExtensions.jinjian = Object.assign({}, window.dashExtensions.jinjian, {
    styleByColour: function (feature, context) {
        var h = (context && context.hideout) || {};
        var p = (feature && feature.properties) || {};
        var selected = h.selected && p.code === h.selected;
        return {
            fillColor: p.fill || h.noData || "#3a4a63",
            fillOpacity: h.fillOpacity === undefined ? 0.78 : h.fillOpacity,
            color: selected ? "#ffffff" : (h.color || "#7fdcff"),
            weight: selected ? 3 : (h.weight === undefined ? 1 : h.weight),
            opacity: 0.9,
            dashArray: p.schematic ? (h.schematicDash || "") : ""
        };
    },
    hoverStyle: function (feature, context) {
        return {weight: 3, color: "#ffffff", fillOpacity: 0.95, dashArray: ""};
    },
    /* 风险预警's red / orange entities (components/risk_map.point_layer): a circle marker in
     * the points pane; dash-leaflet binds properties.tooltip and properties.popup. */
    riskPoint: function (feature, latlng, context) {
        var p = (feature && feature.properties) || {};
        var h = (context && context.hideout) || {};
        return L.circleMarker(latlng, {
            radius: p.radius || 6, pane: h.pane || "overlayPane", color: "#ffffff", weight: 1,
            fillColor: p.fill || "#ff4d4f", fillOpacity: 0.95,
            className: "risk-point risk-point-" + (p.grade || "")
        });
    }
});
