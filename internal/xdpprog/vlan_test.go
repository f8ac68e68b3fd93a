package xdpprog

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-project/xvs/internal/packettest"
)

// oraclePushTag is the model of what the tag-reading steering program hands
// the AF_XDP socket for a steered frame f whose VLAN tag (protocol, TCI) the
// driver took out: the frame as it was on the wire, the tag in front of the
// ethertype. A frame without an offloaded tag (proto 0) arrives as it is.
func oraclePushTag(f []byte, proto, tci uint16) []byte {
	if proto == 0 {
		return f
	}
	out := append([]byte(nil), f[:12]...)
	out = binary.BigEndian.AppendUint16(out, proto)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, f[12:]...)
}

// xdpMD is struct xdp_md as BPF_PROG_TEST_RUN takes it: Data is the length
// of the metadata in front of the frame.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// tagMeta is the metadata the test variant of the program reads its
// "offloaded" tag from: protocol as on the wire, TCI in host order.
func tagMeta(proto, tci uint16) []byte {
	m := binary.BigEndian.AppendUint16(nil, proto)
	return binary.NativeEndian.AppendUint16(m, tci)
}

func newTagTestSteering(t testing.TB, cfg Config) *Steering {
	t.Helper()
	needRoot(t)
	s, err := newSteering(2, tagSource{meta: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Update(cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSteerOffloadedTag runs the whole classification table through the
// tag-reading program (the BPF_PROG_TEST_RUN variant: the tag comes from
// the metadata area, as the kernel refuses to test-run device-bound
// programs) with and without an offloaded tag. The verdict must not depend
// on the tag; a steered frame with a tag counts steer_vlan_tag, and since
// the test run has no socket, the redirect fails and the program must take
// the tag out again: the frame leaves exactly as it came, and so does every
// passed one.
func TestSteerOffloadedTag(t *testing.T) {
	s := newTagTestSteering(t, testConfig)
	for _, tag := range []struct {
		name       string
		proto, tci uint16
	}{
		{"untagged", 0, 0},
		{"802.1Q vlan 10 pcp 5", 0x8100, 5<<13 | 10},
		{"802.1ad vlan 4094", 0x88a8, 4094},
	} {
		for _, tc := range steerCases {
			t.Run(tag.name+"/"+tc.Name, func(t *testing.T) {
				f := tc.Frame(packettest.Tagged)
				meta := tagMeta(tag.proto, tag.tci)
				in := append(append([]byte(nil), meta...), f...)
				opts := &ebpf.RunOptions{
					Data: in, DataOut: make([]byte, len(in)+64), Repeat: 1,
					Context: xdpMD{Data: uint32(len(meta)), DataEnd: uint32(len(in))},
				}
				got, delta := classifyRun(t, s, opts)
				if got != tc.Want {
					t.Errorf("got %s, want %s", got, tc.Want)
				}
				wantTag := uint64(0)
				if tag.proto != 0 && got[:5] == "steer" {
					wantTag = 1
				}
				if delta["steer_vlan_tag"] != wantTag || delta["steer_vlan_nopush"] != 0 {
					t.Errorf("steer_vlan_tag +%d, steer_vlan_nopush +%d; want +%d, +0",
						delta["steer_vlan_tag"], delta["steer_vlan_nopush"], wantTag)
				}
				if out := opts.DataOut; !bytes.Equal(out, in) {
					t.Errorf("frame out of the run differs from the frame in:\n in %x\nout %x", in, out)
				}
			})
		}
	}
}

func TestOraclePushTag(t *testing.T) {
	f := frame(t, pkt{src: client4, dst: "198.18.10.1", proto: 17, sport: 1, dport: 53})
	got := oraclePushTag(f, 0x8100, 0xa00a)
	want := append(ethHeader(true, 0x0800), f[14:]...)
	want[14], want[15] = 0xa0, 0x0a
	if !bytes.Equal(got, want) {
		t.Errorf("got %x\nwant %x", got, want)
	}
}

// FuzzSteerOffloadedTag is FuzzSteer for the tag-reading program with an
// arbitrary offloaded tag: the verdict is the oracle's, a steered frame with
// a tag counts steer_vlan_tag, and every frame leaves the run unchanged (the
// push is undone when the redirect fails).
func FuzzSteerOffloadedTag(f *testing.F) {
	needRoot(f)
	for _, tc := range steerCases {
		f.Add(uint16(0x8100), uint16(10), tc.Frame(packettest.Tagged))
	}
	f.Add(uint16(0), uint16(0), steerCases[0].Frame(packettest.Tagged))
	var (
		once sync.Once
		s    *Steering
		err  error
	)
	f.Fuzz(func(t *testing.T, proto, tci uint16, b []byte) {
		if len(b) < 14 || len(b) > 1500 {
			return // the kernel refuses test runs outside these sizes anyway
		}
		once.Do(func() {
			if s, err = newSteering(1, tagSource{meta: true}, false); err == nil {
				err = s.Update(testConfig)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		in := append(tagMeta(proto, tci), b...)
		opts := &ebpf.RunOptions{
			Data: in, DataOut: make([]byte, len(in)+64), Repeat: 1,
			Context: xdpMD{Data: 4, DataEnd: uint32(len(in))},
		}
		want := oracleSteer(testConfig, b)
		got, delta := classifyRun(t, s, opts)
		if got != want {
			t.Fatalf("program %s, oracle %s for % x", got, want, b)
		}
		wantTag := uint64(0)
		if proto != 0 && got[:5] == "steer" {
			wantTag = 1
		}
		if delta["steer_vlan_tag"] != wantTag {
			t.Fatalf("steer_vlan_tag +%d for verdict %s, tag protocol %#x", delta["steer_vlan_tag"], got, proto)
		}
		if !bytes.Equal(opts.DataOut, in) {
			t.Fatalf("frame changed:\n in % x\nout % x", in, opts.DataOut)
		}
	})
}
