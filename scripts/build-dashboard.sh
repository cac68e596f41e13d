#!/usr/bin/env bash
# Rebuilds the operator dashboard (web/dashboard) into dashboard/dist, which the geofence
# binary embeds: npm ci installs the pinned packages of web/dashboard/package-lock.json
# (d3-geo, topojson-client, world-atlas, world-countries, esbuild), then build.mjs converts the
# world map and bundles the page with esbuild. Commit dashboard/dist after running it;
# `go test ./dashboard/` fails when the committed bundle is not what this builds.
# Needs node (18 or later) and npm: apt-get install -y nodejs npm.
set -euo pipefail
cd "$(dirname "$0")/../web/dashboard"
npm ci --no-audit --no-fund --loglevel=error
node build.mjs "${1:-../../dashboard/dist}"
