//go:build race

package ticket

const raceEnabled = true
