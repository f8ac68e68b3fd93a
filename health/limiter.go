package health

import "time"

// limiter lets burst lines through per window and counts the rest, so a flapping server
// cannot flood the log but the count of what it did is never lost.
type limiter struct {
	start      time.Time
	n          int
	suppressed int
}

func (l *limiter) allow(now time.Time, burst int, window time.Duration) bool {
	if l.start.IsZero() || now.Sub(l.start) >= window {
		l.start, l.n = now, 0
	}
	if l.n < burst {
		l.n++
		return true
	}
	l.suppressed++
	return false
}

func (l *limiter) takeSuppressed() int {
	n := l.suppressed
	l.suppressed = 0
	return n
}
