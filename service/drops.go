package service

// Drop is one loss counter: how many packets (or connection entries) one
// queue lost for one reason. Queue is the worker's queue ("eth0/3") or ""
// for a counter that is not kept per queue (the connection table's
// evictions, the AF_PACKET backend's totals). Reason names the layer first
// ("xsk-rx-ring-full", "steer-no-socket", "evict-embryonic", "no-route"), so
// one name never means two things.
type Drop struct {
	Queue  string `json:"queue"`
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// DropReport is every loss counter of an engine and, beside them, the
// counters that explain where the rest of the traffic went.
type DropReport struct {
	// Drops are the losses; their sum is everything the engine lost.
	Drops []Drop `json:"drops"`
	// Events count packets that were not lost but did not take the
	// forwarding path either: the steering program's verdicts (a "pass-*"
	// packet went to the kernel, a "steer-*" one to a worker) and transmit
	// kicks that found an empty ring. They are not part of any total.
	Events []Drop `json:"events,omitempty"`
}

// Total is the sum of the report's Drops.
func (r *DropReport) Total() uint64 {
	var n uint64
	for _, d := range r.Drops {
		n += d.Count
	}
	return n
}

// DropCount is the count of the record for queue and reason in d, 0 when
// there is none; queue "" asks for a counter not kept per queue.
func DropCount(d []Drop, queue, reason string) uint64 {
	for _, r := range d {
		if r.Queue == queue && r.Reason == reason {
			return r.Count
		}
	}
	return 0
}
