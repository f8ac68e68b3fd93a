package encap

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"
)

// fragmentAll runs the FragmentIPv4 loop and returns the fragment frames.
func fragmentAll(t testing.TB, frame []byte, l3, mtu int) [][]byte {
	t.Helper()
	var frags [][]byte
	for start := 0; ; {
		out := make([]byte, 2048)
		n, next := FragmentIPv4(out, frame, l3, mtu, start)
		if n == 0 {
			t.Fatalf("FragmentIPv4 refused at %d", start)
		}
		frags = append(frags, out[:n])
		if next == 0 {
			return frags
		}
		if next <= start || len(frags) > 1000 {
			t.Fatalf("next %d after %d", next, start)
		}
		start = next
	}
}

// bigIPv4 builds a 1500-byte-ish IPv4/UDP frame with IP options: one copied
// (router alert, 0x94) and one not (record route, 7).
func bigIPv4(flags layers.IPv4Flag, fragOff uint16) (frame, ipPacket []byte) {
	return bigIPv4Opts(flags, fragOff, true)
}

func bigIPv4Opts(flags layers.IPv4Flag, fragOff uint16, opts bool) (frame, ipPacket []byte) {
	f := pktFlow{src: director4, dst: real4, ttl: 64, id: 0x4242, udp: true, sport: 1, dport: 2, payload: make([]byte, 1450)}
	for i := range f.payload {
		f.payload[i] = byte(i * 13)
	}
	nl, _ := netLayer(f, layers.IPProtocolUDP)
	ip := nl.(*layers.IPv4)
	ip.Flags, ip.FragOffset = flags, fragOff
	if opts {
		ip.Options = []layers.IPv4Option{
			{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}},
			{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}},
		}
	}
	u := &layers.UDP{SrcPort: 1, DstPort: 2}
	must(u.SetNetworkLayerForChecksum(ip))
	frame = serialize(append(l2Layers(f, layers.EthernetTypeIPv4), ip, u, gopacket.Payload(f.payload))...)
	return frame, frame[14:]
}

// TestFragmentIPv4ReassemblesWithGopacket fragments a packet without options
// and reassembles it with gopacket's ip4defrag (which assumes 20-byte headers,
// so the options case is checked by hand in TestFragmentIPv4Options).
func TestFragmentIPv4ReassemblesWithGopacket(t *testing.T) {
	frame, ipPkt := bigIPv4Opts(0, 0, false)
	for _, mtu := range []int{68, 576, 1000, 1280, 1400} {
		frags := fragmentAll(t, frame, 14, mtu)
		d := ip4defrag.NewIPv4Defragmenter()
		var whole *layers.IPv4
		for i, fr := range frags {
			checkFragment(t, fr, frame, mtu, i, len(frags))
			pkt := gopacket.NewPacket(fr[14:], layers.LayerTypeIPv4, gopacket.Default)
			out, err := d.DefragIPv4(pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4))
			if err != nil {
				t.Fatalf("mtu %d: gopacket defrag: %v", mtu, err)
			}
			if out != nil {
				whole = out
			}
		}
		if whole == nil || !bytes.Equal(whole.Payload, ipPkt[20:]) {
			t.Fatalf("mtu %d: %d fragments do not reassemble to the original payload", mtu, len(frags))
		}
	}
}

func checkFragment(t *testing.T, fr, frame []byte, mtu, i, n int) {
	t.Helper()
	var p Packet
	if k := Parse(fr, &p); k != KindFragment || !VerifyChecksums(&p) {
		t.Fatalf("mtu %d fragment %d: kind %v, checksums valid %v", mtu, i, k, VerifyChecksums(&p))
	}
	if p.IPLen > mtu || !bytes.Equal(fr[:14], frame[:14]) {
		t.Fatalf("mtu %d fragment %d: %d bytes or L2 header changed", mtu, i, p.IPLen)
	}
	hl := int(fr[14]&0x0f) * 4
	mf := fr[14+6]&0x20 != 0
	if mf != (i < n-1) || (mf && (p.IPLen-hl)%8 != 0) {
		t.Fatalf("mtu %d fragment %d: MF %v, data %d", mtu, i, mf, p.IPLen-hl)
	}
	if !bytes.Equal(fr[14+4:14+6], frame[14+4:14+6]) || fr[14+8] != frame[14+8] || fr[14+9] != frame[14+9] {
		t.Fatalf("mtu %d fragment %d: ID, TTL or protocol changed", mtu, i)
	}
}

