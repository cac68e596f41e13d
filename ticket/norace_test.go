//go:build !race

package ticket

const raceEnabled = false
