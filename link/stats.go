package link

// Counter is one of a backend's own counters.
type Counter struct {
	// Queue is where it counts: a queue ("eth0/3"), a part of an interface
	// ("eth0/other"), or "" for the backend as a whole.
	Queue string
	// Reason says what it counts, in the form of the engine's drop reasons
	// ("xsk-rx-ring-full", "afpacket-tx-full"): it is what xvsadm -L --drops
	// and the metrics show.
	Reason string
	Count  uint64
}

// Stats are a backend's own counters, apart from what the workers count.
type Stats struct {
	// Drops are frames lost in the backend or the kernel beneath it.
	Drops []Counter
	// Events are counters that are not losses (steering verdicts, ring
	// freezes, idle kicks).
	Events []Counter
}

// AddDrop appends a loss counter unless n is zero.
func (s *Stats) AddDrop(queue, reason string, n uint64) {
	if n != 0 {
		s.Drops = append(s.Drops, Counter{Queue: queue, Reason: reason, Count: n})
	}
}

// AddEvent appends an event counter unless n is zero.
func (s *Stats) AddEvent(queue, reason string, n uint64) {
	if n != 0 {
		s.Events = append(s.Events, Counter{Queue: queue, Reason: reason, Count: n})
	}
}
