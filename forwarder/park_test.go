package forwarder

import (
	"sync/atomic"
	"testing"

	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// lateRouter knows the routes but resolves neighbours only when told to.
type lateRouter struct {
	*linktest.StaticRouter
	resolved atomic.Bool
	pending  link.Hop
}

func (r *lateRouter) Route(dst *[16]byte) *link.Hop {
	h := r.StaticRouter.Route(dst)
	if h == nil || r.resolved.Load() {
		return h
	}
	r.pending = *h
	r.pending.DstMAC = zeroMAC
	return &r.pending
}

// TestParkUntilResolved: a packet toward an unresolved neighbour is held, not
// dropped, and leaves once the neighbour is known; one that waits too long is
// counted as no-route.
func TestParkUntilResolved(t *testing.T) {
	mem := linktest.NewMemBackend(1)
	router := &lateRouter{StaticRouter: testRouter()}
	e, err := New(Options{Backend: mem, Router: router,
		Services: testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if out := run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: 1, dport: 80, syn: true})); len(out) != 0 {
		t.Fatalf("sent %d frames before the neighbour was resolved", len(out))
	}
	if e.workers[0].nParked != 1 {
		t.Fatalf("%d frames parked, want 1", e.workers[0].nParked)
	}
	router.resolved.Store(true)
	e.workers[0].poll()
	out := mem.Queue(0).Sent()
	if len(out) != 1 || out[0].Ifindex != ifInt {
		t.Fatalf("after resolution sent %v", out)
	}
	p := checkFrame(t, out[0].Data)
	if got := p.LinkLayer().LinkFlow().Dst().String(); got != mac(realMAC(1)).String() {
		t.Errorf("destination MAC %s", got)
	}

	router.resolved.Store(false)
	run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: 2, dport: 80, syn: true}))
	e.workers[0].parked[0].deadline = e.workers[0].parked[0].deadline.Add(-2 * parkTime)
	e.workers[0].poll()
	if e.workers[0].nParked != 0 || service.DropCount(e.Stats().Drops, "mem/0", "no-route") != 1 {
		t.Errorf("expired frame: parked %d, drops %v", e.workers[0].nParked, e.Stats().Drops)
	}
}
