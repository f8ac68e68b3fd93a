package forwarder

import (
	"testing"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
)

// countingRouter counts the Route calls per destination.
type countingRouter struct {
	*linktest.StaticRouter
	calls map[[16]byte]int
}

func (r *countingRouter) Route(dst *[16]byte) *link.Hop {
	r.calls[*dst]++
	return r.StaticRouter.Route(dst)
}

// TestHopCache: within a batch the router is asked once per resolved
// destination (more destinations than slots take turns), an unresolved
// hop is asked for by every packet, and a new batch asks again.
func TestHopCache(t *testing.T) {
	sr := testRouter()
	pending := flow.Addr16(realAddr(4, 9))
	sr.Hosts[pending] = &link.Hop{Ifindex: ifInt, MTU: mtu} // no MAC yet
	cr := &countingRouter{StaticRouter: sr, calls: map[[16]byte]int{}}
	p := &pipeline{router: cr}
	dsts := [][16]byte{}
	for i := 1; i <= hopSlots+2; i++ {
		dsts = append(dsts, flow.Addr16(realAddr(4, i)))
	}
	p.hops.beginBatch()
	for range 3 {
		for i := range dsts[:hopSlots] {
			if h := p.route(&dsts[i]); h != sr.Hosts[dsts[i]] {
				t.Fatalf("route %d: %v, want the router's %v", i, h, sr.Hosts[dsts[i]])
			}
		}
		p.route(&pending)
	}
	for i := range dsts[:hopSlots] {
		if n := cr.calls[dsts[i]]; n != 1 {
			t.Errorf("destination %d asked %d times in a batch, want 1", i, n)
		}
	}
	if n := cr.calls[pending]; n != 3 {
		t.Errorf("unresolved destination asked %d times, want 3", n)
	}
	// Two more destinations take the oldest slots; the rest stay.
	p.route(&dsts[hopSlots])
	p.route(&dsts[hopSlots+1])
	p.route(&dsts[hopSlots-1])
	if n := cr.calls[dsts[hopSlots-1]]; n != 1 {
		t.Errorf("kept destination asked %d times, want 1", n)
	}
	p.route(&dsts[0])
	if n := cr.calls[dsts[0]]; n != 2 {
		t.Errorf("replaced destination asked %d times, want 2", n)
	}
	p.hops.endBatch()
	p.route(&dsts[1])
	p.route(&dsts[1])
	if n := cr.calls[dsts[1]]; n != 3 {
		t.Errorf("outside a batch: destination asked %d times in all, want 3", n)
	}
}
