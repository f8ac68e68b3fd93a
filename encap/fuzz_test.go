package encap

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/xvs-project/xvs/flow"
)

// Fuzz targets. Seeds: every fixture frame (f.Add) plus the corpus committed
// under testdata/fuzz/<FuzzName>/, which `go test -run TestWriteFuzzCorpus
// -encap.writecorpus` regenerates. Run one with e.g.
// `go test -run XXX -fuzz FuzzParse -fuzztime 30s ./encap/`.

var writeCorpus = flag.Bool("encap.writecorpus", false, "rewrite the committed fuzz seed corpus under testdata/fuzz")

func seedFrames() [][]byte {
	var out [][]byte
	for _, row := range fixtures() {
		out = append(out, row.in)
	}
	return out
}

// FuzzParse: Parse never panics, never changes the frame, and every offset it
// reports lies inside the frame with the headers it promises; no rewrite
// panics on whatever Parse made of the bytes.
//
// Check never panics and finds no fault in a non-IP kind; VLAN strip and push
// keep the packet what a fresh parse of the resulting frame says.
func FuzzParse(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	for _, r := range checkRows() {
		f.Add(r.in)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := append([]byte(nil), data...)
		var p Packet
		k := Parse(data, &p)
		if !bytes.Equal(data, orig) {
			t.Fatal("Parse modified the frame")
		}
		if k >= numKinds || k != p.Kind() {
			t.Fatalf("kind %d", k)
		}
		checkInvariants(t, &p, k)
		if fault := Check(&p); fault >= numFaults || (!k.isIP() && fault != FaultNone) {
			t.Fatalf("Check = %v for kind %v", fault, k)
		}
		if !bytes.Equal(data, orig) {
			t.Fatal("Check modified the frame")
		}
		vlanFuzz(t, data, &p)

		// Nothing may panic on any parse result.
		buf := make([]byte, 64+len(data))
		copy(buf[64:], data)
		var q Packet
		Parse(buf[64:], &q)
		VerifyChecksums(&q)
		TooBig(make([]byte, 1500), &q, a16(director4), 1400)
		TooBig(make([]byte, 1500), &q, a16(director6), 1400)
		DNAT(&q, a16(real4), 1)
		SNAT(&q, a16(real6), 2)
		ICMPErrorToReal(&q, a16(real4), 3)
		ICMPErrorFromReal(&q, a16(vip6), 4)
		DecTTL(&q)
		SetMACs(&q, [6]byte{1}, [6]byte{2})
		NeedsTooBig(&q, Tunnel{}, 1500)
		PushTunnel(buf, 64, len(data), &q, Tunnel{}, a16(director4), a16(real4), 1)
		PopTunnel(buf, 0, len(buf), 0)
		PopTunnel(append([]byte(nil), data...), 0, len(data), 0)
		FragmentIPv4(make([]byte, 1500), data, q.L3, 576, 0)
	})
}

// vlanFuzz strips the tags of a copy of data and checks the packet against a
// fresh parse of the untagged frame, then pushes a tag back.
func vlanFuzz(t *testing.T, data []byte, parsed *Packet) {
	t.Helper()
	ids, n := VLANIDs(parsed)
	if n > maxVLANTags || (n > 0) != parsed.VLAN && parsed.L3 <= len(data) {
		t.Fatalf("VLANIDs n=%d for VLAN=%v", n, parsed.VLAN)
	}
	for i := 0; i < n; i++ {
		if ids[i] > vlanIDMask {
			t.Fatalf("VLAN ID %d", ids[i])
		}
	}
	buf := make([]byte, 8+len(data))
	copy(buf[8:], data)
	var p Packet
	k := Parse(buf[8:], &p)
	off, l := StripVLAN(buf, 8, len(data), &p)
	if k.isIP() && n > 0 {
		var q Packet
		if qk := Parse(buf[off:off+l], &q); qk != k || q.VLAN || q.L3 != p.L3 || q.L4 != p.L4 ||
			q.InnerL3 != p.InnerL3 || q.InnerL4 != p.InnerL4 || q.IPLen != p.IPLen {
			t.Fatalf("after StripVLAN: kind %v/%v, packet %+v, fresh %+v", qk, k, p, q)
		}
	}
	PushVLAN(buf, off, l, 1)
}

