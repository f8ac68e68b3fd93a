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
	acc    realAcc                        // a batch's per-real counts, not yet in reals
}

// accSlots is how many real servers a batch's counts gather for before the
// oldest are stored.
const accSlots = 8

// realAcc gathers a batch's packets and bytes per real server in plain
// fields. A counter's add is an atomic store, which on amd64 is a locked
// instruction (XCHG) that waits for every store before it: two per packet
// were about 10 ns of its cost. Gathered, each real server's counters are
// stored once a batch (flush), so Stats sees a batch's counts when the
// batch is done.
type realAcc struct {
	on   bool // between beginBatch and endBatch; off, counts go straight in
	n    int
	ents [accSlots]accEnt
}

type accEnt struct {
	id          uint32
	pkts, bytes [2]uint64 // by direction: [0] in (client to real), [1] out
}

// beginBatch starts gathering counts.
func (q *queueStats) beginBatch() { q.acc.on = true }

// endBatch stores the gathered counts and stops gathering.
func (q *queueStats) endBatch() {
	q.flush()
	q.acc.on = false
}

// flush stores the gathered counts in the real servers' counters.
func (q *queueStats) flush() {
	a := &q.acc
	n := a.n
	a.n = 0
	for i := range a.ents[:n] {
		e := &a.ents[i]
		rc := q.realStats(e.id)
		for d := range e.pkts {
			if e.pkts[d] != 0 {
				pkts, bytes := rc.dir(d)
				pkts.add(e.pkts[d])
				bytes.add(e.bytes[d])
			}
		}
	}
}

// Directions of a real server's packets, for count.
const (
	realIn  = 0 // a client's packet forwarded to the real server
	realOut = 1 // a NAT real server's reply
)

// count counts a packet of n bytes in direction d (realIn, realOut) of
// real server id.
func (q *queueStats) count(id uint32, n int, d int) {
	if !q.acc.on {
		pkts, bytes := q.realStats(id).dir(d)
		pkts.add(1)
		bytes.add(uint64(n))
		return
	}
	e := q.accFor(id)
	e.pkts[d]++
	e.bytes[d] += uint64(n)
}

// dir returns the packet and byte counters of direction d.
func (rc *realCounters) dir(d int) (pkts, bytes *counter) {
	if d == realOut {
		return &rc.outPkts, &rc.outBytes
	}
	return &rc.inPkts, &rc.inBytes
}

// accFor returns the gathering slot of real server id, storing the gathered
// counts first when every slot is taken.
func (q *queueStats) accFor(id uint32) *accEnt {
	a := &q.acc
	for i := range a.ents[:a.n] {
		if a.ents[i].id == id {
			return &a.ents[i]
		}
	}
	if a.n == accSlots {
		q.flush()
	}
	e := &a.ents[a.n]
	a.n++
	*e = accEnt{id: id}
	return e
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
