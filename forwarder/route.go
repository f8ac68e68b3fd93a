package forwarder

import "github.com/xvs-project/xvs/encap"

// Hop is where a packet toward some destination leaves the director: the
// egress interface, the MACs to write and the interface's MTU and address.
type Hop struct {
	Ifindex int
	SrcMAC  [6]byte
	DstMAC  [6]byte
	MTU     int
	// Src is the director's own address on the egress interface, in 16-byte
	// form: the outer source of tunnelled packets and the source of ICMP
	// errors the director sends.
	Src [16]byte
}

// Router resolves next hops. Route is called per packet: it must not block,
// lock or allocate. It returns nil when there is no route. When the route is
// known but the neighbour is not resolved yet, it returns a Hop whose DstMAC
// is all zero and starts resolving it in the background; the worker holds the
// packet briefly, as the kernel queues packets for an incomplete neighbour.
type Router interface {
	Route(dst *[16]byte) *Hop
}

// StaticRouter is a Router with a fixed table, for the in-memory backend and
// tests: an exact-address table, then a default per family.
type StaticRouter struct {
	Hosts    map[[16]byte]*Hop
	Default4 *Hop
	Default6 *Hop
}

// Route implements Router.
func (r *StaticRouter) Route(dst *[16]byte) *Hop {
	if h, ok := r.Hosts[*dst]; ok {
		return h
	}
	if encap.IsV4Mapped(*dst) {
		return r.Default4
	}
	return r.Default6
}
