'use strict';
// The site's plotly.js: the core (with the scatter trace) and the traces the book draws. A figure
// with another trace type fails the build (attn_edu.sphinxext.PLOTLY_TRACES lists these four).
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/heatmap'),
    require('plotly.js/lib/image'),
]);

module.exports = Plotly;
