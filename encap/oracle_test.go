package encap

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/flow"
)

// The oracle: refChecksum (helpers_test.go) is RFC 1071 written the slow,
// obvious way, one 16-bit word at a time. These tests compare the production
// arithmetic and every rewrite with it on random inputs.

func TestChecksumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(200))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%7 == 0 { // runs of 0xff and 0x00 exercise the carries
			for j := range b {
				b[j] = 0xff
			}
		}
		init := rng.Uint32N(1 << 20)
		if got, want := checksum(b, uint64(init)), refChecksum(b, init); got != want {
			t.Fatalf("checksum(% x, %#x) = %#04x, reference %#04x", b, init, got, want)
		}
		if len(b) >= 32 {
			l := rng.IntN(1 << 16)
			got := csumFold(pseudoSum(b[:16], b[16:32], 17, l))
			want := ^refChecksum(nil, refPseudo(b[:16], b[16:32], 17, l))
			if got != want {
				t.Fatalf("pseudoSum = %#04x, reference %#04x", got, want)
			}
		}
	}
}

// TestIncrementalMatchesFullRecompute changes random 16- and 32-bit words of a
// block with a valid checksum and checks that csumAdjust gives exactly what a
// full recompute gives (RFC 1624's equation 3 has no -0/+0 ambiguity).
func TestIncrementalMatchesFullRecompute(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	word := func() uint16 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return 0xffff
		}
		return uint16(rng.Uint32())
	}
	for i := 0; i < 50000; i++ {
		n := 4 * (2 + rng.IntN(20))
		b := make([]byte, n)
		for j := 0; j < n; j += 2 {
			put16(b[j:], word())
		}
		put16(b[2:], 0x4500) // never all zero, like every real header
		put16(b[0:], 0)
		put16(b[0:], refChecksum(b, 0))
		var d uint64
		for k := rng.IntN(4); k >= 0; k-- {
			o := 4 + 4*rng.IntN(n/4-1)
			if rng.IntN(2) == 0 {
				old, nw := be32(b[o:]), uint32(word())<<16|uint32(word())
				d += delta32(old, nw)
				put32(b[o:], nw)
			} else {
				old, nw := be16(b[o:]), word()
				d += delta16(old, nw)
				put16(b[o:], nw)
			}
		}
		got := csumAdjust(be16(b), d)
		put16(b[0:], 0)
		if want := refChecksum(b, 0); got != want {
			t.Fatalf("incremental %#04x, full recompute %#04x (block % x)", got, want, b)
		}
	}
}

// randFlow returns a random TCP or UDP flow of either family.
func randFlow(rng *rand.Rand) pktFlow {
	f := pktFlow{sport: uint16(rng.Uint32()), dport: uint16(rng.Uint32()), ttl: uint8(2 + rng.IntN(254)),
		tos: uint8(rng.Uint32()), id: uint16(rng.Uint32()), df: rng.IntN(2) == 0, seq: rng.Uint32(),
		udp: rng.IntN(2) == 0, syn: rng.IntN(2) == 0, ack: rng.IntN(2) == 0}
	if rng.IntN(2) == 0 {
		f.src, f.dst = randAddr(rng, 4), randAddr(rng, 4)
		f.udpNoSum = f.udp && rng.IntN(4) == 0
	} else {
		f.src, f.dst = randAddr(rng, 6), randAddr(rng, 6)
		f.flowLabel = rng.Uint32N(1 << 20)
		f.v6Ext = rng.IntN(3) == 0
	}
	switch rng.IntN(3) {
	case 0:
		f.vlans = []uint16{uint16(rng.IntN(4095))}
	case 1:
		f.vlans, f.qinq = []uint16{1, 2}, rng.IntN(2) == 0
	}
	f.payload = make([]byte, rng.IntN(300))
	for i := range f.payload {
		f.payload[i] = byte(rng.Uint32())
	}
	return f
}

func randAddr(rng *rand.Rand, family int) netip.Addr {
	if family == 4 {
		return netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
	}
	var a [16]byte
	for i := range a {
		a[i] = byte(rng.Uint32())
	}
	a[0] = 0x20
	return netip.AddrFrom16(a)
}

// oracleRewrite writes new bytes at offsets of a copy of frame, then
// recomputes every checksum in full: the slow, obvious version of a rewrite.
func oracleRewrite(frame []byte, writes map[int][]byte) []byte {
	c := append([]byte(nil), frame...)
	for off, b := range writes {
		copy(c[off:], b)
	}
	var p Packet
	Parse(c, &p)
	refFix(&p)
	return c
}

