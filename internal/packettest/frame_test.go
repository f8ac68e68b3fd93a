package packettest

import (
	"bytes"
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
