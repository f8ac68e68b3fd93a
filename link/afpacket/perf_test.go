package afpacket

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/internal/threadcpu"
	"github.com/xvs-project/xvs/link"
)

// udpSender returns a UDP socket in the client namespace connected to
// vip:5353; writing to it does not allocate.
func udpSender(t testing.TB, tp *topo) int {
	t.Helper()
	var fd int
	tp.in(t, tp.cli, func() {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: 5353, Addr: vipAddr}); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func openOn(t testing.TB, tp *topo, o Options) *Backend {
	t.Helper()
	var b *Backend
	tp.in(t, tp.dir, func() {
		var err error
		if b, err = Open([]string{"d0"}, o); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { b.Close() })
	rs := Rules{Rules: []Rule{{Proto: 17, Prefix: netip.PrefixFrom(netip.AddrFrom4(vipAddr), 32), PortLo: 5353, PortHi: 5353}}}
	if err := b.Steer(rs); err != nil {
		t.Fatal(err)
	}
	return b
}

// bounce turns received frames around: back out of d0 to the client's MAC.
func bounce(frames []link.Frame) {
	for i := range frames {
		d := frames[i].Data()
		var mac [6]byte
		copy(mac[:], d[0:6])
		copy(d[0:6], d[6:12])
		copy(d[6:12], mac[:])
	}
}

// TestRecvSendAllocs proves the per-frame path (Recv, Send, Release on real
// rings) does not allocate. The client writes with raw syscalls, which do
// not allocate either, so the count is the backend's alone.
func TestRecvSendAllocs(t *testing.T) {
	tp := newTopo(t)
	b := openOn(t, tp, Options{Sockets: 1})
	q := b.Queues()[0]
	fd := udpSender(t, tp)
	payload := make([]byte, 64)
	frames := make([]link.Frame, 64)
	const perRun = 16
	received := 0
	allocs := testing.AllocsPerRun(50, func() {
		for i := 0; i < perRun; i++ {
			_, _ = unix.Write(fd, payload)
		}
		got := 0
		for tries := 0; got < perRun && tries < 40; tries++ {
			n := q.Recv(frames)
			bounce(frames[:n])
			q.Send(frames[:n])
			q.Release(frames[:n])
			got += n
		}
		received += got
	})
	if received < 51*perRun*9/10 {
		t.Fatalf("only %d of %d frames received: the test measured nothing", received, 51*perRun)
	}
	if allocs != 0 {
		t.Fatalf("Recv+Send+Release: %v allocations per run of %d frames", allocs, perRun)
	}
	if s := b.Counters(); s.TxFrames == 0 {
		t.Fatalf("nothing sent: %+v", s)
	}
}

// BenchmarkRecvSend measures the backend's forwarding rate between the
// namespaces: the client blasts 64-byte UDP datagrams at vip:5353 from one
// goroutine, one worker per queue receives each frame, turns it around and
// sends it back out of d0. b.N is the number of frames received; pps is
// per second of wall time; worker-cpu-ns/frame is the workers' thread CPU
// time (syscalls and the softirq work they trigger included) per frame.
// Generator, veth and workers share the machine's cores. Variants: qdisc
// (default options), bypass (QdiscBypass), copy (the worker copies each
// frame into its own buffer and releases the ring at once, the alternative
// to in-place frames), rx-only (receive and release, no transmit), v3 and
// v3-rx-only (the same with the TPACKET_V3 block ring, Options.BlockRing).
func BenchmarkRecvSend(b *testing.B) {
	for _, bc := range []struct {
		name string
		o    Options
		copy bool // copy each frame into a worker buffer first
		rx   bool // receive and release only
	}{
		{"qdisc", Options{}, false, false},
		{"bypass", Options{QdiscBypass: true}, false, false},
		{"copy", Options{}, true, false},
		{"rx-only", Options{}, false, true},
		{"v3", Options{BlockRing: true}, false, false},
		{"v3-rx-only", Options{BlockRing: true}, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tp := newTopo(b)
			be := openOn(b, tp, bc.o)
			fd := udpSender(b, tp)
			var got, cpuNs atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for _, q := range be.Queues() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// CPU time of the worker's thread (its syscalls
					// included) is less sensitive to the other load on
					// the machine than the packet rate.
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					cpu0, _ := threadcpu.Now()
					defer func() { cpu1, _ := threadcpu.Now(); cpuNs.Add(cpu1 - cpu0) }()
					frames := make([]link.Frame, 64)
					// The alternative to handing out ring frames: one
					// worker-owned buffer per frame, with headroom.
					bufs := make([][2048]byte, 64)
					copies := make([]link.Frame, 64)
					for {
						select {
						case <-stop:
							return
						default:
						}
						n := q.Recv(frames)
						out := frames[:n]
						if bc.rx {
							q.Release(out)
							got.Add(int64(n))
							continue
						}
						if bc.copy {
							for i := range out {
								c := &copies[i]
								c.Buf, c.Off, c.Ifindex = bufs[i][:], 256, out[i].Ifindex
								c.Len = copy(c.Buf[256:], out[i].Data())
							}
							q.Release(out)
							out = copies[:n]
						}
						bounce(out)
						q.Send(out)
						if !bc.copy {
							q.Release(out)
						}
						got.Add(int64(n))
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := make([]byte, 64-14-20-8)
				for {
					select {
					case <-stop:
						return
					default:
					}
					for i := 0; i < 64; i++ {
						_, _ = unix.Write(fd, payload)
					}
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			deadline := start.Add(20 * time.Second)
			for got.Load() < int64(b.N) && time.Now().Before(deadline) {
				runtime.Gosched()
				time.Sleep(time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			close(stop)
			wg.Wait()
			s := be.Counters()
			b.ReportMetric(float64(got.Load())/el.Seconds(), "pps")
			b.ReportMetric(float64(cpuNs.Load())/float64(got.Load()), "worker-cpu-ns/frame")
			b.ReportMetric(float64(s.RxDrops), "ring-drops")
			b.ReportMetric(float64(s.TxFull), "tx-full")
			if s.TxKicks > 0 {
				b.ReportMetric(float64(s.TxFrames)/float64(s.TxKicks), "frames/kick")
			}
		})
	}
}
