//go:build race

package sched

// raceEnabled shortens the random oracle runs under the race detector, which slows them about tenfold.
const raceEnabled = true
