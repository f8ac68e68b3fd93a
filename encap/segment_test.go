package encap

import (
	"bytes"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
)

func TestSegmentTCP(t *testing.T) {
	big := make([]byte, 5000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	cases := []struct {
		name string
		f    pktFlow
		mtu  int
	}{
		{"v4", with(req4(), func(f *pktFlow) { f.payload, f.ack, f.seq = big, true, 0xfffff000 }), 1500},
		{"v4 vlan", with(req4(), func(f *pktFlow) { f.payload, f.ack, f.vlans = big, true, []uint16{7} }), 1500},
		{"v6", with(req6(), func(f *pktFlow) { f.payload, f.ack = big, true }), 1500},
		{"v6 ext headers", with(req6(), func(f *pktFlow) { f.payload, f.ack, f.v6Ext = big, true, true }), 1280},
		{"v4 exact multiple", with(req4(), func(f *pktFlow) { f.payload, f.ack = big[:2920], true }), 1500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frame := c.f.frame()
			var p Packet
			Parse(frame, &p)
			// A super-packet with PSH|FIN|CWR, its checksum partial as a
			// TSO sender leaves it: segmentation computes every checksum.
			frame[p.L4+tcpFlags] |= flow.TCPPsh | flow.TCPFin | flow.TCPCwr
			partialize(t, frame)
			mss := TCPMaxPayload(&p, c.mtu)
			out := make([]byte, 2048)
			var got []byte
			seg := 0
			for start := 0; ; seg++ {
				n, next := SegmentTCP(out, &p, mss, start)
				if n == 0 {
					t.Fatalf("segment at %d: refused", start)
				}
				var s Packet
				if Parse(out[:n], &s) != KindTCP {
					t.Fatalf("segment %d does not parse as TCP", seg)
				}
				if s.IPLen > c.mtu {
					t.Errorf("segment %d: IP length %d > mtu %d", seg, s.IPLen, c.mtu)
				}
				refCheck(t, &s)
				pk := gopacketCheck(t, out[:n])
				tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if want := c.f.seq + uint32(start); tcp.Seq != want {
					t.Errorf("segment %d: seq %#x, want %#x", seg, tcp.Seq, want)
				}
				last := next == 0
				if tcp.FIN != last || tcp.PSH != last || tcp.CWR != (seg == 0) || !tcp.ACK {
					t.Errorf("segment %d (last %v): FIN %v PSH %v CWR %v ACK %v", seg, last, tcp.FIN, tcp.PSH, tcp.CWR, tcp.ACK)
				}
				if ip, ok := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip.Id != c.f.id+uint16(seg) {
					t.Errorf("segment %d: IP id %d, want %d", seg, ip.Id, c.f.id+uint16(seg))
				}
				got = append(got, tcp.Payload...)
				if last {
					break
				}
				start = next
			}
			if !bytes.Equal(got, c.f.payload) {
				t.Errorf("segments carry %d bytes, not the %d sent", len(got), len(c.f.payload))
			}
			if want := (len(c.f.payload) + mss - 1) / mss; seg+1 != want {
				t.Errorf("%d segments, want %d", seg+1, want)
			}
		})
	}
}

func TestSegmentTCPRefuses(t *testing.T) {
	frame := req4().frame()
	var p Packet
	Parse(frame, &p)
	out := make([]byte, 2048)
	if n, _ := SegmentTCP(out, &p, 0, 0); n != 0 {
		t.Error("max payload 0 accepted")
	}
	if n, _ := SegmentTCP(out, &p, 100, len(payload)); n != 0 {
		t.Error("start past the payload accepted")
	}
	if n, _ := SegmentTCP(out[:10], &p, 100, 0); n != 0 {
		t.Error("short out accepted")
	}
	udp := with(req4(), func(f *pktFlow) { f.udp = true }).frame()
	Parse(udp, &p)
	if n, _ := SegmentTCP(out, &p, 100, 0); n != 0 {
		t.Error("UDP segmented")
	}
}
