// Package examples embeds the example world, so `geofence dev` runs on examples/world.yaml from
// any directory. The example files themselves are the documentation: read them.
package examples

import _ "embed"

// World is examples/world.yaml: a world modeled on a 2020 meeting-service footprint.
//
//go:embed world.yaml
var World []byte
