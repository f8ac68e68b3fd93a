package afpacket

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
)

// TPACKET_V3 layout (linux/if_packet.h). A block starts with struct
// tpacket_block_desc; its frames are struct tpacket3_hdr, each followed (at
// tp_mac) by the packet.
const (
	blkStatus     = 8  // hdr.bh1.block_status
	blkNumPkts    = 12 // hdr.bh1.num_pkts
	blkFirstPkt   = 16 // hdr.bh1.offset_to_first_pkt
	tp3NextOffset = 0
	tp3Snaplen    = 12
	tp3Len        = 16
	tp3Status     = 20
	tp3Mac        = 24
	tp3VlanTCI    = 32
	tp3VlanTPID   = 36
	tp3HdrLen     = 48
	// The struct sockaddr_ll that follows the header (at
	// TPACKET_ALIGN(sizeof(struct tpacket3_hdr))) has sll_pkttype at 10.
	tp3PktType = tp3HdrLen + 10
)

// rxRing is a socket's TPACKET_V3 receive ring, walked by one worker. Frames
// are handed out in place (zero copy) and a block goes back to the kernel
// once it is walked and all its frames are released. Blocks go back in ring
// order, as the kernel fills them.
type rxRing struct {
	mem       []byte
	blockSize int
	nBlocks   int
	head      int          // block being walked, or next to walk
	tail      int          // oldest block not given back
	walked    int          // blocks in [tail, head): walked, waiting for releases
	left      int          // frames of the head block not walked yet (when open)
	open      bool         // the head block is being walked
	cur       int          // offset in the head block of the next frame header
	out       []int32      // frames handed out and not released, per block
	seg       *segmenter   // cuts offloaded super-packets; nil drops them
	pkt       encap.Packet // scratch of completeChecksum
}

// setupRX configures fd's receive ring and maps it.
func setupRX(fd int, o Options) (*rxRing, error) {
	req := unix.TpacketReq3{
		Block_size: uint32(o.BlockSize),
		Block_nr:   uint32(o.Blocks),
		// Frames only matter to the kernel's sanity checks with V3.
		Frame_size:     2048,
		Frame_nr:       uint32(o.BlockSize / 2048 * o.Blocks),
		Retire_blk_tov: uint32(max(o.RetireTimeout.Milliseconds(), 1)),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("rx ring of %d blocks of %d bytes: %w", o.Blocks, o.BlockSize, err)
	}
	mem, err := mmapRing(fd, o.BlockSize*o.Blocks)
	if err != nil {
		return nil, err
	}
	return &rxRing{mem: mem, blockSize: o.BlockSize, nBlocks: o.Blocks, out: make([]int32, o.Blocks)}, nil
}

func (r *rxRing) unmap() {
	if r != nil && r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
}

// rxCounts are the per-batch counters of a walk.
type rxCounts struct {
	frames, truncated, gso, segmented, vlan, csum, outgoing uint64
}

// walk hands out up to len(frames) frames from the ring and reports how many.
func (r *rxRing) walk(frames []link.Frame, ifindex int, c *rxCounts) int {
	n := 0
	for n < len(frames) {
		if !r.open {
			if r.walked == r.nBlocks {
				break // every block is waiting for releases
			}
			base := r.head * r.blockSize
			if atomic.LoadUint32(u32At(r.mem, base+blkStatus))&unix.TP_STATUS_USER == 0 {
				break
			}
			r.left = int(binary.NativeEndian.Uint32(r.mem[base+blkNumPkts:]))
			r.cur = int(binary.NativeEndian.Uint32(r.mem[base+blkFirstPkt:]))
			r.open = true
			if r.left == 0 {
				r.finishBlock()
				continue
			}
		}
		base := r.head*r.blockSize + r.cur
		h := r.mem[base : base+tp3PktType+1]
		next := int(binary.NativeEndian.Uint32(h[tp3NextOffset:]))
		snap := int(binary.NativeEndian.Uint32(h[tp3Snaplen:]))
		plen := int(binary.NativeEndian.Uint32(h[tp3Len:]))
		status := binary.NativeEndian.Uint32(h[tp3Status:])
		mac := int(binary.NativeEndian.Uint16(h[tp3Mac:]))
		tci := uint16(binary.NativeEndian.Uint32(h[tp3VlanTCI:]))
		tpid := binary.NativeEndian.Uint16(h[tp3VlanTPID:])
		gso := status&unix.TP_STATUS_GSO_TCP != 0 && snap >= plen && h[tp3PktType] != unix.PACKET_OUTGOING
		if gso && n > 0 && r.seg != nil && r.seg.plan(r.mem[base+mac:base+mac+snap]) > min(len(frames)-n, r.seg.free()) {
			// Its segments do not fit this batch: leave the super-packet
			// for the next walk, which starts with room for them.
			break
		}
		r.left--
		r.cur += next
		switch {
		case snap < plen:
			// Cut to fit the block: forwarding half a packet is wrong.
			c.truncated++
		case h[tp3PktType] == unix.PACKET_OUTGOING:
			// Filtered out already; see joinFanout.
			c.outgoing++
		case gso:
			// A GRO aggregate or a local sender's TSO packet: larger than
			// the MTU, it is forwarded as segments (segment.go).
			if k := r.segment(frames[n:], base, mac, snap, ifindex, status, tpid, tci); k > 0 {
				n += k
				c.segmented++
			} else {
				c.gso++
			}
		default:
			handOut(&frames[n], r.mem[base:base+mac+snap:base+mac+snap], mac, ifindex, uint64(r.head), status, tpid, tci, &r.pkt, c)
			r.out[r.head]++
			n++
		}
		if r.left == 0 {
			r.finishBlock()
		}
	}
	c.frames += uint64(n)
	return n
}

