package forwarder

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// fragmentFrame splits a whole IPv4 or IPv6 frame (Ethernet, no VLAN, IPv6
// without extension headers) into fragments whose IP packets are at most mtu
// bytes, as a sender's kernel does: IPv4 clears DF and uses encap's
// fragmenter; IPv6 inserts a Fragment header after the fixed header.
func fragmentFrame(t testing.TB, frame []byte, mtu int, id uint32) [][]byte {
	t.Helper()
	frame = slices.Clone(frame)
	var out [][]byte
	if binary.BigEndian.Uint16(frame[12:]) == 0x0800 {
		ip := frame[14:]
		binary.BigEndian.PutUint16(ip[4:], uint16(id))
		binary.BigEndian.PutUint16(ip[6:], 0) // clear DF
		ipv4HeaderChecksum(ip)
		for start := 0; ; {
			buf := make([]byte, 2048)
			n, next := encap.FragmentIPv4(buf, frame, 14, mtu, start)
			if n == 0 {
				t.Fatal("FragmentIPv4 refused the packet")
			}
			out = append(out, buf[:n])
			if next == 0 {
				return out
			}
			start = next
		}
	}
	ip := frame[14:]
	payload := ip[40:]
	nh := ip[6]
	chunk := (mtu - 48) &^ 7
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		f := append([]byte(nil), frame[:14+40]...)
		f[14+6] = 44
		binary.BigEndian.PutUint16(f[14+4:], uint16(8+end-off))
		fo := uint16(off)
		if end < len(payload) {
			fo |= 1
		}
		f = append(f, nh, 0, byte(fo>>8), byte(fo), byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
		out = append(out, append(f, payload[off:end]...))
	}
	return out
}

func ipv4HeaderChecksum(ip []byte) {
	ihl := int(ip[0]&0xf) * 4
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(ip[:ihl], 0)))
}

// reassemble checks every fragment's own header (IPv4 header checksum, one
// datagram ID, source and destination) and rebuilds the whole frame from
// them, in any order, as a receiving kernel would; it fails on gaps or
// overlaps.
func reassemble(t testing.TB, frames [][]byte) []byte {
	t.Helper()
	type piece struct {
		off  int
		more bool
		data []byte
	}
	var pieces []piece
	var head []byte // L2 + IP header (+ IPv6 unfragmentable part) of the first fragment
	var v6nh byte
	var ident []byte
	for i, f := range frames {
		ip := f[14:]
		var p piece
		var id []byte
		switch ip[0] >> 4 {
		case 4:
			ihl := int(ip[0]&0xf) * 4
			if fold(sum16(ip[:ihl], 0)) != 0xffff {
				t.Errorf("fragment %d: bad IPv4 header checksum", i)
			}
			fo := binary.BigEndian.Uint16(ip[6:])
			p = piece{off: int(fo&0x1fff) * 8, more: fo&0x2000 != 0, data: ip[ihl:binary.BigEndian.Uint16(ip[2:])]}
			id = append(id, ip[4:6]...)
			id = append(id, ip[12:20]...)
			if p.off == 0 {
				head = slices.Clone(f[:14+ihl])
			}
		case 6:
			if ip[6] != 44 {
				t.Fatalf("fragment %d: next header %d, want a Fragment header", i, ip[6])
			}
			fh := ip[40:48]
			fo := binary.BigEndian.Uint16(fh[2:])
			p = piece{off: int(fo &^ 7), more: fo&1 != 0, data: ip[48 : 40+int(binary.BigEndian.Uint16(ip[4:]))]}
			id = append(id, fh[4:8]...)
			id = append(id, ip[8:40]...)
			if p.off == 0 {
				head = slices.Clone(f[:14+40])
				v6nh = fh[0]
			}
		default:
			t.Fatalf("fragment %d: not IP", i)
		}
		if ident == nil {
			ident = id
		} else if !bytes.Equal(ident, id) {
			t.Fatalf("fragment %d: another datagram (id/addresses differ)", i)
		}
		pieces = append(pieces, p)
	}
	if head == nil {
		t.Fatal("no first fragment")
	}
	slices.SortFunc(pieces, func(a, b piece) int { return a.off - b.off })
	var payload []byte
	for i, p := range pieces {
		if p.off != len(payload) {
			t.Fatalf("gap or overlap at %d (have %d bytes)", p.off, len(payload))
		}
		if p.more != (i < len(pieces)-1) {
			t.Fatalf("fragment at %d: more=%v", p.off, p.more)
		}
		payload = append(payload, p.data...)
	}
	whole := append(head, payload...)
	ip := whole[14:]
	if ip[0]>>4 == 4 {
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		binary.BigEndian.PutUint16(ip[6:], 0)
		ipv4HeaderChecksum(ip)
	} else {
		ip[6] = v6nh
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ip)-40))
	}
	return whole
}

