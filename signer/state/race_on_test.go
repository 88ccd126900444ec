//go:build race

package state

// raceEnabled: the race detector's shadow memory makes resident-set
// figures meaningless, so the RSS test does not judge a race build.
const raceEnabled = true