func TestFragmentIPv4Options(t *testing.T) {
	frame, ipPkt := bigIPv4(0, 0)
	ihl := int(ipPkt[0]&0x0f) * 4
	if ihl != 32 {
		t.Fatalf("ihl %d", ihl)
	}
	for _, mtu := range []int{68, 576, 1489} {
		frags := fragmentAll(t, frame, 14, mtu)
		var payload []byte
		for i, fr := range frags {
			checkFragment(t, fr, frame, mtu, i, len(frags))
			hl := int(fr[14]&0x0f) * 4
			if i == 0 && !bytes.Equal(fr[14+20:14+hl], ipPkt[20:ihl]) {
				t.Fatal("first fragment lost options")
			}
			if i > 0 && (hl != 24 || !bytes.Equal(fr[14+20:14+24], []byte{0x94, 4, 0, 0})) {
				t.Fatalf("later fragment options % x", fr[14+20:14+hl])
			}
			if off := int(be16(fr[14+6:])&ipv4FragOffMask) * 8; off != len(payload) {
				t.Fatalf("fragment %d offset %d, want %d", i, off, len(payload))
			}
			payload = append(payload, fr[14+hl:]...)
		}
		if !bytes.Equal(payload, ipPkt[ihl:]) {
			t.Fatalf("mtu %d: payloads do not add up", mtu)
		}
	}
}

func TestFragmentIPv4Cases(t *testing.T) {
	frame, _ := bigIPv4(0, 0)
	out := make([]byte, 2048)
	if n, next := FragmentIPv4(out, frame, 14, 1500, 0); n != len(frame) || next != 0 || !bytes.Equal(out[:n], frame) {
		t.Error("a packet that fits must come back whole")
	}
	df, _ := bigIPv4(layers.IPv4DontFragment, 0)
	if n, _ := FragmentIPv4(out, df, 14, 1500, 0); n != len(df) {
		t.Error("a DF packet that fits must come back whole")
	}
	for _, c := range []struct {
		name       string
		frame      []byte
		mtu, start int
		out        int
		l3         int
	}{
		{"df set", df, 576, 0, 2048, 14},
		{"mtu leaves < 8 bytes", frame, 32 + 7, 0, 2048, 14},
		{"start not a multiple of 8", frame, 576, 4, 2048, 14},
		{"start past payload", frame, 576, 4096, 2048, 14},
		{"out too small", frame, 576, 0, 14 + 575, 14},
		{"l3 past frame", frame, 576, 0, 2048, len(frame)},
		{"negative start", frame, 576, -8, 2048, 14},
	} {
		if n, _ := FragmentIPv4(out[:c.out], c.frame, c.l3, c.mtu, c.start); n != 0 {
			t.Errorf("%s: FragmentIPv4 = %d", c.name, n)
		}
	}
	bad := mutate(frame, func(b []byte) []byte { b[14+20+1] = 40; return b }) // option length past the options
	if n, _ := FragmentIPv4(out, bad, 14, 576, 8); n != 0 {
		t.Error("malformed options accepted")
	}

	// An existing non-last fragment at offset 100 stays MF on every piece.
	mid, _ := bigIPv4(layers.IPv4MoreFragments, 100)
	frags := fragmentAll(t, mid, 14, 576)
	want := 100
	for _, fr := range frags {
		fo := be16(fr[14+6:])
		if fo&ipv4FlagMF == 0 || int(fo&ipv4FragOffMask) != want {
			t.Fatalf("offset %d MF %v, want offset %d", fo&ipv4FragOffMask, fo&ipv4FlagMF != 0, want)
		}
		want += (int(be16(fr[14+2:])) - int(fr[14]&0x0f)*4) / 8
	}
	if n := testing.AllocsPerRun(100, func() { FragmentIPv4(out, frame, 14, 576, 552) }); n != 0 {
		t.Errorf("FragmentIPv4 allocates %v", n)
	}
}

// FuzzFragmentIPv4: never panics; when the loop completes, the fragments'
// payloads concatenate to the original payload.
func FuzzFragmentIPv4(f *testing.F) {
	frame, _ := bigIPv4(0, 0)
	f.Add(frame, uint16(576))
	f.Add(frame, uint16(68))
	for _, s := range seedFrames() {
		f.Add(s, uint16(100))
	}
	f.Fuzz(func(t *testing.T, data []byte, mtu uint16) {
		out := make([]byte, 2048)
		var payload []byte
		for start, i := 0, 0; i < 2000; i++ {
			n, next := FragmentIPv4(out, data, 14, int(mtu), start)
			if n == 0 {
				return
			}
			hl := int(out[14]&0x0f) * 4
			if n-14 > int(mtu) && !(start == 0 && next == 0) {
				t.Fatalf("fragment of %d bytes for mtu %d", n-14, mtu)
			}
			payload = append(payload, out[14+hl:n]...)
			if next == 0 {
				ihl := int(data[14]&0x0f) * 4
				if want := data[14+ihl : 14+int(be16(data[16:]))]; !bytes.Equal(payload, want) {
					t.Fatal("fragments do not add up to the payload")
				}
				return
			}
			start = next
		}
		t.Fatal("fragment loop did not end")
	})
}
