package afpacket

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var (
	vip4   = netip.MustParseAddr("198.18.0.100")
	vip6   = netip.MustParseAddr("2001:db8::100")
	real4  = netip.MustParseAddr("198.18.1.2")
	real6  = netip.MustParseAddr("2001:db8:1::2")
	cli4   = netip.MustParseAddr("198.18.0.2")
	cli6   = netip.MustParseAddr("2001:db8::2")
	local4 = netip.MustParseAddr("198.18.1.1")
	local6 = netip.MustParseAddr("2001:db8:1::1")
)

// sampleRules is a small but complete steering set: single services, a
// port range, every port, a service group prefix, NAT real servers (one as
// an IPv4-mapped prefix) and director addresses.
func sampleRules() Rules {
	return Rules{
		Rules: []Rule{
			{Proto: 6, Prefix: netip.PrefixFrom(vip4, 32), PortLo: 80, PortHi: 80},
			{Proto: 17, Prefix: netip.PrefixFrom(vip4, 32), PortLo: 53, PortHi: 53},
			{Proto: 6, Prefix: netip.PrefixFrom(vip4, 32), PortLo: 8000, PortHi: 8099},
			{Proto: 17, Prefix: netip.MustParsePrefix("198.18.4.0/23"), PortLo: 0, PortHi: 0},
			{Proto: 6, Prefix: netip.PrefixFrom(vip6, 128), PortLo: 443, PortHi: 443},
			{Proto: 6, Prefix: netip.MustParsePrefix("2001:db8:2::/61"), PortLo: 1, PortHi: 1024},
			{Proto: 6, Prefix: netip.PrefixFrom(real4, 32), PortLo: 8080, PortHi: 8080, Reply: true},
			{Proto: 6, Prefix: netip.MustParsePrefix("::ffff:198.18.1.3/128"), PortLo: 80, PortHi: 80, Reply: true},
			{Proto: 17, Prefix: netip.PrefixFrom(real6, 128), PortLo: 53, PortHi: 53, Reply: true},
		},
		Local: []netip.Addr{local4, local6, netip.MustParseAddr("::ffff:198.18.1.9")},
	}
}

// verdicts runs frame through the filter and the nftables rules compiled
// from rs.
func verdicts(t testing.TB, rs Rules, frame []byte) (filter bool, nft bool) {
	t.Helper()
	c, err := compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := buildFilter(c)
	if err != nil {
		t.Fatal(err)
	}
	v, err := runCBPF(prog, frame)
	if err != nil {
		t.Fatal(err)
	}
	nv, err := runNFT(tableRules(c), frame)
	if err != nil {
		t.Fatal(err)
	}
	return v != 0, nv == nftDropped
}

