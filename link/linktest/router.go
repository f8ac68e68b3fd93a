package linktest

import (
	"context"
	"net/netip"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link"
)

// StaticRouter is a router (forwarder.Router) with a fixed table, for the
// in-memory backend and tests: an exact-address table, then a default per
// family. It has no local addresses, prefetches nothing and has nothing to
// keep current.
type StaticRouter struct {
	Hosts    map[[16]byte]*link.Hop
	Default4 *link.Hop
	Default6 *link.Hop
}

// Route returns the hop of dst: its own entry, else the family's default.
func (r *StaticRouter) Route(dst *[16]byte) *link.Hop {
	if h, ok := r.Hosts[*dst]; ok {
		return h
	}
	if flow.IsV4Mapped(dst) {
		return r.Default4
	}
	return r.Default6
}

// LocalAddrs returns no address: the static table has no director.
func (r *StaticRouter) LocalAddrs() []netip.Addr { return nil }

// Prefetch does nothing: every hop is known already.
func (r *StaticRouter) Prefetch([][16]byte) {}

// Run returns at once: the table never changes by itself.
func (r *StaticRouter) Run(context.Context) {}
