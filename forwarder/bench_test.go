package forwarder

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/xvs-project/xvs/internal/threadcpu"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// pipelineBench holds n established flows of one service and a batch of
// frames the benchmark replays through the worker's processBatch.
type pipelineBench struct {
	e      *Engine
	w      *worker
	inputs [][]byte
	batch  []link.Frame
	bufs   [][]byte
	next   int
}

func newPipelineBench(tb testing.TB, m service.Method, flows int, opts ...func(*Options)) *pipelineBench {
	cfg := testService(service.UDP, vip4, 53, "rr", m, 0, 3)
	mem := linktest.NewMemBackend(1)
	mem.Queue(0).OnSend = func(int, []byte) {}
	o := Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: max(1<<20, 2*flows)}
	for _, f := range opts {
		f(&o)
	}
	e, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	pb := &pipelineBench{e: e, w: e.workers[0]}
	for i := 0; i < flows; i++ {
		// 65536 clients in 198.19.0.0/16, then the next 65536 flows on
		// the next source port each.
		src := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		sport := uint16(1024 + i%65536 + i/65536)
		pb.inputs = append(pb.inputs, buildFrame(tb, pkt{src: src, dst: vip4, sport: sport, dport: 53, udp: true, payload: 18}))
	}
	pb.batch = make([]link.Frame, batchSize)
	for range pb.batch {
		pb.bufs = append(pb.bufs, make([]byte, linktest.Headroom+2048))
	}
	pb.step(flows) // establish every flow once
	return pb
}

// step pushes n packets through the pipeline in batches.
func (pb *pipelineBench) step(n int) {
	for n > 0 {
		k := min(n, batchSize)
		for i := 0; i < k; i++ {
			in := pb.inputs[pb.next]
			pb.next = (pb.next + 1) % len(pb.inputs)
			copy(pb.bufs[i][linktest.Headroom:], in)
			pb.batch[i] = link.Frame{Buf: pb.bufs[i], Off: linktest.Headroom, Len: len(in)}
		}
		pb.w.processBatch(pb.batch[:k])
		n -= k
	}
}

// TestPipelineZeroAllocs proves the per-packet path allocates nothing once
// flows are established, for every method, with ECMP mode off and on (its
// adoption of mid-flow segments: TestECMPAdoptZeroAllocs).
func TestPipelineZeroAllocs(t *testing.T) {
	for _, ecmp := range []bool{false, true} {
		for _, m := range []service.Method{service.MethodNAT, service.MethodDR, service.MethodTUN} {
			pb := newPipelineBench(t, m, 1000, func(o *Options) { o.ECMP = ecmp })
			if a := testing.AllocsPerRun(100, func() { pb.step(batchSize) }); a != 0 {
				t.Errorf("%v ecmp=%v: %.1f allocations per batch", m, ecmp, a)
			}
			st := pb.e.Stats()
			if got := st.Services[0].Counters.InPkts; got < 1000 {
				t.Errorf("%v ecmp=%v: only %d packets counted", m, ecmp, got)
			}
			for _, d := range st.Drops {
				t.Errorf("%v ecmp=%v: drops %s/%s = %d", m, ecmp, d.Queue, d.Reason, d.Count)
			}
		}
	}
}

// BenchmarkPipeline reports ns per packet through parse, lookup and rewrite
// with 1k active flows (-benchtime in packets). cpu-ns/op is the thread's
// CPU time per packet, which time slices lost to other processes on a
// shared machine do not inflate.
func BenchmarkPipeline(b *testing.B) {
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR, service.MethodTUN} {
		b.Run(fmt.Sprintf("%v/1k-flows", m), func(b *testing.B) {
			newPipelineBench(b, m, 1000).run(b)
		})
		// A million established flows: the table no longer fits any
		// cache, and every lookup misses.
		b.Run(fmt.Sprintf("%v/1M-flows", m), func(b *testing.B) {
			newPipelineBench(b, m, 1_000_000).run(b)
		})
		// What completing partial checksums costs (every frame from a sender
		// with TX checksum offload): the same flows, each frame partial.
		b.Run(fmt.Sprintf("%v/1k-flows/partial-csum", m), func(b *testing.B) {
			pb := newPipelineBench(b, m, 1000)
			for _, in := range pb.inputs {
				partial(in)
			}
			pb.run(b)
		})
	}
}

