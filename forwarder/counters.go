package forwarder

// What the workers count as they go: drop reasons and single-writer
// counters per queue and per real server. report.go sums them into the
// figures the engine reports.

import "sync/atomic"

// DropReason says why a worker dropped a packet.
type DropReason uint8

// Drop reasons, counted per queue.
const (
	DropMalformed DropReason = iota // the parser could not make sense of the frame
	DropNotOurs                     // not a packet for a service (steering let it through)
	DropNoService                   // TCP/UDP to a VIP without such a service, or a reply without a connection
	DropNoConn                      // a TCP packet without a connection that may not open one (conntrack.Table.AcceptsNew)
	DropNoDest                      // the scheduler found no available real server
	DropTableFull                   // the connection table refused the entry
	DropTTL                         // TTL or hop limit would reach zero
	DropNoRoute                     // next hop unknown or unresolved yet
	DropTooBig                      // a tunnelled packet did not fit and could not be answered
	DropFragment                    // a first fragment too short to hold its TCP/UDP header
	DropTxFull                      // the egress ring had no room
	DropClash                       // NAT: the reply tuple (real -> client) is held by another live connection
	DropTmplGone                    // the persistence template went away while the connection was made
	DropInsert                      // the connection table refused the entry for another reason (a bug)
	DropFragWait                    // a held later fragment whose first fragment did not come in time
	DropFragFull                    // a later fragment before its first, no hold slot free (or too long for one)
	DropFragFirst                   // a later fragment of a datagram whose first fragment was dropped

	// Garbage the kernel's receive path would drop (encap.Check), and VLANs
	// the director is not on; all dropped before any connection state.
	DropBadIPChecksum // IPv4 header checksum wrong
	DropBadIPOptions  // IPv4 options that do not walk, or a source route / CIPSO
	DropBadUDPLength  // UDP length below 8 or beyond the IP payload
	DropMartian       // martian source or destination (loopback, multicast, v4-mapped IPv6, ...)
	DropVLAN          // tagged with a VLAN not served on the arrival interface (see VLAN)

	// DropStandby: a packet without a connection for a service whose
	// VIP's VRRP instance is not master (Engine.SetStandby): no new
	// connection is made there, so it counts here whatever its flags.
	DropStandby

	numDropReasons
)

var dropNames = [numDropReasons]string{
	"malformed", "not-ours", "no-service", "no-conn", "no-dest", "table-full",
	"ttl", "no-route", "too-big", "fragment", "tx-full",
	"reply-clash", "template-gone", "insert-refused",
	"frag-timeout", "frag-hold-full", "frag-first-dropped",
	"bad-ip-checksum", "bad-ip-options", "bad-udp-length", "martian", "vlan",
	"standby",
}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// counter is a single-writer counter: the owning worker adds with a plain
// load and store (no locked instruction), readers load atomically.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }
func (c *counter) load() uint64 { return c.v.Load() }

// realCounters are one real server's figures as one worker saw them.
type realCounters struct {
	conns, inPkts, outPkts, inBytes, outBytes counter
}

// queueStats is what one worker counts. Only that worker writes; Stats sums
// all workers' figures.
type queueStats struct {
	name   string
	rx, tx counter
	tooBig counter // too-big / frag-needed answers sent
	drops  [numDropReasons]counter
	reals  atomic.Pointer[[]realCounters] // indexed by real id; grown by the worker
}

// realStats returns the worker's counters for real id, growing the table (off
// the common path: only when a new id shows up).
func (q *queueStats) realStats(id uint32) *realCounters {
	t := q.reals.Load()
	if t != nil && int(id) < len(*t) {
		return &(*t)[id]
	}
	n := 64
	if t != nil {
		n = 2 * len(*t)
	}
	for n <= int(id) {
		n *= 2
	}
	grown := make([]realCounters, n)
	if t != nil {
		for i := range *t {
			c, o := &grown[i], &(*t)[i]
			c.conns.v.Store(o.conns.load())
			c.inPkts.v.Store(o.inPkts.load())
			c.outPkts.v.Store(o.outPkts.load())
			c.inBytes.v.Store(o.inBytes.load())
			c.outBytes.v.Store(o.outBytes.load())
		}
	}
	q.reals.Store(&grown)
	return &grown[id]
}
