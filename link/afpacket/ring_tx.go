package afpacket

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/link"
)

// TPACKET_V2 transmit frame layout: struct tpacket2_hdr, then the packet at
// TPACKET2_HDRLEN - sizeof(struct sockaddr_ll) = 32 bytes (the kernel's
// default data offset when PACKET_TX_HAS_OFF is not set).
const (
	tp2Status  = 0
	tp2Len     = 4
	tp2DataOff = 32
)

// txRing is a TPACKET_V2 transmit ring on its own socket, bound to one
// egress interface with protocol 0 so it never receives. V2 rather than V3:
// V3 transmit rings only exist since Linux 4.11 and offer nothing more (no
// variable-size frames). Frames are filled in ring order and sent with one
// sendto per batch; the kernel marks a frame available again once its skb
// is freed.
type txRing struct {
	fd        int
	ifindex   int
	mem       []byte
	frameSize int
	n         int
	head      int
	maxLen    int  // the interface's MTU plus link header and one VLAN tag
	pending   bool // the last kick ran out of buffer space: kick again
}

// tx frame size for an MTU: the packet (with one VLAN tag) after the 32-byte
// header, in a power of two of at least 2 KiB.
func txFrameSize(mtu int) int {
	need := tp2DataOff + mtu + 14 + 4
	size := 2048
	for size < need {
		size <<= 1
	}
	return size
}

func openTX(ifindex, mtu int, o Options) (_ *txRing, err error) {
	fd, err := packetSocket()
	if err != nil {
		return nil, err
	}
	t := &txRing{fd: fd, ifindex: ifindex, n: o.TxFrames, frameSize: txFrameSize(mtu), maxLen: mtu + 14 + 4}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if err := setInt(fd, unix.PACKET_VERSION, unix.TPACKET_V2, "packet version"); err != nil {
		return nil, err
	}
	// A malformed frame is skipped instead of stopping the ring.
	if err := setInt(fd, unix.PACKET_LOSS, 1, "packet loss"); err != nil {
		return nil, err
	}
	if o.QdiscBypass {
		if err := setInt(fd, unix.PACKET_QDISC_BYPASS, 1, "qdisc bypass"); err != nil {
			return nil, err
		}
	}
	// Room in the socket's send budget for the whole ring in flight.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 2*t.n*t.frameSize) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 2*t.n*t.frameSize)
	}
	block := max(t.frameSize, 64<<10)
	perBlock := block / t.frameSize
	blocks := (t.n + perBlock - 1) / perBlock
	t.n = blocks * perBlock
	req := unix.TpacketReq{Block_size: uint32(block), Block_nr: uint32(blocks), Frame_size: uint32(t.frameSize), Frame_nr: uint32(t.n)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return nil, fmt.Errorf("tx ring of %d frames: %w", t.n, err)
	}
	if t.mem, err = mmapRing(fd, block*blocks); err != nil {
		return nil, err
	}
	if err := bindPacket(fd, ifindex, 0); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *txRing) close() {
	if t.mem != nil {
		_ = unix.Munmap(t.mem)
		t.mem = nil
	}
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
}

// txCounts are the per-batch counters of the transmit side.
type txCounts struct {
	frames, full, oversize, errors, kicks uint64
}

// send copies frames into the ring and kicks the kernel once. A frame that
// finds no free slot or is larger than the interface allows is counted and
// dropped.
func (t *txRing) send(frames []link.Frame, c *txCounts) {
	queued := 0
	for i := range frames {
		f := &frames[i]
		if f.Len < 14 {
			c.errors++ // not even an Ethernet header
			continue
		}
		if f.Len > t.maxLen || f.Len > t.frameSize-tp2DataOff {
			c.oversize++
			continue
		}
		slot := t.head * t.frameSize
		status := u32At(t.mem, slot+tp2Status)
		if atomic.LoadUint32(status) != unix.TP_STATUS_AVAILABLE {
			// In flight (or, after an interface went down, still waiting
			// to be sent): the ring is full.
			c.full += uint64(len(frames) - i)
			break
		}
		copy(t.mem[slot+tp2DataOff:], f.Buf[f.Off:f.Off+f.Len])
		*u32At(t.mem, slot+tp2Len) = uint32(f.Len)
		atomic.StoreUint32(status, unix.TP_STATUS_SEND_REQUEST)
		t.head++
		if t.head == t.n {
			t.head = 0
		}
		queued++
	}
	if queued > 0 || t.pending {
		t.kick(c)
	}
	c.frames += uint64(queued)
}

// kick asks the kernel to send every frame marked for sending, without
// waiting for their completion.
func (t *txRing) kick(c *txCounts) {
	c.kicks++
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(t.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0:
		t.pending = false
	case unix.EAGAIN, unix.ENOBUFS, unix.EINTR:
		// The frames stay marked; the next send or receive kicks again.
		t.pending = true
	default:
		t.pending = false
		c.errors++
	}
}