// stripOuter removes the IPIP header of a tunnelled frame after checking
// that it goes to real and its checksum.
func stripOuter(t testing.TB, f []byte, real netip.Addr) []byte {
	t.Helper()
	ip := f[14:]
	if ip[0]>>4 != 4 || ip[9] != 4 {
		t.Fatalf("not IPIP: version %d proto %d", ip[0]>>4, ip[9])
	}
	if fold(sum16(ip[:20], 0)) != 0xffff {
		t.Error("bad outer header checksum")
	}
	if got := netip.AddrFrom4([4]byte(ip[16:20])); got != real {
		t.Errorf("outer destination %v, want %v", got, real)
	}
	return append(slices.Clone(f[:14]), ip[20:]...)
}

func sentData(s []linktest.SentFrame) [][]byte {
	var out [][]byte
	for _, f := range s {
		out = append(out, f.Data)
	}
	return out
}

// TestFragmentsForwarded sends 4000-byte datagrams (UDP, and TCP segments
// carrying as much) in 1500-byte fragments, in order and with the last
// fragment first, through every method and both families, and checks that
// every fragment reaches the real server of its first fragment and that
// the datagram, reassembled, is intact with every checksum valid.
func TestFragmentsForwarded(t *testing.T) {
	type row struct {
		name     string
		fam      int
		udp      bool
		method   service.Method
		reversed bool
	}
	var rows []row
	for _, fam := range []int{4, 6} {
		for _, udp := range []bool{true, false} {
			for _, m := range []service.Method{service.MethodNAT, service.MethodDR, service.MethodTUN} {
				if m == service.MethodTUN && fam == 6 {
					continue // IPv6 fragments + 40 bytes exceed the MTU: too-big, see TestFragmentTUN6TooBig
				}
				for _, rev := range []bool{false, true} {
					name := m.String() + "/v" + string(rune('0'+fam)) + map[bool]string{true: "/udp", false: "/tcp"}[udp] +
						map[bool]string{true: "/last-first", false: "/in-order"}[rev]
					rows = append(rows, row{name, fam, udp, m, rev})
				}
			}
		}
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			vip, client := vip4, client4
			if r.fam == 6 {
				vip, client = vip6, client6
			}
			proto := service.TCP
			if r.udp {
				proto = service.UDP
			}
			rport := uint16(0)
			if r.method == service.MethodNAT {
				rport = 5353
			}
			e, mem := newTestEngine(t, testService(proto, vip, 9000, "rr", r.method, rport, 3))
			fragMTU := 1500
			if r.method == service.MethodTUN {
				fragMTU = 1400 // leaves room for the outer header
			}
			reals := map[netip.Addr]int{}
			for d := 0; d < 3; d++ {
				sport := uint16(40000 + d)
				whole := buildFrame(t, pkt{src: client, dst: vip, sport: sport, dport: 9000, udp: r.udp, syn: !r.udp, payload: 4000})
				frags := fragmentFrame(t, whole, fragMTU, uint32(0x1234+d))
				if len(frags) != 3 {
					t.Fatalf("%d fragments, want 3", len(frags))
				}
				if r.reversed {
					slices.Reverse(frags)
				}
				out := run(e, mem, frags...)
				if len(out) != len(frags) {
					t.Fatalf("datagram %d: sent %d frames, want %d; drops %v", d, len(out), len(frags), e.Stats().Drops)
				}
				var got [][]byte
				var real netip.Addr
				for i, o := range out {
					if o.Ifindex != ifInt {
						t.Errorf("frame %d left on if %d", i, o.Ifindex)
					}
					mac := [6]byte(o.Data[0:6])
					if i == 0 {
						real = realByMAC(t, mac, r.fam)
					} else if realByMAC(t, mac, r.fam) != real {
						t.Fatalf("fragment %d went to another real server", i)
					}
					data := o.Data
					if r.method == service.MethodTUN {
						data = stripOuter(t, data, real)
					}
					got = append(got, data)
				}
				reals[real]++
				re := reassemble(t, got)
				p := checkFrame(t, re)
				want := slices.Clone(whole)
				wantDst, wantPort := vip, uint16(9000)
				if r.method == service.MethodNAT {
					wantDst, wantPort = real, rport
				}
				src, dst := p.NetworkLayer().NetworkFlow().Endpoints()
				if a := netip.MustParseAddr(dst.String()); a != wantDst {
					t.Errorf("destination %v, want %v", a, wantDst)
				}
				if a := netip.MustParseAddr(src.String()); a != client {
					t.Errorf("source %v, want the client", a)
				}
				_, dport := p.TransportLayer().TransportFlow().Endpoints()
				if binary.BigEndian.Uint16(dport.Raw()) != wantPort {
					t.Errorf("destination port %v, want %d", dport, wantPort)
				}
				if app := p.ApplicationLayer(); app == nil || !bytes.Equal(app.Payload(), payloadOf(t, want)) {
					t.Error("payload changed")
				}
				checkTTL(t, p, 63)
			}
			if len(reals) != 3 {
				t.Errorf("3 datagrams went to %d real servers, want 3 (rr)", len(reals))
			}
			for _, d := range e.Stats().Drops {
				t.Errorf("drop %s/%s = %d", d.Queue, d.Reason, d.Count)
			}
		})
	}
}