// segment cuts the super-packet at base+mac in the ring into segments in
// frames and returns how many, 0 when it cannot (no segmenter, not TCP, no
// room). The ring slot itself is not handed out.
func (r *rxRing) segment(frames []link.Frame, base, mac, snap, ifindex int, status uint32, tpid, tci uint16) int {
	if r.seg == nil {
		return 0
	}
	f := link.Frame{Buf: r.mem[base : base+mac+snap : base+mac+snap], Off: mac, Len: snap}
	if status&unix.TP_STATUS_VLAN_VALID != 0 {
		if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
			tpid = 0x8100
		}
		insertVLAN(&f, tpid, tci)
	}
	need := r.seg.plan(f.Data())
	if need == 0 || need > min(len(frames), r.seg.free()) {
		return 0
	}
	return r.seg.cut(frames, ifindex)
}

// finishBlock moves past the walked head block and gives back what it can.
func (r *rxRing) finishBlock() {
	r.open = false
	r.head++
	if r.head == r.nBlocks {
		r.head = 0
	}
	r.walked++
	r.giveBack()
}

// release returns frames handed out by walk.
func (r *rxRing) release(frames []link.Frame) {
	for i := range frames {
		if h := frames[i].Handle; h < uint64(r.nBlocks) && r.out[h] > 0 {
			r.out[h]--
		}
	}
	r.giveBack()
}

// giveBack returns walked blocks without outstanding frames to the kernel,
// oldest first.
func (r *rxRing) giveBack() {
	for r.walked > 0 && r.out[r.tail] == 0 {
		atomic.StoreUint32(u32At(r.mem, r.tail*r.blockSize+blkStatus), unix.TP_STATUS_KERNEL)
		r.tail++
		if r.tail == r.nBlocks {
			r.tail = 0
		}
		r.walked--
	}
}

// handOut makes f the frame buf[mac:] of the ring's slot handle, as the
// kernel flagged it (status): a partial checksum is completed and a VLAN
// tag the kernel took off (tpid, tci) is put back. Both rings' walks hand
// frames out through it.
func handOut(f *link.Frame, buf []byte, mac, ifindex int, handle uint64, status uint32, tpid, tci uint16, pkt *encap.Packet, c *rxCounts) {
	f.Buf = buf
	f.Off, f.Len = mac, len(buf)-mac
	f.Ifindex = ifindex
	f.Handle = handle
	if status&unix.TP_STATUS_CSUMNOTREADY != 0 && completeChecksum(f.Buf[f.Off:], pkt) {
		c.csum++
	}
	if status&unix.TP_STATUS_VLAN_VALID != 0 {
		if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
			tpid = 0x8100
		}
		insertVLAN(f, tpid, tci)
		c.vlan++
	}
}

// insertVLAN puts back the 802.1Q/802.1ad tag the kernel took out of the
// frame (into metadata) before the tap, so the worker sees the frame as it
// was on the wire. The MAC addresses move 4 bytes into the headroom.
func insertVLAN(f *link.Frame, tpid, tci uint16) {
	b := f.Buf
	o := f.Off
	copy(b[o-4:o+8], b[o:o+12])
	binary.BigEndian.PutUint16(b[o+8:], tpid)
	binary.BigEndian.PutUint16(b[o+10:], tci)
	f.Off -= 4
	f.Len += 4
}
