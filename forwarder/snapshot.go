package forwarder

import (
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/sched"
	"github.com/xvs-project/xvs/service"
)

// svcKey is the packed key of an address service in the snapshot's maps.
type svcKey struct {
	addr  [16]byte
	port  uint16
	proto uint8
}

// serviceState is one virtual service as the workers see it. It is immutable
// once published; a configuration change builds a new one that keeps the id
// and the scheduler.
type serviceState struct {
	id    uint32
	key   service.Key
	proto uint8
	vip   [16]byte // address services only
	port  uint16
	sched sched.Scheduler
	reals []*realState

	persistent     bool
	persistTimeout time.Duration
	persistMask    [16]byte // applied to the client address for templates
	onePacket      bool
	expireQuiesce  bool
	// maglev: the scheduler is mh, whose picks every director shares
	// (see Options.ECMP).
	maglev bool
}

// realState is one real server of one service. It is immutable once
// published; its id, generation and sched.Dest live across snapshots while the
// server stays in the service.
type realState struct {
	id     uint32
	gen    uint32
	svc    *serviceState
	dest   *sched.Dest
	key    service.RealKey
	addr   [16]byte
	port   uint16 // 0: keep the packet's destination port (portFor)
	method service.Method
	tunnel encap.Tunnel // MethodTUN: the encapsulation
}

// portFor is the port r is reached on for a packet sent to pktPort: r's own,
// or, when that is 0 (a real server of a port-0 service or of a service
// group on NAT), the packet's.
func (r *realState) portFor(pktPort uint16) uint16 {
	if r.port == 0 {
		return pktPort
	}
	return r.port
}

// groupMatch is one entry of a service group, scanned in order after the
// exact map misses.
type groupMatch struct {
	proto          uint8
	prefix         netip.Prefix
	lo, hi         [16]byte // the prefix as an inclusive address range
	portLo, portHi uint16
	svc            *serviceState
}

// snapshot is the compiled, read-only configuration the workers load with one
// atomic pointer read per batch.
type snapshot struct {
	cfg      *service.Config
	exact    map[svcKey]*serviceState // VIP:port services
	anyPort  map[svcKey]*serviceState // VIP:0 (every port) services, port field 0
	groups   []groupMatch
	services []*serviceState
	// reals is indexed by realState.id; nil where the id is free.
	reals []*realState
	// trash is indexed by id too: deleted real servers kept for their
	// connections (see regService.trash). Packets never use them; the
	// table's hooks do, so the connection counts of a real server that is
	// re-added stay true.
	trash  []*realState
	hasNAT bool
	// gated says, by service id, which services make no new connection
	// (standby.go); nil: none.
	gated []bool
}

// lookupService finds the service for a packet's destination. Precedence: an
// exact VIP:port service, then a service group, then a VIP:0 service.
func (s *snapshot) lookupService(proto uint8, dst *[16]byte, port uint16) *serviceState {
	if svc, ok := s.exact[svcKey{addr: *dst, port: port, proto: proto}]; ok {
		return svc
	}
	for i := range s.groups {
		g := &s.groups[i]
		if g.proto == proto && (g.portLo == 0 && g.portHi == 0 || port >= g.portLo && port <= g.portHi) &&
			inRange(dst, &g.lo, &g.hi) {
			return g.svc
		}
	}
	if svc, ok := s.anyPort[svcKey{addr: *dst, proto: proto}]; ok {
		return svc
	}
	return nil
}

// real returns the live real server with id and gen, or nil when it was
// deleted (or its id reused) since the connection was made.
func (s *snapshot) real(id, gen uint32) *realState {
	if int(id) >= len(s.reals) {
		return nil
	}
	r := s.reals[id]
	if r == nil || r.gen != gen {
		return nil
	}
	return r
}

// counted returns the real server with id and gen whose sched.Dest counts
// the connections bound to it: a live one, or one in the trash.
func (s *snapshot) counted(id, gen uint32) *realState {
	if r := s.real(id, gen); r != nil {
		return r
	}
	if int(id) < len(s.trash) {
		if r := s.trash[id]; r != nil && r.gen == gen {
			return r
		}
	}
	return nil
}

// realOfDest maps a scheduler's choice back to this snapshot's real server.
// It is nil in the short window where a scheduler already holds a newer
// destination list than the snapshot the worker loaded.
func (s *snapshot) realOfDest(d *sched.Dest) *realState {
	if int(d.ID) >= len(s.reals) {
		return nil
	}
	if r := s.reals[d.ID]; r != nil && r.dest == d {
		return r
	}
	return nil
}

func inRange(a, lo, hi *[16]byte) bool {
	for i := 0; i < 16; i++ {
		if a[i] != lo[i] {
			if a[i] < lo[i] {
				return false
			}
			break
		}
	}
	for i := 0; i < 16; i++ {
		if a[i] != hi[i] {
			return a[i] < hi[i]
		}
	}
	return true
}

// prefixRange returns the first and last address of p in 16-byte form.
func prefixRange(p netip.Prefix) (lo, hi [16]byte) {
	p = p.Masked()
	lo = flow.Addr16(p.Addr())
	hi = lo
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	for i := bits; i < 128; i++ {
		hi[i/8] |= 0x80 >> (i % 8)
	}
	return lo, hi
}

// maskBits returns a 16-byte mask with the top bits set (IPv4 counted within
// the v4-mapped form).
func maskBits(bits int, v4 bool) [16]byte {
	var m [16]byte
	if v4 {
		bits += 96
	}
	for i := 0; i < bits && i < 128; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}
