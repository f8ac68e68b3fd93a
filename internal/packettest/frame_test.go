package packettest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestFrameDecodes: gopacket finds the IP header of every fixture frame
// and the TCP or UDP header of each unfragmented one; a padded frame is 60
// bytes.
func TestFrameDecodes(t *testing.T) {
	for _, r := range SteerRows {
		if r.Edit != nil {
			continue
		}
		f := r.Frame(Tagged)
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if pkt.NetworkLayer() == nil {
			t.Errorf("%s: no IP layer", r.Name)
		}
		whole := !r.Packet.MF && r.Packet.FragOff == 0 && len(r.Packet.Ext6) == 0
		if (r.Packet.Proto == ProtoTCP || r.Packet.Proto == ProtoUDP) && whole && pkt.TransportLayer() == nil {
			t.Errorf("%s: no TCP/UDP layer", r.Name)
		}
	}
	p := Packet{Src: client4, Dst: a("198.18.10.1"), Proto: ProtoUDP, Pad: true}
	if f := p.Frame(); len(f) != 60 || !bytes.Equal(f[14:], append(p.IP(), make([]byte, 60-14-len(p.IP()))...)) {
		t.Errorf("padded frame % x", f)
	}
}

// BenchmarkFrame is what building a frame with gopacket costs: the reason
// the bench's generator takes only its template from here and patches each
// flow by hand.
func BenchmarkFrame(b *testing.B) {
	p := Packet{Src: client4, Dst: a("198.18.10.1"), Proto: ProtoUDP, Sport: 1, Dport: 53, Payload: make([]byte, 18)}
	b.ReportAllocs()
	for b.Loop() {
		p.Frame()
	}
}

// TestPcapFile: the layout pcap readers expect: the global
// header's magic and link type, and each record's lengths and bytes.
func TestPcapFile(t *testing.T) {
	f1, f2 := []byte{1, 2, 3}, []byte{4, 5}
	b := PcapFile(f1, f2)
	if len(b) != 24+16+3+16+2 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("header %x", b[:24])
	}
	if binary.LittleEndian.Uint32(b[24+8:]) != 3 || !bytes.Equal(b[40:43], f1) || !bytes.Equal(b[43+16:], f2) {
		t.Errorf("records %x", b[24:])
	}
}
