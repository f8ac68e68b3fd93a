package forwarder

import (
	"context"
	"net/netip"

	"github.com/xvs-project/xvs/link"
)

// Router resolves next hops for the engine; NetlinkRouter is the kernel's,
// linktest.StaticRouter a fixed table for tests.
type Router interface {
	// Route is called per packet: it must not block, lock or allocate. It
	// returns nil when there is no route. When the route is known but the
	// neighbour is not resolved yet, it returns a Hop whose DstMAC is all
	// zero and starts resolving it in the background; the worker holds the
	// packet briefly, as the kernel queues packets for an incomplete
	// neighbour.
	Route(dst *[16]byte) *link.Hop
	// LocalAddrs returns the director's own addresses: replies to them
	// (health checks) are the kernel's, and the backend is told so with
	// every steering change (link.Rules.Local).
	LocalAddrs() []netip.Addr
	// Prefetch asks for the next hops of addrs (the real servers of a new
	// configuration) to be resolved now, so the first packet toward a new
	// real server is not dropped. It must not block.
	Prefetch(addrs [][16]byte)
	// Run keeps the router's view current until ctx is done; the engine
	// runs it in a goroutine of its own while it runs.
	Run(ctx context.Context)
}