func payloadOf(t testing.TB, frame []byte) []byte {
	return checkFrame(t, frame).ApplicationLayer().Payload()
}

func realByMAC(t testing.TB, mac [6]byte, fam int) netip.Addr {
	t.Helper()
	for i := 1; i <= 8; i++ {
		if realMAC(i) == mac {
			return realAddr(fam, i)
		}
	}
	t.Fatalf("frame to unknown MAC %x", mac)
	return netip.Addr{}
}

// TestFragmentNATReply: a real server's fragmented reply on NAT leaves as
// from VIP:port, every fragment with its source rewritten, and the
// reassembled datagram's checksum is valid.
func TestFragmentNATReply(t *testing.T) {
	for _, fam := range []int{4, 6} {
		for _, udp := range []bool{true, false} {
			t.Run("v"+string(rune('0'+fam))+map[bool]string{true: "/udp", false: "/tcp"}[udp], func(t *testing.T) {
				vip, client := vip4, client4
				if fam == 6 {
					vip, client = vip6, client6
				}
				proto := service.TCP
				if udp {
					proto = service.UDP
				}
				e, mem := newTestEngine(t, testService(proto, vip, 9000, "rr", service.MethodNAT, 5353, 1))
				out := run(e, mem, buildFrame(t, pkt{src: client, dst: vip, sport: 40000, dport: 9000, udp: udp, syn: !udp, payload: 10}))
				if len(out) != 1 {
					t.Fatalf("request: sent %d", len(out))
				}
				real := realAddr(fam, 1)
				reply := buildFrame(t, pkt{src: real, dst: client, sport: 5353, dport: 40000, udp: udp, syn: !udp, ack: !udp,
					payload: 4000, srcMAC: realMAC(1), dstMAC: macDirInt})
				frags := fragmentFrame(t, reply, 1500, 0xbeef)
				slices.Reverse(frags[1:]) // first, last, middle
				out = run(e, mem, frags...)
				if len(out) != len(frags) {
					t.Fatalf("reply: sent %d frames, want %d; drops %v", len(out), len(frags), e.Stats().Drops)
				}
				for i, o := range out {
					if o.Ifindex != ifExt || [6]byte(o.Data[0:6]) != macClient {
						t.Errorf("reply fragment %d: if %d MAC %x", i, o.Ifindex, o.Data[0:6])
					}
				}
				p := checkFrame(t, reassemble(t, sentData(out)))
				src, _ := p.NetworkLayer().NetworkFlow().Endpoints()
				if a := netip.MustParseAddr(src.String()); a != vip {
					t.Errorf("reply source %v, want the VIP", a)
				}
				sport, _ := p.TransportLayer().TransportFlow().Endpoints()
				if binary.BigEndian.Uint16(sport.Raw()) != 9000 {
					t.Errorf("reply source port %v, want 9000", sport)
				}
				if !bytes.Equal(p.ApplicationLayer().Payload(), payloadOf(t, reply)) {
					t.Error("reply payload changed")
				}
			})
		}
	}
}