func TestFilterTable(t *testing.T) {
	rs := sampleRules()
	a := netip.MustParseAddr
	tests := []struct {
		name  string
		p     pkt
		steer bool
	}{
		{"tcp to service port", pkt{src: cli4, dst: vip4, proto: 6, sport: 40000, dport: 80}, true},
		{"tcp to other port of the vip", pkt{src: cli4, dst: vip4, proto: 6, sport: 40000, dport: 81}, false},
		{"udp to service port", pkt{src: cli4, dst: vip4, proto: 17, sport: 40000, dport: 53}, true},
		{"udp to a tcp port", pkt{src: cli4, dst: vip4, proto: 17, sport: 40000, dport: 80}, false},
		{"port range low end", pkt{src: cli4, dst: vip4, proto: 6, sport: 1, dport: 8000}, true},
		{"port range high end", pkt{src: cli4, dst: vip4, proto: 6, sport: 1, dport: 8099}, true},
		{"past the port range", pkt{src: cli4, dst: vip4, proto: 6, sport: 1, dport: 8100}, false},
		{"service group any port", pkt{src: cli4, dst: a("198.18.5.77"), proto: 17, sport: 1, dport: 9}, true},
		{"service group port zero", pkt{src: cli4, dst: a("198.18.4.1"), proto: 17, sport: 1, dport: 0}, true},
		{"outside the group prefix", pkt{src: cli4, dst: a("198.18.6.1"), proto: 17, sport: 1, dport: 9}, false},
		{"group is udp only", pkt{src: cli4, dst: a("198.18.5.77"), proto: 6, sport: 1, dport: 9}, false},
		{"ipv4 options", pkt{src: cli4, dst: vip4, proto: 6, sport: 40000, dport: 80, options: 8}, true},
		{"ipv4 options, other port", pkt{src: cli4, dst: vip4, proto: 6, sport: 80, dport: 81, options: 8}, false},
		{"tcp6 to service", pkt{src: cli6, dst: vip6, proto: 6, sport: 40000, dport: 443}, true},
		{"tcp6 wrong port", pkt{src: cli6, dst: vip6, proto: 6, sport: 443, dport: 444}, false},
		{"tcp6 in /61 group", pkt{src: cli6, dst: a("2001:db8:2:7::9"), proto: 6, sport: 5, dport: 1024}, true},
		{"tcp6 just outside /61", pkt{src: cli6, dst: a("2001:db8:2:8::9"), proto: 6, sport: 5, dport: 22}, false},
		{"nat reply", pkt{src: real4, dst: cli4, proto: 6, sport: 8080, dport: 40000}, true},
		{"nat reply to the director", pkt{src: real4, dst: local4, proto: 6, sport: 8080, dport: 40000}, false},
		{"nat reply from mapped prefix", pkt{src: a("198.18.1.3"), dst: cli4, proto: 6, sport: 80, dport: 4}, true},
		{"nat reply to mapped local", pkt{src: a("198.18.1.3"), dst: a("198.18.1.9"), proto: 6, sport: 80, dport: 4}, false},
		{"real server, other port", pkt{src: real4, dst: cli4, proto: 6, sport: 8081, dport: 40000}, false},
		{"udp6 nat reply", pkt{src: real6, dst: cli6, proto: 17, sport: 53, dport: 999}, true},
		{"udp6 nat reply to director", pkt{src: real6, dst: local6, proto: 17, sport: 53, dport: 999}, false},
		{"icmp unreachable to vip", pkt{src: a("198.18.9.9"), dst: vip4, proto: 1, icmpType: 3}, true},
		{"icmp time exceeded to group", pkt{src: a("198.18.9.9"), dst: a("198.18.4.200"), proto: 1, icmpType: 11}, true},
		{"icmp parameter problem from real", pkt{src: real4, dst: cli4, proto: 1, icmpType: 12}, true},
		{"icmp error from real to director", pkt{src: real4, dst: local4, proto: 1, icmpType: 3}, false},
		{"icmp echo to vip", pkt{src: cli4, dst: vip4, proto: 1, icmpType: 8}, false},
		{"icmp echo reply from real", pkt{src: real4, dst: cli4, proto: 1, icmpType: 0}, false},
		{"icmpv6 packet too big to vip", pkt{src: cli6, dst: vip6, proto: 58, icmpType: 2}, true},
		{"icmpv6 param problem from real", pkt{src: real6, dst: cli6, proto: 58, icmpType: 4}, true},
		{"icmpv6 echo to vip", pkt{src: cli6, dst: vip6, proto: 58, icmpType: 128}, false},
		{"neighbour solicitation to vip", pkt{src: cli6, dst: vip6, proto: 58, icmpType: 135}, false},
		{"first fragment to vip, any port", pkt{src: cli4, dst: vip4, proto: 17, sport: 1, dport: 9999, frag: 0x2000}, true},
		{"later fragment to vip", pkt{src: cli4, dst: vip4, proto: 6, frag: 0x00b9}, true},
		{"fragment from real to director", pkt{src: real4, dst: local4, proto: 17, frag: 0x0001}, false},
		{"fragment from real", pkt{src: real4, dst: cli4, proto: 17, frag: 0x0001}, true},
		{"icmp fragment to vip", pkt{src: cli4, dst: vip4, proto: 1, icmpType: 3, frag: 0x2000}, false},
		{"tcp6 hop-by-hop", pkt{src: cli6, dst: vip6, proto: 6, sport: 1, dport: 443, ext6: []uint8{0}}, true},
		{"tcp6 destination options", pkt{src: cli6, dst: vip6, proto: 6, sport: 1, dport: 443, ext6: []uint8{60}}, true},
		{"tcp6 options, wrong port", pkt{src: cli6, dst: vip6, proto: 6, sport: 443, dport: 444, ext6: []uint8{60}}, false},
		{"tcp6 five headers", pkt{src: cli6, dst: vip6, proto: 6, sport: 1, dport: 443, ext6: []uint8{0, 60, 43, 44, 60}}, true},
		{"udp6 reply six headers", pkt{src: real6, dst: cli6, proto: 17, sport: 53, dport: 9, ext6: []uint8{0, 60, 60, 60, 60, 60}}, true},
		{"tcp6 routing done", pkt{src: cli6, dst: vip6, proto: 6, sport: 1, dport: 443, ext6: []uint8{43}}, true},
		{"tcp6 routing segments left", pkt{src: cli6, dst: vip6, proto: 6, sport: 1, dport: 443, ext6: []uint8{43}, segLeft: 2}, false},
		{"tcp6 atomic fragment", pkt{src: cli6, dst: vip6, proto: 6, sport: 1, dport: 443, ext6: []uint8{44}}, true},
		{"tcp6 behind AH", pkt{src: cli6, dst: vip6, proto: 6, sport: 1, dport: 443, ext6: []uint8{51}}, false},
		{"udp6 first fragment to vip", pkt{src: cli6, dst: vip6, proto: 17, sport: 1, dport: 9, ext6: []uint8{44}, frag6: 1}, true},
		{"udp6 later fragment to vip", pkt{src: cli6, dst: vip6, proto: 17, ext6: []uint8{0, 44}, frag6: 1448}, true},
		{"tcp6 fragment from real", pkt{src: real6, dst: cli6, proto: 6, ext6: []uint8{44}, frag6: 8 | 1}, true},
		{"tcp6 fragment from real to director", pkt{src: real6, dst: local6, proto: 6, ext6: []uint8{44}, frag6: 8}, false},
		{"icmpv6 fragment to vip", pkt{src: cli6, dst: vip6, proto: 58, icmpType: 1, ext6: []uint8{44}, frag6: 1}, false},
		{"icmpv6 error behind options", pkt{src: cli6, dst: vip6, proto: 58, icmpType: 1, ext6: []uint8{60}}, true},
		{"gre to vip", pkt{src: cli4, dst: vip4, proto: 47}, false},
		{"unrelated tcp", pkt{src: cli4, dst: a("198.18.0.1"), proto: 6, sport: 22, dport: 22}, false},
		{"arp", pkt{src: cli4, dst: vip4, proto: 6, dport: 80, etherType: 0x0806}, false},
		{"ipv4 address in an ipv6 frame", pkt{src: cli6, dst: netip.AddrFrom16(vip4.As16()), proto: 6, dport: 80}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := tt.p.frame()
			if ref := steerRef(frame, rs); ref != tt.steer {
				t.Fatalf("reference says %v, table says %v: fix the table or the reference", ref, tt.steer)
			}
			f, n := verdicts(t, rs, frame)
			if f != tt.steer {
				t.Errorf("filter accepts = %v, want %v", f, tt.steer)
			}
			if n != tt.steer {
				t.Errorf("nftables drops = %v, want %v", n, tt.steer)
			}
		})
	}
}

