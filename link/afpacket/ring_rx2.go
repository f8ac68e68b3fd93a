package afpacket

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
)

// TPACKET_V2 receive frame layout (struct tpacket2_hdr, then struct
// sockaddr_ll at TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) = 32).
const (
	tp2Snaplen  = 8
	tp2Mac      = 12
	tp2VlanTCI  = 24
	tp2VlanTPID = 26
	tp2PktType  = 32 + 10
	// rxReserve2 is PACKET_RESERVE for a V2 ring: its frame header is
	// 16 bytes shorter than V3's, so it takes 32 more bytes of reserve
	// to give at least V3's headroom (162 bytes in front of the Ethernet
	// header), which also keeps a worker pushing MinHeadroom bytes of
	// headers clear of the frame's status word.
	rxReserve2 = rxReserve + 32
	// maxCopy is the largest super-packet read from the socket queue when
	// it did not fit a frame (TP_STATUS_COPY): 64 KB of IP plus link header
	// and tag.
	maxCopy = 65536 + 14 + 4
)

// rxRing2 is a socket's TPACKET_V2 receive ring: fixed-size frames, each
// handed to user space as soon as the kernel has written it (and the
// worker woken), so an idle packet waits for nothing. Frames are handed out
// in place and each goes back to the kernel on its own release. A frame
// larger than a slot (a GRO/TSO super-packet) arrives truncated with
// TP_STATUS_COPY, and the kernel queues the whole packet on the socket
// (PACKET_COPY_THRESH); walk reads it into a worker-owned buffer and cuts
// it into segments from there.
type rxRing2 struct {
	mem       []byte
	fd        int
	frameSize int
	n         int
	head      int          // next frame to look at
	held      []bool       // per frame: handed out, not released (still the user's)
	seg       *segmenter   // cuts offloaded super-packets; nil drops them
	pkt       encap.Packet // scratch of completeChecksum
	big       []byte       // a copied super-packet, with room for a tag in front
}

// rxFrameSize is the V2 frame size for an MTU: the headroom and the
// largest frame (one VLAN tag), in a power of two of at least 2 KiB.
func rxFrameSize(mtu int) int {
	need := 176 + mtu + 14 + 4
	size := 2048
	for size < need {
		size <<= 1
	}
	return size
}

// setupRX2 configures fd's receive ring as TPACKET_V2 frames (as much
// memory as the V3 ring would take) and maps it.
func setupRX2(fd, mtu int, o Options) (*rxRing2, error) {
	fs := rxFrameSize(mtu)
	block := max(o.BlockSize, fs)
	total := o.BlockSize * o.Blocks
	req := unix.TpacketReq{Block_size: uint32(block), Block_nr: uint32(total / block), Frame_size: uint32(fs), Frame_nr: uint32(total / fs)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("rx ring of %d frames of %d bytes: %w", req.Frame_nr, fs, err)
	}
	mem, err := mmapRing(fd, total)
	if err != nil {
		return nil, err
	}
	return &rxRing2{mem: mem, fd: fd, frameSize: fs, n: total / fs, held: make([]bool, total/fs), big: make([]byte, 16+maxCopy)}, nil
}

func (r *rxRing2) unmap() {
	if r != nil && r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
}