// TestFragmentTUN6TooBig: an IPv6 fragment that no longer fits once
// encapsulated gets "packet too big" like a whole packet.
func TestFragmentTUN6TooBig(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip6, 9000, "rr", service.MethodTUN, 0, 1))
	frags := fragmentFrame(t, buildFrame(t, pkt{src: client6, dst: vip6, sport: 1, dport: 9000, udp: true, payload: 4000}), 1500, 7)
	out := run(e, mem, frags[0])
	if len(out) != 1 || out[0].Ifindex != ifExt {
		t.Fatalf("sent %v, want one answer to the client", out)
	}
	p := checkFrame(t, out[0].Data)
	if icmp, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); !ok || icmp.TypeCode.Type() != layers.ICMPv6TypePacketTooBig {
		t.Fatalf("answer is not packet-too-big: %v", p)
	}
}

// TestFragmentHoldTimeout: later fragments whose first fragment never comes
// are held, then dropped and counted after fragHoldTime; a full hold is
// counted too; fragments of a dropped first fragment are dropped at once.
func TestFragmentHoldTimeout(t *testing.T) {
	var now int64
	mem := linktest.NewMemBackend(1)
	e, err := New(Options{Backend: mem, Router: testRouter(), TableCapacity: 1 << 10,
		Services: testService(service.UDP, vip4, 9000, "rr", service.MethodDR, 0, 1), Clock: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	drops := func(r DropReason) uint64 { return service.DropCount(e.Stats().Drops, "mem/0", r.String()) }
	var later [][]byte
	for d := 0; d < fragHoldSlots+5; d++ {
		frags := fragmentFrame(t, buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(1000 + d), dport: 9000, udp: true, payload: 2000}), 1500, uint32(d))
		later = append(later, frags[1])
	}
	if out := run(e, mem, later...); len(out) != 0 {
		t.Fatalf("sent %d frames before any first fragment", len(out))
	}
	if got := drops(DropFragFull); got != 5 {
		t.Errorf("frag-hold-full = %d, want 5", got)
	}
	now += fragHoldTime - 1
	e.workers[0].poll()
	if got := drops(DropFragWait); got != 0 {
		t.Errorf("frag-timeout before the hold time = %d", got)
	}
	now += fragSweepTime // expiry is checked every fragSweepTime
	e.workers[0].poll()
	if got := drops(DropFragWait); got != fragHoldSlots {
		t.Errorf("frag-timeout = %d, want %d", got, fragHoldSlots)
	}
	if n := e.workers[0].p.frag.nHeld; n != 0 {
		t.Errorf("%d fragments still held", n)
	}

	// A first fragment to a port without a service is dropped; its later
	// fragment follows it without waiting in a slot.
	frags := fragmentFrame(t, buildFrame(t, pkt{src: client4, dst: vip4, sport: 9, dport: 54, udp: true, payload: 2000}), 1500, 99)
	run(e, mem, frags...)
	if got := drops(DropFragFirst); got != 1 {
		t.Errorf("frag-first-dropped = %d, want 1", got)
	}
}

// TestFragmentTiny: a first fragment that cuts the TCP header short is
// dropped and counted, not matched.
func TestFragmentTiny(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.TCP, vip4, 80, "rr", service.MethodDR, 0, 1))
	whole := buildFrame(t, pkt{src: client4, dst: vip4, sport: 1, dport: 80, syn: true, payload: 100})
	frags := fragmentFrame(t, whole, 28, 5) // 8 payload bytes per fragment
	run(e, mem, frags[0])
	if got := service.DropCount(e.Stats().Drops, "mem/0", DropFragment.String()); got != 1 {
		t.Errorf("fragment drops = %d, want 1", got)
	}
}

