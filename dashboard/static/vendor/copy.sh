#!/bin/sh
# Copies the pinned browser builds out of node_modules; run by `make vendor` after `npm ci`.
set -eu
cp node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.mjs lightweight-charts.standalone.production.mjs
cp node_modules/socket.io-client/dist/socket.io.esm.min.js socket.io.esm.min.js
cp node_modules/lightweight-charts/LICENSE LICENSE.lightweight-charts
cp node_modules/socket.io-client/LICENSE LICENSE.socket.io-client