func checkInvariants(t *testing.T, p *Packet, k Kind) {
	t.Helper()
	n := len(p.Frame)
	if !k.isIP() {
		return
	}
	end := p.L3 + p.IPLen
	if p.L3 != 14 && p.L3 != 18 && p.L3 != 22 {
		t.Fatalf("L3 = %d", p.L3)
	}
	if p.VLAN != (p.L3 > 14) {
		t.Fatalf("VLAN %v with L3 %d", p.VLAN, p.L3)
	}
	switch p.Family {
	case 4:
		if p.IPLen < 20 || p.L4 < p.L3+20 || !flow.IsV4Mapped(&p.Src) || !flow.IsV4Mapped(&p.Dst) {
			t.Fatalf("ipv4: IPLen %d L4 %d", p.IPLen, p.L4)
		}
	case 6:
		if p.IPLen < 40 || p.L4 < p.L3+40 || !p.DF {
			t.Fatalf("ipv6: IPLen %d L4 %d", p.IPLen, p.L4)
		}
	default:
		t.Fatalf("family %d for %v", p.Family, k)
	}
	if end > n || p.L4 > end {
		t.Fatalf("L4 %d, IP end %d, frame %d", p.L4, end, n)
	}
	switch k {
	case KindTCP:
		if p.Proto != 6 || p.L4+int(p.Frame[p.L4+12]>>4)*4 > end || p.Frame[p.L4+12]>>4 < 5 {
			t.Fatal("tcp header outside the packet")
		}
	case KindUDP:
		if p.Proto != 17 || p.L4+8 > end {
			t.Fatal("udp header outside the packet")
		}
	case KindICMPError:
		if p.L4+8 > p.InnerL3 || p.InnerL3 >= p.InnerL4 || p.InnerL4+8 > end ||
			(p.Inner.Proto != 6 && p.Inner.Proto != 17) {
			t.Fatalf("icmp error: L4 %d inner %d/%d end %d", p.L4, p.InnerL3, p.InnerL4, end)
		}
	case KindICMPOther:
		if p.L4+8 > end {
			t.Fatal("icmp header outside the packet")
		}
	}
}

// natFuzz makes the parsed TCP/UDP frame valid (UDP length = payload, every
// checksum recomputed in full), applies DNAT or SNAT and compares the result
// byte for byte with the slow oracle: write the fields, recompute in full.
func natFuzz(t *testing.T, data, addr []byte, port uint16, dst bool) {
	frame := append([]byte(nil), data...)
	var p Packet
	k := Parse(frame, &p)
	if k != KindTCP && k != KindUDP {
		return
	}
	if k == KindUDP {
		put16(frame[p.L4+udpLen:], uint16(p.L3+p.IPLen-p.L4))
	}
	refFix(&p)
	in := append([]byte(nil), frame...)
	var a [16]byte
	copy(a[:], addr)
	if p.Family == 4 {
		a = flow.AddrFrom4([4]byte(a[12:]))
	} else if flow.IsV4Mapped(&a) {
		a[0] = 0x20
	}
	addrOff, portOff := ipv4Src, l4SrcPort
	if dst {
		addrOff, portOff = ipv4Dst, l4DstPort
	}
	if p.Family == 6 {
		addrOff += ipv6Src - ipv4Src
		if dst {
			addrOff = ipv6Dst
		}
	}
	want := oracleRewrite(in, map[int][]byte{p.L3 + addrOff: addrBytes(&p, a), p.L4 + portOff: portBytes(port)})
	if dst {
		DNAT(&p, a, port)
	} else {
		SNAT(&p, a, port)
	}
	if !bytes.Equal(frame, want) {
		t.Fatalf("incremental result differs from the full recompute:\n%s", hexDiff(frame, want))
	}
	if !VerifyChecksums(&p) {
		t.Fatal("VerifyChecksums false after the rewrite")
	}
	if k == KindUDP && p.Family == 6 && be16(frame[p.L4+udpCsum:]) == 0 {
		t.Fatal("IPv6 UDP checksum became 0")
	}
}

func FuzzDNAT(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s, a16(real6).Slice(), uint16(8080))
		f.Add(s, a16(real4).Slice(), uint16(0))
	}
	f.Fuzz(func(t *testing.T, data, addr []byte, port uint16) { natFuzz(t, data, addr, port, true) })
}

func FuzzSNAT(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s, a16(vip4).Slice(), uint16(80))
		f.Add(s, a16(vip6).Slice(), uint16(0xffff))
	}
	f.Fuzz(func(t *testing.T, data, addr []byte, port uint16) { natFuzz(t, data, addr, port, false) })
}

