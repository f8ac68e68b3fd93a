package forwarder

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// mhService is a TCP service of n real servers under sched (with mh-port
// for mh, so one client's ports spread).
func mhService(sched string, m service.Method, n int) *service.Config {
	cfg := testService(service.TCP, vip4, 80, sched, m, 8080, n)
	if m != service.MethodNAT {
		for i := range cfg.Services[0].Reals {
			cfg.Services[0].Reals[i].Port = 80
		}
	}
	if sched == "mh" {
		cfg.Services[0].SchedFlags = []string{"mh-port"}
	}
	return cfg
}

func newECMPEngine(t testing.TB, cfg *service.Config, ecmp, sloppy bool) (*Engine, *linktest.MemBackend) {
	t.Helper()
	mem := linktest.NewMemBackend(1)
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 16, ECMP: ecmp, Sloppy: sloppy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, mem
}

// TestECMPAdoptsMidFlow: in ECMP mode a TCP segment of a connection the
// director never saw (no SYN, no RST) opens one for an mh service only;
// other schedulers keep IPVS's rule, which --sloppy alone widens.
func TestECMPAdoptsMidFlow(t *testing.T) {
	flags := []struct {
		name  string
		flags uint8
		ok    bool // adopted by an mh service in ECMP mode
	}{
		{"ack", flow.TCPAck, true},
		{"psh-ack", flow.TCPPsh | flow.TCPAck, true},
		{"fin-ack", flow.TCPFin | flow.TCPAck, true},
		{"rst", flow.TCPRst, false},
		{"rst-ack", flow.TCPRst | flow.TCPAck, false},
	}
	for _, c := range []struct {
		sched        string
		ecmp, sloppy bool
		adopts       bool
	}{
		{"mh", false, false, false},
		{"mh", true, false, true},
		{"rr", true, false, false},
		{"sh", true, false, false},
		{"rr", true, true, true},
		{"rr", false, true, true},
	} {
		for i, fl := range flags {
			e, mem := newECMPEngine(t, mhService(c.sched, service.MethodNAT, 3), c.ecmp, c.sloppy)
			frame := withTCPFlags(t, buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(2000 + i), dport: 80}), fl.flags)
			want := c.adopts && fl.ok
			if got := len(run(e, mem, frame)) == 1; got != want {
				t.Errorf("%s ecmp=%v sloppy=%v %s: forwarded %v, want %v", c.sched, c.ecmp, c.sloppy, fl.name, got, want)
			}
			if n := e.table.Len(); (n == 1) != want {
				t.Errorf("%s ecmp=%v sloppy=%v %s: %d entries", c.sched, c.ecmp, c.sloppy, fl.name, n)
			}
		}
	}
}

// TestECMPSameRealAcrossDirectors: two directors whose configurations list
// the same real servers in opposite orders build equal mh tables (equal
// digests), and a flow whose SYN went to one and whose later segments go to
// the other reaches the same real server on both.
func TestECMPSameRealAcrossDirectors(t *testing.T) {
	cfgA := mhService("mh", service.MethodNAT, 5)
	cfgB := mhService("mh", service.MethodNAT, 5)
	slices.Reverse(cfgB.Services[0].Reals)
	a, memA := newECMPEngine(t, cfgA, true, false)
	b, memB := newECMPEngine(t, cfgB, true, false)
	ta, tb := a.MaglevTables(), b.MaglevTables()
	if len(ta) != 1 || len(tb) != 1 || ta[0].Digest != tb[0].Digest || ta[0].Size != 4093 {
		t.Fatalf("tables %+v and %+v", ta, tb)
	}
	if !slices.Equal(ta[0].Flags, []string{"mh-port"}) || len(ta[0].Reals) != 5 {
		t.Fatalf("table %+v", ta[0])
	}
	sum := 0
	for _, r := range ta[0].Reals {
		sum += r.Slots
	}
	if sum != 4093 {
		t.Fatalf("slots sum to %d", sum)
	}
	seen := map[netip.Addr]bool{}
	for i := 0; i < 200; i++ {
		sport := uint16(3000 + i)
		syn := buildFrame(t, pkt{src: client4, dst: vip4, sport: sport, dport: 80, syn: true})
		ack := buildFrame(t, pkt{src: client4, dst: vip4, sport: sport, dport: 80, ack: true})
		first := dstOf(t, run(a, memA, syn))
		if got := dstOf(t, run(b, memB, ack)); got != first {
			t.Fatalf("port %d: %v on the first director, %v on the second", sport, first, got)
		}
		seen[first] = true
	}
	if len(seen) != 5 {
		t.Errorf("200 flows reached %d of 5 real servers", len(seen))
	}
	// A service of another scheduler has no table to list.
	rr, _ := newECMPEngine(t, mhService("rr", service.MethodNAT, 2), true, false)
	if got := rr.MaglevTables(); len(got) != 0 {
		t.Errorf("rr service listed: %+v", got)
	}
}

// TestECMPAdoptZeroAllocs: adopting mid-flow segments of connections never
// seen (each packet a new flow, scheduled by mh and inserted) allocates
// nothing, on DR as the ECMP deployment runs it.
func TestECMPAdoptZeroAllocs(t *testing.T) {
	const runs = 50
	mem := linktest.NewMemBackend(1)
	mem.Queue(0).OnSend = func(int, []byte) {}
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: mhService("mh", service.MethodDR, 3),
		TableCapacity: 1 << 16, ECMP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	w := e.workers[0]
	var inputs [][]byte
	for i := 0; i < (runs+1)*batchSize; i++ {
		src := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		inputs = append(inputs, buildFrame(t, pkt{src: src, dst: vip4, sport: uint16(1024 + i), dport: 80, ack: true}))
	}
	batch := make([]link.Frame, batchSize)
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, linktest.Headroom+2048)
	}
	next := 0
	step := func() {
		for i := range batch {
			copy(bufs[i][linktest.Headroom:], inputs[next])
			batch[i] = link.Frame{Buf: bufs[i], Off: linktest.Headroom, Len: len(inputs[next])}
			next++
		}
		w.processBatch(batch)
	}
	// A first pass grows the connection table to the size the measured
	// one needs (its growth is amortised, not per packet); the entries
	// then go and the same segments are adopted again.
	for next < len(inputs) {
		step()
	}
	expireAll(t, e)
	next = 0
	if a := testing.AllocsPerRun(runs, step); a != 0 {
		t.Errorf("%.1f allocations per batch of new mid-flow connections", a)
	}
	if n := e.table.Len(); n != next {
		t.Errorf("%d connections for %d adopted segments", n, next)
	}
	for _, d := range e.Stats().Drops {
		t.Errorf("drops %s/%s = %d", d.Queue, d.Reason, d.Count)
	}
}

// expireAll removes every entry of e's connection table.
func expireAll(t *testing.T, e *Engine) {
	t.Helper()
	var keys []conntrack.Key
	for cur, done := conntrack.Cursor(0), false; !done; {
		cur, done = e.table.Walk(cur, 4096, func(ci conntrack.ConnInfo) bool {
			keys = append(keys, ci.Key)
			return true
		})
	}
	for i := range keys {
		if c := e.table.Lookup(&keys[i]); c != nil {
			e.table.Expire(c)
		}
	}
	if n := e.table.Len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}