// fragBench is a worker with 16 datagrams of three fragments each, fed last
// fragment first (held, then released) or in order.
type fragBench struct {
	e      *Engine
	w      *worker
	inputs [][]byte
	batch  []link.Frame
	bufs   [][]byte
}

func newFragBench(tb testing.TB, m service.Method, reversed bool) *fragBench {
	cfg := testService(service.UDP, vip4, 9000, "rr", m, 0, 3)
	mem := linktest.NewMemBackend(1)
	mem.Queue(0).OnSend = func(int, []byte) {}
	e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 16})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	fb := &fragBench{e: e, w: e.workers[0]}
	for d := 0; d < 16; d++ {
		frags := fragmentFrame(tb, buildFrame(tb, pkt{src: client4, dst: vip4, sport: uint16(2000 + d), dport: 9000, udp: true, payload: 3000}), 1400, uint32(d))
		if reversed {
			frags = []([]byte){frags[2], frags[0], frags[1]}
		}
		fb.inputs = append(fb.inputs, frags...)
	}
	fb.batch = make([]link.Frame, len(fb.inputs))
	for range fb.inputs {
		fb.bufs = append(fb.bufs, make([]byte, linktest.Headroom+2048))
	}
	fb.step()
	return fb
}

// step pushes every input once through processBatch and the release.
func (fb *fragBench) step() {
	for i, in := range fb.inputs {
		copy(fb.bufs[i][linktest.Headroom:], in)
		fb.batch[i] = link.Frame{Buf: fb.bufs[i], Off: linktest.Headroom, Len: len(in)}
	}
	fb.w.processBatch(fb.batch)
	fb.w.fragments()
}

// BenchmarkFragments reports ns per fragment (first fragments looked up in
// the connection table, later ones matched in the fragment table) in order
// and with the last fragment first (held and released).
func BenchmarkFragments(b *testing.B) {
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR} {
		for _, rev := range []bool{false, true} {
			name := m.String() + map[bool]string{false: "/in-order", true: "/last-first"}[rev]
			b.Run(name, func(b *testing.B) {
				fb := newFragBench(b, m, rev)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					fb.step()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(fb.inputs)), "ns/frag")
			})
		}
	}
}

// TestFragmentZeroAllocs: the fragment path (first fragment scheduled,
// later fragments matched, an out-of-order fragment held and released)
// allocates nothing once the worker's table exists.
func TestFragmentZeroAllocs(t *testing.T) {
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR, service.MethodTUN} {
		fb := newFragBench(t, m, true)
		if a := testing.AllocsPerRun(50, fb.step); a != 0 {
			t.Errorf("%v: %.1f allocations per run", m, a)
		}
		st := fb.e.Stats()
		for _, d := range st.Drops {
			t.Errorf("%v: drops %s/%s = %d", m, d.Queue, d.Reason, d.Count)
		}
		if st.Services[0].Counters.InPkts < 51*uint64(len(fb.inputs)) {
			t.Errorf("%v: only %d packets counted", m, st.Services[0].Counters.InPkts)
		}
	}
}

