#!/usr/bin/env bash
# Regenerates countries_gen.go from a pinned version of the npm package world-countries.
# Bump VERSION to take ISO 3166-1 changes, then review the diff and run the tests.
set -euo pipefail
VERSION=5.1.0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm pack --silent "world-countries@$VERSION" >/dev/null && tar xzf "world-countries-$VERSION.tgz")
go run ./internal/gencountries -src "$dir/package/countries.json" -version "$VERSION" -out countries_gen.go
