//go:build !race

package testbin

// raceEnabled is what Race must report in this build.
const raceEnabled = false