// walk hands out up to len(frames) frames from the ring and reports how many.
func (r *rxRing2) walk(frames []link.Frame, ifindex int, c *rxCounts) int {
	n := 0
	for n < len(frames) {
		base := r.head * r.frameSize
		st := u32At(r.mem, base)
		status := atomic.LoadUint32(st)
		if status&unix.TP_STATUS_USER == 0 || r.held[r.head] {
			// Not written yet, or wrapped around to a frame the
			// worker still holds (so the kernel has not refilled it).
			break
		}
		h := r.mem[base : base+tp2PktType+1]
		snap := int(binary.NativeEndian.Uint32(h[tp2Snaplen:]))
		plen := int(binary.NativeEndian.Uint32(h[tp2Len:]))
		mac := int(binary.NativeEndian.Uint16(h[tp2Mac:]))
		tci := binary.NativeEndian.Uint16(h[tp2VlanTCI:])
		tpid := binary.NativeEndian.Uint16(h[tp2VlanTPID:])
		outgoing := h[tp2PktType] == unix.PACKET_OUTGOING
		gso := status&unix.TP_STATUS_GSO_TCP != 0 && !outgoing
		if gso && n > 0 && r.seg != nil && plen/(r.seg.mtu-60)+1 > min(len(frames)-n, r.seg.free()) {
			// Its segments may not fit this batch (an estimate from its
			// length, as a copied one is not read yet): leave the
			// super-packet for the next walk, which starts with room.
			break
		}
		keep := false
		switch {
		case status&unix.TP_STATUS_COPY != 0:
			// Did not fit a frame: the whole packet waits on the
			// socket. Read it even when it is dropped, to keep the
			// queue in step with the ring.
			if k := r.copied(frames[n:], ifindex, status, tpid, tci, gso); k > 0 {
				n += k
				c.segmented++
			} else {
				c.truncated++
			}
		case snap < plen:
			c.truncated++
		case outgoing:
			c.outgoing++ // filtered out already; see joinFanout
		case gso:
			// A super-packet that fit a frame (a large MTU).
			f := link.Frame{Buf: r.mem[base : base+mac+snap : base+mac+snap], Off: mac, Len: snap}
			if k := r.cut(&f, frames[n:], ifindex, status, tpid, tci); k > 0 {
				n += k
				c.segmented++
			} else {
				c.gso++
			}
		default:
			handOut(&frames[n], r.mem[base:base+mac+snap:base+mac+snap], mac, ifindex, uint64(r.head), status, tpid, tci, &r.pkt, c)
			r.held[r.head] = true
			n++
			keep = true
		}
		if !keep {
			atomic.StoreUint32(st, unix.TP_STATUS_KERNEL)
		}
		r.head++
		if r.head == r.n {
			r.head = 0
		}
	}
	c.frames += uint64(n)
	return n
}

// copied reads the packet the kernel queued for a TP_STATUS_COPY frame and
// cuts it into segments; 0 when it is not a super-packet or cannot be cut.
func (r *rxRing2) copied(frames []link.Frame, ifindex int, status uint32, tpid, tci uint16, gso bool) int {
	got, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(r.fd), uintptr(unsafe.Pointer(&r.big[16])), uintptr(len(r.big)-16), unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	if errno != 0 || int(got) > len(r.big)-16 || !gso {
		return 0
	}
	f := link.Frame{Buf: r.big[:16+int(got)], Off: 16, Len: int(got)}
	return r.cut(&f, frames, ifindex, status, tpid, tci)
}

// cut puts the tag back on super-packet f and cuts it into segments.
func (r *rxRing2) cut(f *link.Frame, frames []link.Frame, ifindex int, status uint32, tpid, tci uint16) int {
	if r.seg == nil {
		return 0
	}
	if status&unix.TP_STATUS_VLAN_VALID != 0 {
		if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
			tpid = 0x8100
		}
		insertVLAN(f, tpid, tci)
	}
	need := r.seg.plan(f.Data())
	if need == 0 || need > min(len(frames), r.seg.free()) {
		return 0
	}
	return r.seg.cut(frames, ifindex)
}

// release gives frames handed out by walk back to the kernel, each on its
// own (segments, which are not in the ring, are skipped).
func (r *rxRing2) release(frames []link.Frame) {
	for i := range frames {
		if h := frames[i].Handle; h < uint64(r.n) && r.held[h] {
			r.held[h] = false
			atomic.StoreUint32(u32At(r.mem, int(h)*r.frameSize), unix.TP_STATUS_KERNEL)
		}
	}
}
