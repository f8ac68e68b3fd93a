package connsync

import "time"

// Policy is when a master sends a connection, the kernel's sync sysctls
// (Documentation/networking/ipvs-sysctl.rst): sync_threshold and
// sync_period, sync_refresh_period, sync_retries and sync_persist_mode.
type Policy struct {
	// Threshold and Period: a connection is sent at its Threshold-th
	// packet from the client and every Period packets after (3, 53, 103 …
	// with the defaults). Period 0 sends it once, at Threshold.
	Threshold, Period int
	// RefreshPeriod, if positive, sends a connection again only when its
	// expiry moved by at least min(RefreshPeriod, max(timeout/2, 10 s)),
	// retrying up to Retries (0..3) times every RefreshPeriod/8.
	RefreshPeriod time.Duration
	Retries       int
	// PersistMode sends only the templates of persistent services, not
	// the connections they control.
	PersistMode bool
}

// DefaultPolicy is the kernel's default: threshold 3, period 50, no
// refresh period, no retries.
var DefaultPolicy = Policy{Threshold: 3, Period: 50}

// TCP states in the kernel's numbering (conntrack.State keeps it).
const (
	tcpEstablished = 1
	tcpFinWait     = 4
	tcpTimeWait    = 5
	tcpClose       = 6
	tcpCloseWait   = 7
)

// syncedTCP: the TCP states a backup is ever told about. A connection still
// opening is not worth sending: if the master dies, the client retries.
const syncedTCP = 1<<tcpEstablished | 1<<tcpFinWait | 1<<tcpClose | 1<<tcpCloseWait | 1<<tcpTimeWait

// Track is what the master remembers per connection between sends: the
// state last sent and when the sent copy expires (the low two bits count
// refresh retries, as in the kernel's sync_endtime).
type Track struct {
	OldState uint16
	EndTime  int64 // ns
}

// Packet describes the connection at one client packet, for Needed.
type Packet struct {
	Proto    uint8
	State    uint16
	Template bool // a persistence template (its own packet count)
	// Persistent: a connection controlled by a persistence template.
	Persistent bool
	// Pkts is the connection's client-to-server packet count, this one
	// included (a template counts the packets of its connections' sends).
	Pkts    int
	Timeout time.Duration
}

// Needed reports whether the master sends the connection now, updating t
// when it does: the kernel's ip_vs_sync_conn_needed, packet for packet.
func (p *Policy) Needed(t *Track, c Packet, now time.Time) bool {
	orig := t.EndTime
	n := (now.UnixNano() + int64(c.Timeout)) &^ 3
	force := false
	switch {
	case c.Template:
	case p.PersistMode && c.Persistent:
		return false
	case c.Proto == protoTCP:
		if syncedTCP&(1<<c.State) == 0 { // a shift past the word is 0: not synced
			return false
		}
		force = c.State != t.OldState
		if force && c.State != tcpEstablished {
			return p.set(t, c, n)
		}
	}
	if p.RefreshPeriod > 0 {
		diff := n - orig
		if diff < 0 {
			diff = -diff
		}
		minDiff := max(int64(c.Timeout)/2, int64(10*time.Second))
		if diff < min(int64(p.RefreshPeriod), minDiff) {
			retries := int(orig & 3)
			if retries >= p.Retries || now.UnixNano() < orig-int64(c.Timeout)+int64(p.RefreshPeriod)/8 {
				return false
			}
			n |= int64(retries + 1)
		}
	}
	switch {
	case p.Period > 0:
		if !c.Template && c.Pkts%p.Period != p.Threshold {
			return false
		}
	case p.RefreshPeriod == 0 && c.Pkts != p.Threshold:
		return false
	}
	return p.set(t, c, n)
}

func (p *Policy) set(t *Track, c Packet, n int64) bool {
	t.OldState = c.State
	t.EndTime = n
	return true
}