func TestFilterMalformed(t *testing.T) {
	rs := sampleRules()
	good := pkt{src: cli4, dst: vip4, proto: 6, sport: 40000, dport: 80}.frame()
	tests := []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"version 5", func(b []byte) []byte { b[14] = 0x55; return b }},
		{"ihl 4", func(b []byte) []byte { b[14] = 0x44; return b }},
		{"ihl past the end", func(b []byte) []byte { b[14] = 0x4f; return b[:14+40] }},
		{"no ports", func(b []byte) []byte { return b[:14+20+3] }},
		{"no ip header", func(b []byte) []byte { return b[:14+19] }},
		{"no ethertype", func(b []byte) []byte { return b[:13] }},
		{"ipv6 version 4", func([]byte) []byte {
			b := pkt{src: cli6, dst: vip6, proto: 6, dport: 443}.frame()
			b[14] = 0x40
			return b
		}},
		{"ipv6 without ports", func([]byte) []byte {
			return pkt{src: cli6, dst: vip6, proto: 6, dport: 443}.frame()[:14+40+2]
		}},
		{"icmpv6 without type", func([]byte) []byte {
			return pkt{src: cli6, dst: vip6, proto: 58, icmpType: 1}.frame()[:14+40]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := tt.mod(append([]byte(nil), good...))
			if steerRef(frame, rs) {
				t.Fatal("reference steers a malformed frame")
			}
			if f, _ := verdicts(t, rs, frame); f {
				t.Error("filter accepts a malformed frame")
			}
		})
	}
}

