package forwarder

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// aheadEngine is a NAT TCP engine whose worker looks every batch up ahead
// (aheadMin 0) or never, and the batch runner for it.
type aheadEngine struct {
	e    *Engine
	mem  *linktest.MemBackend
	w    *worker
	bufs [][]byte
	rx   []link.Frame
}

func newAheadEngine(t *testing.T, ahead bool, reals int) *aheadEngine {
	t.Helper()
	e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, reals))
	ae := &aheadEngine{e: e, mem: mem, w: e.workers[0], rx: make([]link.Frame, batchSize)}
	ae.w.aheadMin = 1 << 62
	if ahead {
		ae.w.aheadMin = 0
	}
	for range batchSize {
		ae.bufs = append(ae.bufs, make([]byte, linktest.Headroom+2048))
	}
	return ae
}

// batch processes frames as one batch and returns what was sent.
func (ae *aheadEngine) batch(frames ...[]byte) []linktest.SentFrame {
	for i, f := range frames {
		copy(ae.bufs[i][linktest.Headroom:], f)
		ae.rx[i] = link.Frame{Buf: ae.bufs[i], Off: linktest.Headroom, Len: len(f)}
	}
	ae.w.processBatch(ae.rx[:len(frames)])
	return ae.mem.Queue(0).Sent()
}

// TestAheadSeesEarlierPackets: packets of one batch looked up ahead still
// find the connection an earlier packet of the same batch made: the client's
// ACK after its SYN (an ACK alone may not open a connection) and the real
// server's SYN-ACK (a reply without a connection has no service).
func TestAheadSeesEarlierPackets(t *testing.T) {
	ae := newAheadEngine(t, true, 1)
	client := netip.MustParseAddr("198.19.0.1")
	real := realAddr(4, 1)
	out := ae.batch(
		buildFrame(t, pkt{src: client, dst: vip4, sport: 40000, dport: 80, syn: true}),
		buildFrame(t, pkt{src: client, dst: vip4, sport: 40000, dport: 80, ack: true}),
		buildFrame(t, pkt{src: real, dst: client, sport: 8080, dport: 40000, syn: true, ack: true,
			srcMAC: realMAC(1), dstMAC: macDirInt}),
	)
	if len(out) != 3 {
		t.Errorf("sent %d frames, want 3", len(out))
	}
	st := ae.e.Stats()
	for _, d := range st.Drops {
		t.Errorf("drops %s/%s = %d", d.Queue, d.Reason, d.Count)
	}
	if c := st.Services[0].Counters.Conns; c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
	// Established now: a batch of both directions, looked up ahead, goes
	// through as well, and allocates nothing.
	fwd := buildFrame(t, pkt{src: client, dst: vip4, sport: 40000, dport: 80, ack: true})
	rep := buildFrame(t, pkt{src: real, dst: client, sport: 8080, dport: 40000, ack: true, srcMAC: realMAC(1), dstMAC: macDirInt})
	if out := ae.batch(fwd, rep, fwd, rep); len(out) != 4 {
		t.Errorf("established: sent %d frames, want 4", len(out))
	}
	ae.mem.Queue(0).OnSend = func(int, []byte) {}
	if a := testing.AllocsPerRun(100, func() { ae.batch(fwd, rep, fwd, rep) }); a != 0 {
		t.Errorf("%.1f allocations per batch", a)
	}
}

// TestAheadSameAsPerPacket replays random batches of a few flows (new
// connections, their packets both ways, closes, replies from the wrong real
// server, flows that restart) through two engines, one looking each batch up
// ahead and one looking up per packet, and wants the same frames out and
// the same figures.
func TestAheadSameAsPerPacket(t *testing.T) {
	a, b := newAheadEngine(t, true, 2), newAheadEngine(t, false, 2)
	r := rand.New(rand.NewPCG(14, 1))
	client := netip.MustParseAddr("198.19.0.1")
	var frames [][]byte
	for round := range 300 {
		frames = frames[:0]
		for range 1 + r.IntN(batchSize) {
			port := uint16(40000 + r.IntN(6))
			var p pkt
			switch r.IntN(6) {
			case 0:
				p = pkt{src: client, dst: vip4, sport: port, dport: 80, syn: true}
			case 1, 2:
				p = pkt{src: client, dst: vip4, sport: port, dport: 80, ack: true, payload: r.IntN(100)}
			case 3:
				p = pkt{src: client, dst: vip4, sport: port, dport: 80, fin: true, ack: true}
			default:
				i := 1 + r.IntN(2)
				p = pkt{src: realAddr(4, i), dst: client, sport: 8080, dport: port, ack: true,
					syn: r.IntN(3) == 0, fin: r.IntN(4) == 0, srcMAC: realMAC(i), dstMAC: macDirInt}
			}
			frames = append(frames, buildFrame(t, p))
		}
		outA, outB := a.batch(frames...), b.batch(frames...)
		if len(outA) != len(outB) {
			t.Fatalf("round %d: ahead sent %d frames, per packet %d", round, len(outA), len(outB))
		}
		for i := range outA {
			if outA[i].Ifindex != outB[i].Ifindex || !bytes.Equal(outA[i].Data, outB[i].Data) {
				t.Fatalf("round %d: frame %d differs", round, i)
			}
		}
	}
	sa, sb := a.e.Stats(), b.e.Stats()
	if len(sa.Drops) != len(sb.Drops) {
		t.Fatalf("drops ahead %v, per packet %v", sa.Drops, sb.Drops)
	}
	for i := range sa.Drops {
		if sa.Drops[i] != sb.Drops[i] {
			t.Errorf("drop %v ahead, %v per packet", sa.Drops[i], sb.Drops[i])
		}
	}
	if ca, cb := sa.Services[0].Counters, sb.Services[0].Counters; ca != cb {
		t.Errorf("counters ahead %+v, per packet %+v", ca, cb)
	}
	if sa.Services[0].Counters.Conns < 10 {
		t.Errorf("only %d connections made", sa.Services[0].Counters.Conns)
	}
}

// TestAheadMinFor: the threshold follows the L2 cache (half of it, at a
// NAT connection's footprint), with 1 MB where the size is unknown.
func TestAheadMinFor(t *testing.T) {
	for _, tc := range []struct{ l2, want int }{
		{1 << 20, 2259},  // this machine's 1 MB: 10 k flows are looked up ahead, 1 k are not
		{0, 2259},        // unknown
		{-1, 2259},       // nonsense
		{256 << 10, 564}, // older Intel cores
		{2 << 20, 4519},  // newer ones
		{100, 1},         // never 0: an empty table is not looked up ahead
	} {
		if got := aheadMinFor(tc.l2); got != tc.want {
			t.Errorf("aheadMinFor(%d) = %d, want %d", tc.l2, got, tc.want)
		}
	}
	if n := aheadMinHere(); n < 1 || n > 1<<22 {
		t.Errorf("aheadMinHere() = %d", n)
	}
}