// FuzzPushTunnel: PushTunnel writes only buf[off-overhead : off+L3], leaves
// the inner packet intact, writes a correct outer header (and GUE/GRE header
// with correct checksums), and PopTunnel restores the original frame
// (without Ethernet padding) at the original offset. The tunnel comes from
// the inputs: type from extra's top bits (3: IPIP again), checksum and GUE
// port from id, so the committed corpus keeps its shape.
func FuzzPushTunnel(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s, uint8(0), uint16(7))
		f.Add(s, uint8(33), uint16(0xffff))
		f.Add(s, uint8(64+20), uint16(6080))
		f.Add(s, uint8(128+40), uint16(6081))
	}
	f.Fuzz(func(t *testing.T, data []byte, extra uint8, id uint16) {
		off := 19 + int(extra)%64 // sometimes too little headroom
		tun := Tunnel{Type: TunnelType(extra>>6) % 3, Port: id | 1, Csum: id&1 == 1}
		buf := make([]byte, off+len(data)+16)
		for i := range buf {
			buf[i] = byte(i*7 + 3)
		}
		copy(buf[off:], data)
		before := append([]byte(nil), buf...)
		var p Packet
		Parse(buf[off:off+len(data)], &p)
		src, dst := a16(director4), a16(real4)
		if p.Family == 6 {
			src, dst = a16(director6), a16(real6)
		}
		no, nn, ok := PushTunnel(buf, off, len(data), &p, tun, src, dst, id)
		if !ok {
			if !bytes.Equal(buf, before) {
				t.Fatal("PushTunnel refused but wrote")
			}
			return
		}
		h := TunnelOverhead(p.Family, tun)
		if !p.kind.isIP() || off < h || no != off-h || nn != p.L3+h+p.IPLen {
			t.Fatalf("PushTunnel = %d, %d for off %d kind %v", no, nn, off, p.kind)
		}
		for i := range buf {
			if (i < off-h || i >= off+p.L3) && buf[i] != before[i] {
				t.Fatalf("PushTunnel wrote byte %d outside [%d, %d)", i, off-h, off+p.L3)
			}
		}
		var o Packet
		k := Parse(buf[no:no+nn], &o)
		if o.Src != src || o.Dst != dst || o.TTL != p.TTL || o.IPLen != h+p.IPLen || o.L3 != p.L3 {
			t.Fatalf("outer header: kind %v %+v", k, o.view())
		}
		innerProto := uint8(flow.IPIP)
		if p.Family == 6 {
			innerProto = flow.IPv6
		}
		checkTunnelHeader(t, buf[no+o.L4:no+nn], &o, k, tun, innerProto)
		if p.Family == 4 && (o.DF != p.DF || be16(buf[no+o.L3+ipv4ID:]) != id) {
			t.Fatal("ipv4 outer: DF or ID wrong")
		}
		if p.Family == 6 && !bytes.Equal(buf[no+o.L3:no+o.L3+4], data[p.L3:p.L3+4]) {
			t.Fatal("ipv6 outer: traffic class or flow label wrong")
		}
		po, pn, ok := PopTunnel(buf, no, nn, tun.Port)
		if !ok || po != off || pn != p.L3+p.IPLen || !bytes.Equal(buf[po:po+pn], data[:pn]) {
			t.Fatalf("PopTunnel = %d, %d, %v: original not restored", po, pn, ok)
		}
	})
}

// checkTunnelHeader checks the outer packet o (parsed as kind k) and its
// payload b (from the tunnel header on) against tunnel tun: protocol, GUE
// and GRE fields, and their checksums, computed independently of
// writeTunnelHeader.
func checkTunnelHeader(t *testing.T, b []byte, o *Packet, k Kind, tun Tunnel, innerProto uint8) {
	t.Helper()
	switch tun.Type {
	case TunnelIPIP:
		if k != KindOtherL4 || o.Proto != innerProto || !VerifyChecksums(o) {
			t.Fatalf("ipip outer: kind %v proto %d", k, o.Proto)
		}
	case TunnelGUE:
		if k != KindUDP || o.DstPort != tun.Port || o.SrcPort < guePortMin || o.SrcPort >= guePortMax ||
			int(be16(b[4:])) != len(b) || !bytes.Equal(b[8:12], []byte{0, innerProto, 0, 0}) {
			t.Fatalf("gue: kind %v ports %d→%d header % x", k, o.SrcPort, o.DstPort, b[:12])
		}
		if c := be16(b[6:]); tun.Csum != (c != 0) || (tun.Csum && !VerifyChecksums(o)) {
			t.Fatalf("gue: udp checksum %#04x with csum %v", c, tun.Csum)
		}
		if o.Family == 4 && csumFold(csumAdd(o.Frame[o.L3:o.L4], 0)) != 0xffff {
			t.Fatal("gue: outer ipv4 header checksum")
		}
	case TunnelGRE:
		et := uint16(etherTypeIPv4)
		if innerProto == flow.IPv6 {
			et = etherTypeIPv6
		}
		flags := uint16(0)
		if tun.Csum {
			flags = greFlagCsum
			if refChecksum(b, 0) != 0 {
				t.Fatal("gre: checksum does not verify")
			}
		}
		if k != KindOtherL4 || o.Proto != flow.GRE || be16(b) != flags || be16(b[2:]) != et {
			t.Fatalf("gre: kind %v proto %d header % x", k, o.Proto, b[:4])
		}
	}
}