func TestFilterRejectsOutgoing(t *testing.T) {
	prog, err := CompileFilter(sampleRules())
	if err != nil {
		t.Fatal(err)
	}
	frame := pkt{src: cli4, dst: vip4, proto: 6, sport: 40000, dport: 80}.frame()
	for typ, want := range map[uint8]bool{unix.PACKET_HOST: true, 3 /* PACKET_OTHERHOST */ : true, unix.PACKET_OUTGOING: false} {
		v, err := runCBPFType(prog, frame, typ)
		if err != nil {
			t.Fatal(err)
		}
		if (v != 0) != want {
			t.Errorf("pkt_type %d: accepted %v, want %v", typ, v != 0, want)
		}
	}
}

func TestFilterEmptyAcceptsNothing(t *testing.T) {
	for _, rs := range []Rules{{}, {Local: []netip.Addr{local4}}} {
		prog, err := CompileFilter(rs)
		if err != nil {
			t.Fatal(err)
		}
		if len(prog) != 1 || prog[0].Code != opRetK || prog[0].K != 0 {
			t.Fatalf("empty rule set: program %v, want a single ret #0", prog)
		}
		c, _ := compile(rs)
		for _, p := range []pkt{{src: cli4, dst: vip4, proto: 6, dport: 80}, {src: cli6, dst: vip6, proto: 58, icmpType: 1}} {
			if v, _ := runNFT(tableRules(c), p.frame()); v != nftAccepted {
				t.Errorf("empty rule set drops %v", p)
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	p := netip.PrefixFrom(vip4, 32)
	tests := []struct {
		rs   Rules
		want error
	}{
		{Rules{Rules: []Rule{{Proto: 1, Prefix: p}}}, ErrInvalidRule},
		{Rules{Rules: []Rule{{Proto: 6}}}, ErrInvalidRule},
		{Rules{Rules: []Rule{{Proto: 6, Prefix: p, PortLo: 9, PortHi: 8}}}, ErrInvalidRule},
		{Rules{Local: []netip.Addr{{}}}, ErrInvalidAddress},
		{Rules{Rules: manyRules(2000)}, ErrTooManyRules},
	}
	for _, tt := range tests {
		if _, err := CompileFilter(tt.rs); !errors.Is(err, tt.want) {
			t.Errorf("CompileFilter(%v) = %v, want %v", tt.rs, err, tt.want)
		}
	}
}

// manyRules returns n services on distinct addresses, each with two ports,
// half of them in IPv6.
func manyRules(n int) []Rule {
	var out []Rule
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		if i%2 == 1 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		}
		out = append(out,
			Rule{Proto: 6, Prefix: netip.PrefixFrom(a, a.BitLen()), PortLo: 80, PortHi: 80},
			Rule{Proto: 17, Prefix: netip.PrefixFrom(a, a.BitLen()), PortLo: 1000, PortHi: 1999})
	}
	return out
}

// TestFilterLarge checks far jumps: with hundreds of services the targets
// are beyond a conditional jump's 255-instruction reach and need
// trampolines.
func TestFilterLarge(t *testing.T) {
	rs := Rules{Rules: manyRules(150)}
	prog, err := CompileFilter(rs)
	if err != nil {
		t.Fatal(err)
	}
	ja := 0
	for _, in := range prog {
		if in.Code == opJa {
			ja++
		}
	}
	t.Logf("%d rules: %d instructions, %d unconditional jumps", len(rs.Rules), len(prog), ja)
	if len(prog) < 600 {
		t.Fatalf("program of %d instructions is too short to test far jumps", len(prog))
	}
	for i, r := range rs.Rules {
		a := r.Prefix.Addr()
		for _, port := range []uint16{r.PortLo, r.PortHi, r.PortHi + 1} {
			p := pkt{src: cli4, dst: a, proto: r.Proto, sport: 7, dport: port}
			if a.Is6() {
				p.src = cli6
			}
			frame := p.frame()
			v, err := runCBPF(prog, frame)
			if err != nil {
				t.Fatal(err)
			}
			if want := steerRef(frame, rs); (v != 0) != want {
				t.Fatalf("rule %d port %d: filter %v, reference %v", i, port, v != 0, want)
			}
		}
	}
}

// TestAssemblerFarJumps builds programs whose jumps straddle the 255 limit
// and checks every path with the interpreter.
func TestAssemblerFarJumps(t *testing.T) {
	for _, gap := range []int{0, 1, 253, 254, 255, 256, 257, 600} {
		a := newAsm()
		a.emit(opLdAbsB, 0)
		a.jump(opJeqK, 1, "far", "")
		a.jump(opJeqK, 2, "", "far")
		for i := 0; i < gap; i++ {
			a.emit(opAndK, 0xff) // no-op filler
		}
		a.emit(opRetK, 7)
		a.label("far")
		a.emit(opRetK, 9)
		prog, err := a.assemble()
		if err != nil {
			t.Fatal(err)
		}
		for in, want := range map[byte]uint32{1: 9, 2: 7, 3: 9} {
			got, err := runCBPF(prog, []byte{in})
			if err != nil || got != want {
				t.Errorf("gap %d, input %d: got %d (%v), want %d", gap, in, got, err, want)
			}
		}
	}
	a := newAsm()
	a.label("back")
	a.emit(opRetK, 0)
	a.ja("back")
	if _, err := a.assemble(); err == nil {
		t.Error("backward jump assembled")
	}
}

// TestFilterKernelAccepts attaches generated programs to a UDP socket: the
// kernel's checker (sk_chk_filter) must take them. No privilege needed.
func TestFilterKernelAccepts(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no UDP socket: %v", err)
	}
	defer unix.Close(fd)
	for _, rs := range []Rules{{}, sampleRules(), {Rules: manyRules(150)}, randomRules(rand.New(rand.NewPCG(1, 2)))} {
		prog, err := CompileFilter(rs)
		if err != nil {
			t.Fatal(err)
		}
		if err := attachFilter(fd, prog); err != nil {
			t.Errorf("%d-instruction program refused: %v", len(prog), err)
		}
	}
}

