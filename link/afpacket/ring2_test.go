package afpacket

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

const fakeFrame2 = 2048

// newFakeRing2 builds a TPACKET_V2 receive ring in ordinary memory.
func newFakeRing2(frames int) *rxRing2 {
	return &rxRing2{mem: make([]byte, frames*fakeFrame2), fd: -1, frameSize: fakeFrame2, n: frames, held: make([]bool, frames), big: make([]byte, 16+maxCopy)}
}

// fill2 writes fr into slot i as the kernel does and hands it over.
func fill2(r *rxRing2, i int, fr fakeFrame) {
	h := r.mem[i*fakeFrame2 : (i+1)*fakeFrame2]
	const mac = 162
	l := fr.len
	if l == 0 {
		l = len(fr.data)
	}
	binary.NativeEndian.PutUint32(h[tp2Len:], uint32(l))
	binary.NativeEndian.PutUint32(h[tp2Snaplen:], uint32(len(fr.data)))
	binary.NativeEndian.PutUint16(h[tp2Mac:], mac)
	binary.NativeEndian.PutUint16(h[tp2VlanTCI:], fr.tci)
	binary.NativeEndian.PutUint16(h[tp2VlanTPID:], fr.tpid)
	h[tp2PktType] = fr.pkt
	copy(h[mac:], fr.data)
	binary.NativeEndian.PutUint32(h[tp2Status:], fr.status|unix.TP_STATUS_USER)
}

func status2(r *rxRing2, i int) uint32 { return binary.NativeEndian.Uint32(r.mem[i*fakeFrame2:]) }

// TestRing2WalkAndRelease: frames are handed out in ring order as soon as
// each is the user's, each goes back on its own release (in any order),
// dropped ones go back at once, and the walk wraps around.
func TestRing2WalkAndRelease(t *testing.T) {
	r := newFakeRing2(3)
	udp := pkt{src: cli4, dst: vip4, proto: 17, sport: 1, dport: 53, payload: []byte("hi")}.frame()
	fill2(r, 0, fakeFrame{data: udp})
	fill2(r, 1, fakeFrame{data: udp, pkt: unix.PACKET_OUTGOING})
	fill2(r, 2, fakeFrame{data: udp, status: unix.TP_STATUS_VLAN_VALID, tci: 9})
	frames := make([]link.Frame, 4)
	var c rxCounts
	n := r.walk(frames, 5, &c)
	if n != 2 || c.outgoing != 1 || c.vlan != 1 || frames[0].Handle != 0 || frames[1].Handle != 2 {
		t.Fatalf("%d frames %+v, counts %+v", n, frames[:n], c)
	}
	for _, f := range frames[:n] {
		if f.Off < MinHeadroom || f.Ifindex != 5 || cap(f.Buf) != f.Off+f.Len {
			t.Fatalf("frame %+v: want headroom >= %d, ifindex 5, capacity ending at the packet", f, MinHeadroom)
		}
	}
	if d := frames[1].Data(); len(d) != len(udp)+4 || binary.BigEndian.Uint16(d[12:]) != 0x8100 || binary.BigEndian.Uint16(d[14:]) != 9 {
		t.Fatalf("vlan frame % x", d)
	}
	if status2(r, 1) != unix.TP_STATUS_KERNEL || status2(r, 0)&unix.TP_STATUS_USER == 0 {
		t.Fatal("the dropped frame is not back, or a handed-out one is")
	}
	r.release(frames[1:2])
	if status2(r, 2) != unix.TP_STATUS_KERNEL || status2(r, 0)&unix.TP_STATUS_USER == 0 {
		t.Fatal("release out of order did not give back just its frame")
	}
	r.release(frames[:1])
	if status2(r, 0) != unix.TP_STATUS_KERNEL {
		t.Fatal("frame 0 not given back")
	}
	if n := r.walk(frames, 5, &c); n != 0 {
		t.Fatalf("walk of an empty ring returned %d", n)
	}
	fill2(r, 0, fakeFrame{data: udp})
	if n := r.walk(frames, 5, &c); n != 1 || frames[0].Handle != 0 {
		t.Fatalf("wrapped walk: %d frames %+v", n, frames[:n])
	}
	// A truncated frame without a queued copy is dropped and counted.
	fill2(r, 1, fakeFrame{data: udp[:20], len: len(udp)})
	if n := r.walk(frames, 5, &c); n != 0 || c.truncated != 1 || status2(r, 1) != unix.TP_STATUS_KERNEL {
		t.Fatalf("truncated frame: %d frames, counts %+v", n, c)
	}
}

func TestRing2WalkAllocs(t *testing.T) {
	r := newFakeRing2(2)
	data := pkt{src: cli4, dst: vip4, proto: 17, sport: 1, dport: 53}.frame()
	frames := make([]link.Frame, 4)
	var c rxCounts
	allocs := testing.AllocsPerRun(100, func() {
		fill2(r, 0, fakeFrame{data: data})
		fill2(r, 1, fakeFrame{data: data, status: unix.TP_STATUS_CSUMNOTREADY})
		n := r.walk(frames, 1, &c)
		r.release(frames[:n])
	})
	if allocs != 0 {
		t.Fatalf("walk+release: %v allocations per run", allocs)
	}
}
