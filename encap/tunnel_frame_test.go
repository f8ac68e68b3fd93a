package encap

import (
	"bytes"
	"testing"
)

// TestPushTunnelKeepsFrame: after PushTunnel the Packet's Frame is the moved
// frame, so SetMACs writes the new frame's Ethernet header, as the forwarder
// relies on after encapsulating.
func TestPushTunnelKeepsFrame(t *testing.T) {
	for _, tun := range []Tunnel{{}, {Type: TunnelGUE, Port: 6080, Csum: true}, {Type: TunnelGRE}} {
		frame := req4().frame()
		buf := make([]byte, headroom+len(frame))
		copy(buf[headroom:], frame)
		var p Packet
		if Parse(buf[headroom:], &p) != KindTCP {
			t.Fatal("request does not parse")
		}
		off, n, ok := PushTunnel(buf, headroom, len(frame), &p, tun, a16(director4), a16(real4), 1)
		if !ok {
			t.Fatalf("%v: PushTunnel failed", tun.Type)
		}
		if &p.Frame[0] != &buf[off] || len(p.Frame) != n {
			t.Fatalf("%v: Frame is not the new frame", tun.Type)
		}
		dst, src := [6]byte{2, 0, 0, 0, 0, 9}, [6]byte{2, 0, 0, 0, 0, 8}
		SetMACs(&p, dst, src)
		if !bytes.Equal(buf[off:off+6], dst[:]) || !bytes.Equal(buf[off+6:off+12], src[:]) {
			t.Errorf("%v: MACs not at the new frame's start: % x", tun.Type, buf[off:off+12])
		}
		var outer Packet
		if k := Parse(buf[off:off+n], &outer); k != KindOtherL4 && k != KindUDP {
			t.Errorf("%v: new frame parses as %v", tun.Type, k)
		}
	}
}