// randomRules returns a random rule set over a small address space, so
// random packets hit it often.
func randomRules(r *rand.Rand) Rules {
	var rs Rules
	for i := r.IntN(8); i >= 0; i-- {
		ru := Rule{Proto: []uint8{6, 17}[r.IntN(2)], Reply: r.IntN(3) == 0}
		a := randAddr(r, r.IntN(2) == 0)
		bits := a.BitLen()
		if r.IntN(3) == 0 {
			bits -= r.IntN(12)
		}
		ru.Prefix = netip.PrefixFrom(a, bits)
		if r.IntN(4) == 0 && ru.Prefix.Addr().Is4() && bits == 32 {
			ru.Prefix = netip.PrefixFrom(netip.AddrFrom16(a.As16()), 128) // mapped
		}
		switch r.IntN(3) {
		case 0:
		case 1:
			ru.PortLo = uint16(r.IntN(8))
			ru.PortHi = ru.PortLo
		default:
			ru.PortLo = uint16(r.IntN(8))
			ru.PortHi = ru.PortLo + uint16(r.IntN(4))
		}
		rs.Rules = append(rs.Rules, ru)
	}
	for i := r.IntN(3); i > 0; i-- {
		rs.Local = append(rs.Local, randAddr(r, r.IntN(2) == 0))
	}
	return rs
}

func randAddr(r *rand.Rand, v4 bool) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(2)), byte(r.IntN(4))})
	}
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(4))})
}

func randPkt(r *rand.Rand) pkt {
	v4 := r.IntN(2) == 0
	p := pkt{src: randAddr(r, v4), dst: randAddr(r, v4), sport: uint16(r.IntN(12)), dport: uint16(r.IntN(12))}
	if v4 {
		p.proto = []uint8{6, 17, 1, 47}[r.IntN(4)]
		if r.IntN(4) == 0 {
			p.frag = []uint16{0x2000, 0x0010, 0x4000, 0x2001}[r.IntN(4)]
		}
		if r.IntN(4) == 0 {
			p.options = 4 * r.IntN(4)
		}
		p.icmpType = []uint8{0, 3, 8, 11, 12, 13}[r.IntN(6)]
	} else {
		p.proto = []uint8{6, 17, 58, 0, 44}[r.IntN(5)]
		p.icmpType = uint8(r.IntN(6)) + []uint8{0, 126, 131}[r.IntN(3)]
		// Extension headers, at most maxExtHeaders: the kernel walks any
		// number, so more would be dropped by nftables and not steered
		// (see doc.go).
		if r.IntN(3) == 0 {
			for i := r.IntN(maxExtHeaders) + 1; i > 0; i-- {
				p.ext6 = append(p.ext6, []uint8{0, 60, 43, 44, 51}[r.IntN(5)])
			}
			p.segLeft = uint8(r.IntN(2))
			p.frag6 = []uint16{0, 1, 8, 9, 1448}[r.IntN(5)]
		}
	}
	return p
}

