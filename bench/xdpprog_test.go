package bench

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (BPF, network namespaces)")
	}
}

// ipip wraps an inner frame's IPv4 packet in an outer IPv4 header.
func ipip(inner []byte) []byte {
	f := append([]byte(nil), inner[:14]...)
	outer := make([]byte, 20)
	outer[0], outer[9] = 0x45, 4
	binary.BigEndian.PutUint16(outer[2:], uint16(20+len(inner)-14))
	f = append(f, outer...)
	return append(f, inner[14:]...)
}

// TestSinkProgram runs the sink through BPF_PROG_TEST_RUN: frames to a real
// server's MAC are counted in its slot and dropped, IPIP in the encap half,
// and probe traffic, ARP and foreign MACs behave as documented.
func TestSinkProgram(t *testing.T) {
	needRoot(t)
	prefix := [5]byte{0x02, 0x58, 0x42, 'R', 7}
	coll, err := loadCollection("sink", sinkSpec(prefix, probePort))
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	prog, counters := coll.Programs["sink"], coll.Maps["counters"]
	frame := func(p Proto, slot byte, dport uint16) []byte {
		s := testSpec(p, 64, "198.18.1.2")
		s.DstMAC = mac5(prefix, slot)
		s.DstPort = dport
		b, err := NewFrameBuilder(s)
		if err != nil {
			t.Fatal(err)
		}
		return b.Frame(3)
	}
	foreign := frame(UDP, 2, bulkPort)
	foreign[0] = 0x04
	arp := frame(UDP, 2, bulkPort)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	tests := []struct {
		name    string
		frame   []byte
		verdict uint32
		key     uint32 // counter expected to move, if dropped
	}{
		{"udp to real 2", frame(UDP, 2, bulkPort), bpfasm.XDPDrop, 2},
		{"syn to real 3", frame(SYN, 3, synPort), bpfasm.XDPDrop, 3},
		{"check to the first checked port passes", frame(SYN, 1, checkPortBase), bpfasm.XDPPass, 0},
		{"check to the last checked port passes", frame(SYN, 1, checkPortBase+maxCheckedReals-1), bpfasm.XDPPass, 0},
		{"tcp below the checked ports", frame(SYN, 1, checkPortBase-1), bpfasm.XDPDrop, 1},
		{"tcp above the checked ports", frame(SYN, 1, checkPortBase+maxCheckedReals), bpfasm.XDPDrop, 1},
		{"udp to a checked port is counted", frame(UDP, 2, checkPortBase), bpfasm.XDPDrop, 2},
		{"ipip to real 1", ipip(frame(UDP, 1, bulkPort)), bpfasm.XDPDrop, encapBase + 1},
		{"foreign mac", foreign, bpfasm.XDPDrop, 0},
		{"probe passes", frame(UDP, 2, probePort), bpfasm.XDPPass, 0},
		{"probe in ipip passes", ipip(frame(UDP, 2, probePort)), bpfasm.XDPPass, 0},
		{"arp passes", arp, bpfasm.XDPPass, 0},
		{"runt passes", frame(UDP, 2, bulkPort)[:30], bpfasm.XDPPass, 0},
	}
	read := func(k uint32) uint64 {
		var per []uint64
		if err := counters.Lookup(k, &per); err != nil {
			t.Fatal(err)
		}
		var s uint64
		for _, v := range per {
			s += v
		}
		return s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := read(tt.key)
			ret, err := prog.Run(&ebpf.RunOptions{Data: tt.frame, Repeat: 1})
			if err != nil {
				t.Fatal(err)
			}
			if ret != tt.verdict {
				t.Fatalf("verdict %d, want %d", ret, tt.verdict)
			}
			moved := read(tt.key) - before
			if tt.verdict == bpfasm.XDPDrop && moved != 1 {
				t.Errorf("counter %d moved by %d, want 1", tt.key, moved)
			}
			if tt.verdict == bpfasm.XDPPass && tt.key == 0 && moved != 0 {
				t.Errorf("a passed frame was counted")
			}
		})
	}
}

func TestRedirectProgramLoads(t *testing.T) {
	needRoot(t)
	coll, err := loadCollection("bounce", redirectSpec(1))
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	// No socket in the XSKMAP: IPv4 falls back to XDP_PASS, as does ARP.
	for _, et := range []uint16{0x0800, 0x0806} {
		f := testFrame(t)
		binary.BigEndian.PutUint16(f[12:], et)
		ret, err := coll.Programs["redirect"].Run(&ebpf.RunOptions{Data: f, Repeat: 1})
		if err != nil {
			t.Fatal(err)
		}
		if ret != bpfasm.XDPPass {
			t.Errorf("ethertype %#x: verdict %d, want pass", et, ret)
		}
	}
}

func testFrame(t *testing.T) []byte {
	b, err := NewFrameBuilder(testSpec(UDP, 64, "198.18.0.10"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Frame(0)
}
