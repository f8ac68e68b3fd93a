package encap

import (
	"bytes"
	"testing"
)

// partialize overwrites the transport checksum of a parsed TCP/UDP frame with
// the folded pseudo-header sum, as a sender with TX checksum offload leaves
// it (Linux: th->check = ~tcp_v4_check(len, saddr, daddr, 0)).
func partialize(t *testing.T, frame []byte) {
	t.Helper()
	var p Packet
	k := Parse(frame, &p)
	src, dst := p.addrBytes()
	seg := frame[p.L4 : p.L3+p.IPLen]
	switch k {
	case KindTCP:
		put16(seg[tcpCsum:], uint16(refFold(refPseudo(src, dst, 6, len(seg)))))
	case KindUDP:
		put16(seg[udpCsum:], uint16(refFold(refPseudo(src, dst, 17, len(seg)))))
	default:
		t.Fatalf("partialize: kind %v", k)
	}
}

func refFold(s uint32) uint32 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return s
}

func TestCompletePartialChecksum(t *testing.T) {
	udp4 := with(req4(), func(f *pktFlow) { f.udp = true })
	udp6 := with(req6(), func(f *pktFlow) { f.udp = true })
	tagged := with(req4(), func(f *pktFlow) { f.vlans = []uint16{10} })
	ext6 := with(req6(), func(f *pktFlow) { f.v6Ext = true })
	odd := with(udp4, func(f *pktFlow) { f.payload = []byte("odd") })
	cases := []struct {
		name string
		f    pktFlow
	}{
		{"tcp4", req4()}, {"tcp6", req6()}, {"udp4", udp4}, {"udp6", udp6},
		{"tcp4 vlan", tagged}, {"tcp6 ext headers", ext6}, {"udp4 odd length", odd},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := c.f.frame()
			frame := bytes.Clone(want)
			partialize(t, frame)
			var p Packet
			Parse(frame, &p)
			if VerifyChecksums(&p) {
				t.Fatal("a partial checksum verifies: the test frame is not partial")
			}
			if !CompletePartialChecksum(&p) {
				t.Fatal("partial checksum not recognised")
			}
			if !bytes.Equal(frame, want) {
				t.Fatalf("completed frame differs from the one built whole:\n%s", hexDiff(frame, want))
			}
			refCheck(t, &p)
			gopacketCheck(t, frame)

			// A complete checksum is left as it is.
			if CompletePartialChecksum(&p) {
				t.Error("a complete checksum was taken for a partial one")
			}
			if !bytes.Equal(frame, want) {
				t.Error("a complete checksum was changed")
			}
		})
	}
}

// TestPartialThenNAT: NAT's incremental update must start from a complete
// sum, so a partial frame completed and rewritten equals one built whole
// with the new addresses.
func TestPartialThenNAT(t *testing.T) {
	for _, f := range []pktFlow{req4(), with(req4(), func(f *pktFlow) { f.udp = true }), req6()} {
		frame := f.frame()
		partialize(t, frame)
		var p Packet
		Parse(frame, &p)
		CompletePartialChecksum(&p)
		r := real4
		if f.v6() {
			r = real6
		}
		DNAT(&p, a16(r), 8080)
		want := with(f, func(g *pktFlow) { g.dst, g.dport = r, 8080 }).frame()
		if !bytes.Equal(frame, want) {
			t.Errorf("%v: completed + DNAT differs from a frame built whole:\n%s", f.dst, hexDiff(frame, want))
		}
	}
}

func TestCompletePartialChecksumIgnores(t *testing.T) {
	nosum := with(req4(), func(f *pktFlow) { f.udp, f.udpNoSum = true, true }).frame()
	icmp := icmpErr{outer: pktFlow{src: client4, dst: vip4, ttl: 64}, typ: 3, code: 3,
		quote: pktFlow{src: vip4, dst: client4, sport: 80, dport: 40000, udp: true, ttl: 64}.ipPacket()}.frame()
	badLen := with(req4(), func(f *pktFlow) { f.udp = true }).frame()
	{
		var p Packet
		Parse(badLen, &p)
		put16(badLen[p.L4+udpLen:], 4) // shorter than a UDP header
	}
	for name, frame := range map[string][]byte{"udp4 without checksum": nosum, "icmp error": icmp, "udp bad length": badLen} {
		var p Packet
		Parse(frame, &p)
		before := bytes.Clone(frame)
		if CompletePartialChecksum(&p) || !bytes.Equal(before, frame) {
			t.Errorf("%s: changed", name)
		}
	}
}