// FuzzICMPError: the translations never panic, change nothing unless the
// frame is a usable ICMP error, and on a valid one give exactly the oracle's
// bytes with every checksum valid.
func FuzzICMPError(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s, a16(real4).Slice(), uint16(8080), true)
		f.Add(s, a16(vip6).Slice(), uint16(80), false)
	}
	f.Fuzz(func(t *testing.T, data, addr []byte, port uint16, toReal bool) {
		frame := append([]byte(nil), data...)
		var p Packet
		var a [16]byte
		copy(a[:], addr)
		if Parse(frame, &p) != KindICMPError {
			ICMPErrorToReal(&p, a, port)
			ICMPErrorFromReal(&p, a, port)
			if !bytes.Equal(frame, data) {
				t.Fatal("translation changed a frame that is not an ICMP error")
			}
			return
		}
		refFix(&p)
		in := append([]byte(nil), frame...)
		if p.Family == 4 {
			a = flow.AddrFrom4([4]byte(a[12:]))
		}
		oo, io, po := ipv4Src, ipv4Dst, l4DstPort
		if toReal {
			oo, io, po = ipv4Dst, ipv4Src, l4SrcPort
		}
		if p.Family == 6 {
			oo, io = map[int]int{ipv4Src: ipv6Src, ipv4Dst: ipv6Dst}[oo], map[int]int{ipv4Src: ipv6Src, ipv4Dst: ipv6Dst}[io]
		}
		want := oracleRewrite(in, map[int][]byte{p.L3 + oo: addrBytes(&p, a), p.InnerL3 + io: addrBytes(&p, a),
			p.InnerL4 + po: portBytes(port)})
		if toReal {
			ICMPErrorToReal(&p, a, port)
		} else {
			ICMPErrorFromReal(&p, a, port)
		}
		if !bytes.Equal(frame, want) {
			t.Fatalf("translation differs from the full recompute:\n%s", hexDiff(frame, want))
		}
		if !VerifyChecksums(&p) {
			t.Fatal("VerifyChecksums false after translation")
		}
	})
}

// TestWriteFuzzCorpus regenerates the committed seed corpus (a handful of
// meaningful frames per target) when run with -encap.writecorpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -encap.writecorpus to rewrite testdata/fuzz")
	}
	pick := map[string]bool{
		"nat dnat tcp4 80->8080":                         true,
		"nat dnat udp4 zero checksum stays zero":         true,
		"nat dnat tcp6 qinq":                             true,
		"nat dnat udp6 hop-by-hop + dst options":         true,
		"nat snat reply udp4 vlan":                       true,
		"nat icmp4 port unreachable to real (udp quote)": true,
		"nat icmp6 port unreachable to real (udp quote)": true,
		"icmp6 time exceeded quoting tcp6 is usable":     true,
		"ipv6 atomic fragment is parsed through":         true,
		"ipv4 options are skipped":                       true,
		"ipv4 first fragment (MF) is a fragment":         true,
		"malformed: tcp data offset 4":                   true,
	}
	var frames [][]byte
	var names []string
	for _, row := range fixtures() {
		if pick[row.name] {
			frames = append(frames, row.in)
			names = append(names, fmt.Sprintf("%02d", len(names)))
		}
	}
	if len(frames) != len(pick) {
		t.Fatalf("found %d of %d seed rows", len(frames), len(pick))
	}
	must(os.RemoveAll(filepath.Join("testdata", "fuzz")))
	write := func(target, name string, vals ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		must(os.MkdirAll(dir, 0o755))
		body := "go test fuzz v1\n"
		for _, v := range vals {
			body += v + "\n"
		}
		must(os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644))
	}
	for i, fr := range frames {
		q := fmt.Sprintf("[]byte(%q)", fr)
		write("FuzzParse", names[i], q)
		write("FuzzDNAT", names[i], q, fmt.Sprintf("[]byte(%q)", a16(real6).Slice()), "uint16(8080)")
		write("FuzzSNAT", names[i], q, fmt.Sprintf("[]byte(%q)", a16(vip4).Slice()), "uint16(80)")
		write("FuzzPushTunnel", names[i], q, fmt.Sprintf("byte(%d)", i), fmt.Sprintf("uint16(%d)", i*1000))
		write("FuzzICMPError", names[i], q, fmt.Sprintf("[]byte(%q)", a16(real4).Slice()), "uint16(8080)", fmt.Sprintf("bool(%v)", i%2 == 0))
		write("FuzzFragmentIPv4", names[i], q, fmt.Sprintf("uint16(%d)", 28+8*i))
	}
	big, _ := bigIPv4(0, 0)
	write("FuzzFragmentIPv4", "big-576", fmt.Sprintf("[]byte(%q)", big), "uint16(576)")
}