// TestFragmentRealGone: later fragments of a datagram whose real server was
// removed are dropped as no-service, not sent to a stale index.
func TestFragmentRealGone(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 9000, "rr", service.MethodDR, 0, 1))
	frags := fragmentFrame(t, buildFrame(t, pkt{src: client4, dst: vip4, sport: 7, dport: 9000, udp: true, payload: 4000}), 1500, 3)
	if out := run(e, mem, frags[0]); len(out) != 1 {
		t.Fatal("first fragment not forwarded")
	}
	if err := e.Apply(func(c *service.Config) error { c.Services = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	run(e, mem, frags[1])
	if got := service.DropCount(e.Stats().Drops, "mem/0", DropNoService.String()); got != 1 {
		t.Errorf("no-service = %d, want 1", got)
	}
}

// FuzzFragmentMatcher drives one worker's fragment matcher with the
// fragments of three datagrams (two IPv4, one IPv6) in any order, with clock
// steps, interleaved with an arbitrary frame (as it is, and pasted into a
// later fragment of a datagram). Invariants: no panic; every fragment of a
// datagram that is sent goes to the real server its other fragments went to
// (until an arbitrary frame could have been a new first fragment); and
// nothing is lost silently: once the clock has passed the hold time, every
// received frame was either sent or counted as a drop.
func FuzzFragmentMatcher(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8}, []byte{})
	f.Add([]byte{2, 1, 0, 0xff, 5, 4, 3, 8, 7, 6}, []byte{0x45, 0, 0, 40})
	f.Add([]byte{8, 0xfe, 0, 0xfd, 9, 0x81, 0x40, 9, 9}, make([]byte, 80))
	f.Fuzz(func(t *testing.T, ops, raw []byte) {
		var now int64
		mem := linktest.NewMemBackend(1)
		var sent [][]byte
		mem.Queue(0).OnSend = func(_ int, b []byte) { sent = append(sent, slices.Clone(b)) }
		cfg := testService(service.UDP, vip4, 9000, "rr", service.MethodDR, 0, 3)
		cfg.Services = append(cfg.Services, testService(service.UDP, vip6, 9000, "rr", service.MethodDR, 0, 3).Services...)
		e, err := New(Options{Backend: mem, Router: testRouter(), Services: cfg, TableCapacity: 1 << 10,
			Clock: func() int64 { return now }})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		w := e.workers[0]
		var frags, later [][]byte
		for d := 0; d < 3; d++ {
			src, dst := client4, vip4
			if d == 2 {
				src, dst = client6, vip6
			}
			fs := fragmentFrame(t, buildFrame(t, pkt{src: src, dst: dst, sport: uint16(100 + d), dport: 9000, udp: true, payload: 3500}), 1300, uint32(d))
			frags = append(frags, fs...)
			later = append(later, fs[1:]...)
		}
		realOf := map[string][6]byte{}
		check := func() {
			for _, s := range sent {
				var p encap.Packet
				var fr encap.Frag
				if encap.Parse(s, &p) != encap.KindFragment || encap.ParseFragment(&p, &fr) == encap.FragBad {
					continue
				}
				key := string(p.Src[:]) + string(p.Dst[:]) + string(binary.BigEndian.AppendUint32([]byte{fr.Proto}, fr.ID))
				mac := [6]byte(s[:6])
				if m, ok := realOf[key]; ok && m != mac {
					t.Fatalf("fragments of one datagram went to %x and %x", m, mac)
				}
				realOf[key] = mac
			}
		}
		buf := make([]byte, linktest.Headroom+2048)
		nSent := 0
		feed := func(b []byte) {
			n := copy(buf[linktest.Headroom:], b)
			w.processBatch([]link.Frame{{Buf: buf, Off: linktest.Headroom, Len: n}})
			w.fragments()
			check()
			nSent += len(sent)
			sent = sent[:0]
		}
		received := 0
		for _, op := range ops {
			switch {
			case int(op) < len(frags):
				feed(frags[op])
			case op >= 0xf0:
				now += int64(op-0xef) * int64(20*time.Millisecond)
				w.fragments()
				check()
				nSent += len(sent)
				sent = sent[:0]
				continue
			case op&0x80 == 0:
				var p encap.Packet
				var fr encap.Frag
				if encap.Parse(raw, &p) == encap.KindFragment && encap.ParseFragment(&p, &fr) == encap.FragFirst {
					clear(realOf) // it may start a datagram anew
				}
				feed(raw)
			default:
				g := slices.Clone(later[int(op)%len(later)])
				copy(g[min(54, len(g)):], raw) // past the IPv6 headers: payload only
				feed(g)
			}
			received++
		}
		now += fragHoldTime + fragSweepTime
		w.fragments()
		check()
		nSent += len(sent)
		if w.p.frag.nHeld != 0 {
			t.Fatalf("%d fragments still held after the hold time", w.p.frag.nHeld)
		}
		var drops uint64
		for _, d := range e.Stats().Drops {
			drops += d.Count
		}
		if got := uint64(nSent) + drops; got != uint64(received) {
			t.Fatalf("received %d, sent %d + dropped %d", received, nSent, drops)
		}
	})
}