// TestFilterMatchesReference compares the filter and the nftables rules with
// the reference on random rule sets and packets. Any frame the filter
// accepts must be dropped by nftables and the other way round: otherwise
// the kernel would also answer a steered packet, or a dropped packet would
// reach nobody.
func TestFilterMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	n := 300
	if testing.Short() {
		n = 50
	}
	steered := 0
	for i := 0; i < n; i++ {
		rs := randomRules(r)
		c, err := compile(rs)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := buildFilter(c)
		if err != nil {
			t.Fatal(err)
		}
		nft := tableRules(c)
		for j := 0; j < 200; j++ {
			frame := randPkt(r).frame()
			want := steerRef(frame, rs)
			v, err := runCBPF(prog, frame)
			if err != nil {
				t.Fatal(err)
			}
			nv, err := runNFT(nft, frame)
			if err != nil {
				t.Fatal(err)
			}
			if (v != 0) != want || (nv == nftDropped) != want {
				t.Fatalf("rules %+v\nframe % x\nreference %v, filter %v, nftables drop %v", rs, frame, want, v != 0, nv == nftDropped)
			}
			if want {
				steered++
			}
		}
	}
	if steered < n*10 {
		t.Fatalf("only %d steered frames: the generator misses the rules", steered)
	}
}

func FuzzFilter(f *testing.F) {
	for _, p := range []pkt{
		{src: cli4, dst: vip4, proto: 6, sport: 40000, dport: 80},
		{src: real4, dst: cli4, proto: 6, sport: 8080, dport: 1},
		{src: cli6, dst: vip6, proto: 58, icmpType: 2},
		{src: cli4, dst: vip4, proto: 17, frag: 0x2000},
		{src: cli6, dst: vip6, proto: 6, sport: 1, dport: 443, ext6: []uint8{0, 60}},
		{src: cli6, dst: vip6, proto: 17, ext6: []uint8{44}, frag6: 8},
	} {
		f.Add(p.frame())
	}
	rs := sampleRules()
	c, err := compile(rs)
	if err != nil {
		f.Fatal(err)
	}
	prog, err := buildFilter(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		v, err := runCBPF(prog, frame)
		if err != nil {
			t.Fatal(err)
		}
		if want := steerRef(frame, rs); (v != 0) != want {
			t.Fatalf("frame % x: filter %v, reference %v", frame, v != 0, want)
		}
	})
}

func TestNftRulesText(t *testing.T) {
	c, err := compile(Rules{
		Rules: []Rule{
			{Proto: 6, Prefix: netip.PrefixFrom(vip4, 32), PortLo: 80, PortHi: 80},
			{Proto: 17, Prefix: netip.MustParsePrefix("198.18.4.0/23"), PortLo: 1000, PortHi: 2000},
			{Proto: 6, Prefix: netip.PrefixFrom(real4, 32), Reply: true},
		},
		Local: []netip.Addr{local4},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range nftRules(c) {
		if r.Chain == chainV4 || r.Chain == chainV4Addr {
			got = append(got, r.Chain+": "+r.String())
		}
	}
	want := []string{
		"v4: @nh,0,8 & 0xf0 != 0x40 return",
		"v4: @nh,0,8 & 0x0f < 0x05 return",
		"v4: @nh,48,16 & 0x3fff != 0x0000 @nh,72,8 == 0x06 goto v4addr",
		"v4: @nh,48,16 & 0x3fff != 0x0000 @nh,72,8 == 0x11 goto v4addr",
		"v4: @nh,48,16 & 0x3fff != 0x0000 return",
		"v4: @nh,72,8 == 0x01 @th,0,8 == 0x03 goto v4addr",
		"v4: @nh,72,8 == 0x01 @th,0,8 == 0x0b goto v4addr",
		"v4: @nh,72,8 == 0x01 @th,0,8 == 0x0c goto v4addr",
		"v4: @nh,72,8 == 0x06 @nh,128,32 == 0xc6120064 @th,16,16 == 0x0050 drop",
		"v4: @nh,72,8 == 0x11 @nh,128,24 & 0xfffffe == 0xc61204 @th,16,16 >= 0x03e8 @th,16,16 <= 0x07d0 drop",
		"v4: @nh,128,32 == 0xc6120101 return",
		"v4: @nh,72,8 == 0x06 @nh,96,32 == 0xc6120102 drop",
		"v4addr: @nh,128,32 == 0xc6120064 drop",
		"v4addr: @nh,128,24 & 0xfffffe == 0xc61204 drop",
		"v4addr: @nh,128,32 == 0xc6120101 return",
		"v4addr: @nh,96,32 == 0xc6120102 drop",
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("rules:\n%s\nwant:\n%s", g, w)
	}
}