func addrBytes(p *Packet, a [16]byte) []byte {
	if p.Family == 4 {
		return a[12:]
	}
	return a[:]
}

func portBytes(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func TestRewritesMatchOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 3000; i++ {
		f := randFlow(rng)
		in := f.frame()
		var p Packet
		if k := Parse(in, &p); k != KindTCP && k != KindUDP {
			t.Fatalf("random flow parses as %v", k)
		}
		frame := append([]byte(nil), in...)
		Parse(frame, &p)
		fam := 4
		if p.Family == 6 {
			fam = 6
		}
		addr := a16(randAddr(rng, fam))
		if rng.IntN(8) == 0 {
			addr = p.Dst // unchanged address, maybe changed port
		}
		port := uint16(rng.Uint32())
		var want []byte
		switch op := rng.IntN(3); op {
		case 0:
			addrOff := ipv4Dst
			if fam == 6 {
				addrOff = ipv6Dst
			}
			want = oracleRewrite(in, map[int][]byte{p.L3 + addrOff: addrBytes(&p, addr), p.L4 + 2: portBytes(port)})
			DNAT(&p, addr, port)
		case 1:
			addrOff := ipv4Src
			if fam == 6 {
				addrOff = ipv6Src
			}
			want = oracleRewrite(in, map[int][]byte{p.L3 + addrOff: addrBytes(&p, addr), p.L4: portBytes(port)})
			SNAT(&p, addr, port)
		case 2:
			ttlOff := ipv4TTL
			if fam == 6 {
				ttlOff = ipv6HopLimit
			}
			want = oracleRewrite(in, map[int][]byte{p.L3 + ttlOff: {p.TTL - 1}})
			if !DecTTL(&p) {
				t.Fatal("DecTTL refused")
			}
		}
		if !bytes.Equal(frame, want) {
			t.Fatalf("flow %+v: incremental rewrite differs from full recompute:\n%s", f, hexDiff(frame, want))
		}
	}
}

// quoteL4 is the offset of the transport header in an IP packet built by
// pktFlow.ipPacket.
func quoteL4(q []byte) int {
	if q[0]>>4 == 4 {
		return int(q[0]&0x0f) * 4
	}
	if q[6] == flow.HopByHop {
		return 40 + 16
	}
	return 40
}

func TestICMPTranslationMatchesOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 2000; i++ {
		inner := randFlow(rng)
		inner.vlans, inner.udpNoSum = nil, false
		q := inner.ipPacket()
		minQ := quoteL4(q) + 8
		q = q[:minQ+rng.IntN(len(q)-minQ+1)]
		fam := 4
		if inner.v6() {
			fam = 6
		}
		outer := pktFlow{src: randAddr(rng, fam), dst: randAddr(rng, fam), ttl: 64, vlans: inner.vlans}
		typ := uint8(3)
		if fam == 6 {
			typ = uint8(1 + rng.IntN(4))
		} else if rng.IntN(2) == 0 {
			typ = 11
		}
		in := icmpErr{outer: outer, typ: typ, code: uint8(rng.IntN(5)), rest: rng.Uint32(), quote: q}.frame()
		frame := append([]byte(nil), in...)
		var p Packet
		if k := Parse(frame, &p); k != KindICMPError {
			t.Fatalf("random ICMP error parses as %v", k)
		}
		a := a16(randAddr(rng, fam))
		port := uint16(rng.Uint32())
		var o4, o6, i4, i6, po int // outer, inner address offsets; inner port offset
		toReal := rng.IntN(2) == 0
		if toReal {
			o4, o6, i4, i6, po = ipv4Dst, ipv6Dst, ipv4Src, ipv6Src, l4SrcPort
		} else {
			o4, o6, i4, i6, po = ipv4Src, ipv6Src, ipv4Dst, ipv6Dst, l4DstPort
		}
		oo, io := o4, i4
		if fam == 6 {
			oo, io = o6, i6
		}
		want := oracleRewrite(in, map[int][]byte{p.L3 + oo: addrBytes(&p, a), p.InnerL3 + io: addrBytes(&p, a),
			p.InnerL4 + po: portBytes(port)})
		if toReal {
			ICMPErrorToReal(&p, a, port)
		} else {
			ICMPErrorFromReal(&p, a, port)
		}
		if !bytes.Equal(frame, want) {
			t.Fatalf("ICMP translation differs from full recompute:\n%s", hexDiff(frame, want))
		}
		if !VerifyChecksums(&p) {
			t.Fatal("VerifyChecksums after translation = false")
		}
	}
}
