package forwarder

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// withTCPFlags returns frame (an IPv4 or IPv6 TCP frame) with its TCP flags
// set to flags and the checksums recomputed.
func withTCPFlags(t *testing.T, frame []byte, flags uint8) []byte {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	tc, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tc == nil {
		t.Fatal("not a TCP frame")
	}
	tc.FIN, tc.SYN, tc.RST = flags&flow.TCPFin != 0, flags&flow.TCPSyn != 0, flags&flow.TCPRst != 0
	tc.PSH, tc.ACK = flags&flow.TCPPsh != 0, flags&flow.TCPAck != 0
	if err := tc.SetNetworkLayerForChecksum(p.NetworkLayer()); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializePacket(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, p)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestNewConnectionFlags: which TCP packets without a connection make one.
// The rule is conntrack's AcceptsNew, the kernel's tcp_conn_schedule
// (net/netfilter/ipvs/ip_vs_proto_tcp.c): a RST never schedules; otherwise a
// SYN does (SYN|ACK included: the kernel leaves out an ACK test on purpose,
// for active FTP), and with sloppy_tcp any other segment does too. UDP
// always schedules.
func TestNewConnectionFlags(t *testing.T) {
	const (
		syn = flow.TCPSyn
		ack = flow.TCPAck
		rst = flow.TCPRst
		fin = flow.TCPFin
	)
	rows := []struct {
		name           string
		udp            bool
		flags          uint8
		strict, sloppy bool // scheduled and forwarded
	}{
		{"syn", false, syn, true, true},
		{"syn-ack", false, syn | ack, true, true},
		{"ack", false, ack, false, true},
		{"fin-ack", false, fin | ack, false, true},
		{"no flags", false, 0, false, true},
		{"rst", false, rst, false, false},
		{"rst-ack", false, rst | ack, false, false},
		{"syn-rst", false, syn | rst, false, false},
		{"udp", true, 0, true, true},
	}
	for _, sloppy := range []bool{false, true} {
		for i, row := range rows {
			proto := service.TCP
			if row.udp {
				proto = service.UDP
			}
			mem := linktest.NewMemBackend(1)
			e, err := New(Options{Backend: mem, Router: testRouter(), Sloppy: sloppy, TableCapacity: 1 << 10,
				Services: testService(proto, vip4, 80, "rr", service.MethodNAT, 8080, 1)})
			if err != nil {
				t.Fatal(err)
			}
			frame := buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(1000 + i), dport: 80, udp: row.udp})
			if !row.udp {
				frame = withTCPFlags(t, frame, row.flags)
			}
			want := row.strict
			if sloppy {
				want = row.sloppy
			}
			out := run(e, mem, frame)
			if got := len(out) == 1; got != want {
				t.Errorf("sloppy=%v %s: forwarded %v, want %v", sloppy, row.name, got, want)
			}
			st := e.Stats()
			if drops := service.DropCount(st.Drops, "mem/0", "no-conn"); (drops == 1) == want {
				t.Errorf("sloppy=%v %s: %d no-conn drops", sloppy, row.name, drops)
			}
			e.Close()
		}
	}
}