// run replays b.N packets, timed, on a locked thread whose CPU time it
// reports as cpu-ns/op.
func (pb *pipelineBench) run(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, ok0 := threadcpu.Now()
	pb.step(b.N)
	cpu1, ok1 := threadcpu.Now()
	b.StopTimer()
	if ok0 && ok1 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkPipelineNewConns reports ns per new TCP connection: every packet
// is a SYN from another client, so each one is scheduled and inserted (with
// its NAT reply key).
func BenchmarkPipelineNewConns(b *testing.B) {
	cfg := testService(service.TCP, vip4, 80, "rr", service.MethodNAT, 8080, 3)
	benchNewConns(b, Options{Services: cfg}, buildFrame(b, pkt{src: client4, dst: vip4, sport: 1024, dport: 80, syn: true}))
}

// BenchmarkPipelineAdopt reports ns per adopted flow in ECMP mode: every
// packet is an ACK of a connection never seen, from another client, which
// an mh DR service schedules and inserts.
func BenchmarkPipelineAdopt(b *testing.B) {
	benchNewConns(b, Options{Services: mhService("mh", service.MethodDR, 3), ECMP: true},
		buildFrame(b, pkt{src: client4, dst: vip4, sport: 1024, dport: 80, ack: true}))
}

// benchNewConns sends frame from a new client address and port per packet
// through an engine of o (its backend, router and a table of 4 Mi entries
// added) and fails if any was dropped.
func benchNewConns(b *testing.B, o Options, frame []byte) {
	mem := linktest.NewMemBackend(1)
	mem.Queue(0).OnSend = func(int, []byte) {}
	o.Backend, o.Router, o.TableCapacity = mem, testRouter(), 1<<22
	e, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	w := e.workers[0]
	syn := frame
	batch := make([]link.Frame, batchSize)
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, linktest.Headroom+2048)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		k := min(b.N-n, batchSize)
		for i := 0; i < k; i++ {
			f := bufs[i][linktest.Headroom:]
			copy(f, syn)
			// A new client address and port per SYN. The pipeline drops a
			// bad IPv4 header checksum before any state, so that one is
			// written again; the TCP checksum is not checked on this path.
			id := uint32(n + i)
			f[14+12+1], f[14+12+2], f[14+12+3] = byte(id>>16), byte(id>>8), byte(id)
			f[14+20], f[14+21] = byte(id>>8)|0x80, byte(id)
			f[14+10], f[14+11] = 0, 0
			binary.BigEndian.PutUint16(f[14+10:], ^fold(sum16(f[14:14+20], 0)))
			batch[i] = link.Frame{Buf: bufs[i], Off: linktest.Headroom, Len: len(syn)}
		}
		w.processBatch(batch[:k])
		n += k
	}
	b.StopTimer()
	// Every packet must have made a connection: a benchmark of drops
	// measures nothing.
	for _, d := range e.Stats().Drops {
		b.Fatalf("%d packets dropped as %s/%s", d.Count, d.Queue, d.Reason)
	}
}

// TestPipelinePrefetchedBatches: with a table big enough for the worker to
// prefetch each batch (prefetch.go), established flows of every method are
// still forwarded without a drop or an allocation.
func TestPipelinePrefetchedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("builds thousands of frames per method")
	}
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR, service.MethodTUN} {
		flows := aheadMinHere() + 512
		pb := newPipelineBench(t, m, flows)
		if n := pb.e.table.Len(); n < pb.w.aheadMin {
			t.Fatalf("%v: %d connections, below the prefetch threshold", m, n)
		}
		before := pb.e.Stats().Services[0].Counters.InPkts
		if a := testing.AllocsPerRun(100, func() { pb.step(batchSize) }); a != 0 {
			t.Errorf("%v: %.1f allocations per batch", m, a)
		}
		st := pb.e.Stats()
		if got := st.Services[0].Counters.InPkts - before; got < 100*batchSize {
			t.Errorf("%v: %d packets counted over %d batches", m, got, 100)
		}
		if c := st.Services[0].Counters.Conns; c != uint64(flows) {
			t.Errorf("%v: %d connections, want one per flow", m, c)
		}
		for _, d := range st.Drops {
			t.Errorf("%v: drops %s/%s = %d", m, d.Queue, d.Reason, d.Count)
		}
	}
}
