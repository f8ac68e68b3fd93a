package conntrack

import "time"

// Timeouts is how long an idle entry lives in each state. A zero field means
// the kernel's default (see DefaultTimeouts). ipvsadm's --set tcp tcpfin udp
// changes Established, FinWait and UDP (Table.SetTimeouts).
type Timeouts struct {
	None, Established, SynSent, SynRecv, FinWait, TimeWait time.Duration
	Close, CloseWait, LastAck, Listen, SynAck              time.Duration
	UDP, ICMP                                              time.Duration
}

// DefaultTimeouts returns the kernel's tcp_timeouts and udp_timeouts, and 60 s
// for ICMP.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		None:        2 * time.Second,
		Established: 15 * time.Minute,
		SynSent:     2 * time.Minute,
		SynRecv:     1 * time.Minute,
		FinWait:     2 * time.Minute,
		TimeWait:    2 * time.Minute,
		Close:       10 * time.Second,
		CloseWait:   60 * time.Second,
		LastAck:     30 * time.Second,
		Listen:      2 * time.Minute,
		SynAck:      120 * time.Second,
		UDP:         5 * time.Minute,
		ICMP:        60 * time.Second,
	}
}

func (t *Timeouts) byState() [numStates]time.Duration {
	return [numStates]time.Duration{
		t.None, t.Established, t.SynSent, t.SynRecv, t.FinWait, t.TimeWait,
		t.Close, t.CloseWait, t.LastAck, t.Listen, t.SynAck, t.UDP, t.ICMP,
	}
}

// Time inside the table is kept in ticks of tickNs on 32 bits, compared with
// serial arithmetic, so a timeout may be up to maxTimeout; persistence
// timeouts of ipvsadm (at most 31 days) fit.
const (
	tickNs     = int64(4 * time.Millisecond)
	maxTicks   = 1 << 30
	maxTimeout = time.Duration(maxTicks * tickNs)
	// refreshTicks: a packet that changes nothing but the expiry moves it
	// only when it gained this much, so a busy flow does not write its entry
	// on every packet. Expiry is thus exact to within refreshTicks.
	refreshTicks = 64 // 256 ms
)

// toTicks converts a timeout to ticks, rounding up, within [1, maxTicks].
func toTicks(d time.Duration) uint32 {
	if d <= 0 {
		return 1
	}
	if d >= maxTimeout {
		return maxTicks
	}
	return uint32((int64(d) + tickNs - 1) / tickNs)
}

func fromTicks(t uint32) time.Duration { return time.Duration(int64(t) * tickNs) }

// before reports a < b in serial (wrapping) arithmetic.
func before(a, b uint32) bool { return int32(a-b) < 0 }
