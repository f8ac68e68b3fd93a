package afpacket

import (
	"encoding/binary"
	"testing"

	"github.com/xvs-project/xvs/encap"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// fakeRing builds an rxRing in ordinary memory laid out as the kernel lays
// out TPACKET_V3 blocks, so the walk can be tested without a socket.
type fakeRing struct {
	r *rxRing
}

const fakeBlock = 4096

func newFakeRing(blocks int) *fakeRing {
	return &fakeRing{r: &rxRing{mem: make([]byte, blocks*fakeBlock), blockSize: fakeBlock, nBlocks: blocks, out: make([]int32, blocks)}}
}

type fakeFrame struct {
	data   []byte
	len    int // tp_len; 0 means len(data)
	status uint32
	tci    uint16
	tpid   uint16
	pkt    uint8 // sll_pkttype
}

// fill writes frames into block b and hands it to "user space".
func (f *fakeRing) fill(t *testing.T, b int, frames ...fakeFrame) {
	t.Helper()
	mem := f.r.mem[b*fakeBlock : (b+1)*fakeBlock]
	const first = 48
	binary.NativeEndian.PutUint32(mem[blkNumPkts:], uint32(len(frames)))
	binary.NativeEndian.PutUint32(mem[blkFirstPkt:], first)
	off := first
	for i, fr := range frames {
		mac := 146
		size := (mac + len(fr.data) + 15) &^ 15
		if off+size > fakeBlock {
			t.Fatal("fake block overflow")
		}
		h := mem[off:]
		next := 0
		if i < len(frames)-1 {
			next = size
		}
		l := fr.len
		if l == 0 {
			l = len(fr.data)
		}
		binary.NativeEndian.PutUint32(h[tp3NextOffset:], uint32(next))
		binary.NativeEndian.PutUint32(h[tp3Snaplen:], uint32(len(fr.data)))
		binary.NativeEndian.PutUint32(h[tp3Len:], uint32(l))
		binary.NativeEndian.PutUint32(h[tp3Status:], fr.status|unix.TP_STATUS_USER)
		binary.NativeEndian.PutUint16(h[tp3Mac:], uint16(mac))
		binary.NativeEndian.PutUint32(h[tp3VlanTCI:], uint32(fr.tci))
		binary.NativeEndian.PutUint16(h[tp3VlanTPID:], fr.tpid)
		h[tp3PktType] = fr.pkt
		copy(h[mac:], fr.data)
		off += size
	}
	binary.NativeEndian.PutUint32(mem[blkStatus:], unix.TP_STATUS_USER)
}

func (f *fakeRing) status(b int) uint32 {
	return binary.NativeEndian.Uint32(f.r.mem[b*fakeBlock+blkStatus:])
}

func TestRingWalkAndRelease(t *testing.T) {
	fr := newFakeRing(3)
	mk := func(i byte) fakeFrame {
		return fakeFrame{data: []byte{i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x88, 0xb5}}
	}
	fr.fill(t, 0, mk(1), mk(2), mk(3))
	fr.fill(t, 1, mk(4))
	frames := make([]link.Frame, 2)
	var c rxCounts

	if n := fr.r.walk(frames, 7, &c); n != 2 || frames[0].Data()[0] != 1 || frames[1].Data()[0] != 2 {
		t.Fatalf("first walk: %d frames %v", n, frames)
	}
	for _, f := range frames {
		if f.Off < MinHeadroom || f.Ifindex != 7 || f.Handle != 0 || cap(f.Buf) != f.Off+f.Len {
			t.Fatalf("frame %+v: want headroom >= %d, ifindex 7, handle 0, capacity ending at the packet", f, MinHeadroom)
		}
	}
	fr.r.release(frames[:2])
	if fr.status(0) != unix.TP_STATUS_USER {
		t.Fatal("block 0 given back before it was walked to the end")
	}
	if n := fr.r.walk(frames, 7, &c); n != 2 || frames[0].Data()[0] != 3 || frames[1].Data()[0] != 4 || frames[1].Handle != 1 {
		t.Fatalf("second walk: %d frames %+v", n, frames)
	}
	// Frame 3 (block 0) still out: nothing goes back, even though block 1
	// would be free after frame 4.
	fr.r.release(frames[1:2])
	if fr.status(0) != unix.TP_STATUS_USER || fr.status(1) != unix.TP_STATUS_USER {
		t.Fatal("a block went back while an older one was still in use")
	}
	fr.r.release(frames[:1])
	if fr.status(0) != unix.TP_STATUS_KERNEL || fr.status(1) != unix.TP_STATUS_KERNEL {
		t.Fatalf("blocks not given back in order: %d %d", fr.status(0), fr.status(1))
	}
	if n := fr.r.walk(frames, 7, &c); n != 0 {
		t.Fatalf("walk of an empty ring returned %d", n)
	}
	// Wrap around: blocks 2, then 0 again.
	fr.fill(t, 2, mk(5))
	fr.fill(t, 0, mk(6))
	if n := fr.r.walk(frames, 7, &c); n != 2 || frames[0].Data()[0] != 5 || frames[1].Data()[0] != 6 || frames[1].Handle != 0 {
		t.Fatalf("wrapped walk: %d frames %+v", n, frames)
	}
	fr.r.release(frames[:2])
	if fr.status(2) != unix.TP_STATUS_KERNEL || fr.status(0) != unix.TP_STATUS_KERNEL || c.frames != 6 {
		t.Fatalf("after wrap: statuses %d %d, %d frames counted", fr.status(2), fr.status(0), c.frames)
	}
}

func TestRingDropsAndFixes(t *testing.T) {
	fr := newFakeRing(2)
	udp := pkt{src: cli4, dst: vip4, proto: 17, sport: 1, dport: 53, payload: []byte("hello")}.frame()
	partial := append([]byte(nil), udp...)
	// What a local sender leaves for the device: the pseudo-header sum.
	binary.BigEndian.PutUint16(partial[14+20+6:], sum16(pseudo(cli4, vip4, 17, 8+5)))
	fr.fill(t, 0,
		fakeFrame{data: udp[:20], len: len(udp)},                          // truncated
		fakeFrame{data: udp, status: unix.TP_STATUS_GSO_TCP},              // TSO
		fakeFrame{data: partial, status: unix.TP_STATUS_CSUMNOTREADY},     // checksum to complete
		fakeFrame{data: udp, status: unix.TP_STATUS_VLAN_VALID, tci: 100}, // tag to put back
		fakeFrame{data: udp, status: unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID, tci: 7, tpid: 0x88a8},
		fakeFrame{data: udp, pkt: unix.PACKET_OUTGOING}, // our own transmission
	)
	frames := make([]link.Frame, 8)
	var c rxCounts
	n := fr.r.walk(frames, 1, &c)
	if n != 3 || c.truncated != 1 || c.gso != 1 || c.csum != 1 || c.vlan != 2 || c.outgoing != 1 {
		t.Fatalf("%d frames, counts %+v", n, c)
	}
	if got := frames[0].Data(); string(got) != string(udp) {
		t.Errorf("completed checksum:\n got % x\nwant % x", got, udp)
	}
	for i, want := range []struct{ tpid, tci uint16 }{{0x8100, 100}, {0x88a8, 7}} {
		d := frames[1+i].Data()
		if len(d) != len(udp)+4 || string(d[:12]) != string(udp[:12]) || string(d[16:]) != string(udp[12:]) ||
			binary.BigEndian.Uint16(d[12:]) != want.tpid || binary.BigEndian.Uint16(d[14:]) != want.tci {
			t.Errorf("vlan frame %d: % x", i, d)
		}
		if frames[1+i].Off < MinHeadroom {
			t.Errorf("vlan frame %d: headroom %d < %d", i, frames[1+i].Off, MinHeadroom)
		}
	}
	fr.r.release(frames[:n])
	if fr.status(0) != unix.TP_STATUS_KERNEL {
		t.Fatal("block with dropped frames not given back")
	}
}

func TestRingWalkAllocs(t *testing.T) {
	fr := newFakeRing(2)
	data := pkt{src: cli4, dst: vip4, proto: 17, sport: 1, dport: 53}.frame()
	frames := make([]link.Frame, 4)
	var c rxCounts
	b := 0
	allocs := testing.AllocsPerRun(100, func() {
		fr.fill(t, b, fakeFrame{data: data}, fakeFrame{data: data, status: unix.TP_STATUS_CSUMNOTREADY})
		n := fr.r.walk(frames, 1, &c)
		fr.r.release(frames[:n])
		b ^= 1
	})
	if allocs != 0 {
		t.Fatalf("walk+release: %v allocations per run", allocs)
	}
}

func TestCompleteChecksum(t *testing.T) {
	for _, p := range []pkt{
		{src: cli4, dst: vip4, proto: 6, sport: 1000, dport: 80, payload: []byte("GET / HTTP/1.0\r\n\r\n")},
		{src: cli4, dst: vip4, proto: 17, sport: 1000, dport: 53, payload: []byte("odd")},
		{src: cli6, dst: vip6, proto: 6, sport: 1000, dport: 443, payload: make([]byte, 999)},
		{src: cli6, dst: vip6, proto: 17, sport: 9, dport: 9},
		{src: cli4, dst: vip4, proto: 6, sport: 1, dport: 2, options: 12},
	} {
		want := p.frame()
		l4 := len(want) - len(p.payload) - map[uint8]int{6: 20, 17: 8}[p.proto]
		off := l4 + l4CsumOff(p.proto)
		l4len := len(want) - l4
		got := append([]byte(nil), want...)
		binary.BigEndian.PutUint16(got[off:], sum16(pseudo(p.src, p.dst, p.proto, l4len)))
		if !completeChecksum(got, new(encap.Packet)) || string(got) != string(want) {
			t.Errorf("%v: completed % x, want % x", p.dst, got[off:off+2], want[off:off+2])
		}
	}
	for _, bad := range [][]byte{
		nil,
		pkt{src: cli4, dst: vip4, proto: 1, icmpType: 3}.frame(),
		pkt{src: cli4, dst: vip4, proto: 17, frag: 0x2000}.frame(),
		pkt{src: cli4, dst: vip4, proto: 6, etherType: 0x0806}.frame(),
		pkt{src: cli4, dst: vip4, proto: 6}.frame()[:40],
	} {
		if completeChecksum(bad, new(encap.Packet)) {
			t.Errorf("completed a checksum in % x", bad)
		}
	}
}

func TestOptions(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil || o.Sockets < 1 || o.BlockSize != defaultBlockSize || o.Blocks != defaultBlocks || o.TxFrames != defaultTxFrames {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	for _, bad := range []Options{{BlockSize: 5000}, {Blocks: 1}, {TxFrames: 3}, {Sockets: -1}, {RetireTimeout: -1}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	for mtu, want := range map[int]int{1500: 2048, 1994: 2048, 1999: 4096, 9000: 16384} {
		if got := txFrameSize(mtu); got != want {
			t.Errorf("txFrameSize(%d) = %d, want %d", mtu, got, want)
		}
	}
}

// TestRingSegmentsSuperPackets: a GRO/TSO super-packet is handed out as
// segments that fit the MTU, each a valid TCP segment, carrying the payload
// in order; the block goes back although no ring frame was handed out.
func TestRingSegmentsSuperPackets(t *testing.T) {
	fr := newFakeRing(2)
	fr.r.seg = newSegmenter(1000)
	body := make([]byte, 2500)
	for i := range body {
		body[i] = byte(i)
	}
	big := pkt{src: cli4, dst: vip4, proto: 6, sport: 40000, dport: 80, payload: body}.frame()
	fr.fill(t, 0, fakeFrame{data: big, status: unix.TP_STATUS_GSO_TCP | unix.TP_STATUS_CSUMNOTREADY})
	frames := make([]link.Frame, 8)
	var c rxCounts
	n := fr.r.walk(frames, 3, &c)
	if n != 3 || c.segmented != 1 || c.gso != 0 {
		t.Fatalf("%d frames, counts %+v; want 3 segments", n, c)
	}
	var got []byte
	for i, f := range frames[:n] {
		var p encap.Packet
		if encap.Parse(f.Data(), &p) != encap.KindTCP || !encap.VerifyChecksums(&p) {
			t.Fatalf("segment %d: not a valid TCP segment", i)
		}
		if p.IPLen > 1000 || f.Off < MinHeadroom || f.Ifindex != 3 {
			t.Errorf("segment %d: IP length %d, headroom %d, ifindex %d", i, p.IPLen, f.Off, f.Ifindex)
		}
		got = append(got, f.Data()[p.L4+20:]...)
	}
	if string(got) != string(body) {
		t.Error("segments do not carry the payload in order")
	}
	fr.r.release(frames[:n])
	if fr.status(0) != unix.TP_STATUS_KERNEL {
		t.Fatal("block not given back")
	}

	// Segments that do not fit what is left of a batch wait for the next
	// walk instead of being dropped.
	udp := pkt{src: cli4, dst: vip4, proto: 17, sport: 1, dport: 53, payload: []byte("x")}.frame()
	fr.fill(t, 1, fakeFrame{data: udp}, fakeFrame{data: big, status: unix.TP_STATUS_GSO_TCP})
	fr.r.seg.reset()
	if n := fr.r.walk(frames[:3], 3, &c); n != 1 {
		t.Fatalf("walk with 2 slots left for 3 segments: %d frames, want 1", n)
	}
	fr.r.release(frames[:1])
	fr.r.seg.reset()
	if n := fr.r.walk(frames[:3], 3, &c); n != 3 || c.gso != 0 {
		t.Fatalf("next walk: %d frames (counts %+v), want the 3 segments", n, c)
	}
}
