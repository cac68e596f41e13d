// Package examples embeds the example worlds, so `geofence dev` runs on examples/world.yaml
// from any directory and the tests can load them by name.
package examples

import _ "embed"

// World is examples/world.yaml: a world modeled on a 2020 meeting-service footprint.
//
//go:embed world.yaml
var World []byte

// April2020 is examples/april-2020.yaml: the same world with the April 2020 mistakes.
//
//go:embed april-2020.yaml
var April2020 []byte
