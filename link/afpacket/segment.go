package afpacket

import (
	"math"

	"github.com/xvs-project/xvs/encap"

	"github.com/xvs-project/xvs/link"
)

// Offloaded super-packets. A packet socket taps frames before anything
// segments them: GRO aggregates built by the receiving device, and TSO
// packets of a local sender over veth (every container host), both TCP up to
// 64 KB in one frame and marked TP_STATUS_GSO_TCP. Sent on as one frame they
// exceed the egress MTU and are lost, so the backend cuts each into segments
// that fit the ingress interface's MTU (what the sender's kernel would have
// sent without offloads, see encap.SegmentTCP) and hands those to the worker
// instead. Segments live in a per-queue scratch area, valid until the next
// Recv: the worker releases a batch before it receives the next one.

// segHeadroom is the headroom in front of a segment: at least MinHeadroom,
// as for frames in the ring.
const segHeadroom = 160

// segSlots bounds the segments one Recv can hand out: a forwarder batch.
const segSlots = 64

// noBlock is the Handle of a frame that is not in the ring; release ignores
// it.
const noBlock = math.MaxUint64

// segmenter holds one queue's segment scratch area.
type segmenter struct {
	mtu  int
	size int    // bytes per slot
	buf  []byte // segSlots slots
	used int    // slots handed out since the last reset
	pkt  encap.Packet
}

func newSegmenter(mtu int) *segmenter {
	size := (segHeadroom + 22 + mtu + 63) &^ 63 // two VLAN tags at most
	return &segmenter{mtu: mtu, size: size, buf: make([]byte, size*segSlots)}
}

// reset makes every slot free: the frames of the previous Recv are back.
func (s *segmenter) reset() { s.used = 0 }

// plan parses the super-packet frame and returns how many segments it needs,
// 0 if it cannot be segmented (not TCP, headers too long for the MTU).
func (s *segmenter) plan(frame []byte) int {
	if encap.Parse(frame, &s.pkt) != encap.KindTCP {
		return 0
	}
	mss := encap.TCPMaxPayload(&s.pkt, s.mtu)
	if mss < 1 {
		return 0
	}
	doff := int(frame[s.pkt.L4+12]>>4) << 2
	payload := s.pkt.L3 + s.pkt.IPLen - s.pkt.L4 - doff
	return max((payload+mss-1)/mss, 1)
}

// cut writes the segments of the frame last given to plan into frames and
// returns how many; frames must have room for what plan said, and so must
// the scratch area (free reports it).
func (s *segmenter) cut(frames []link.Frame, ifindex int) int {
	mss := encap.TCPMaxPayload(&s.pkt, s.mtu)
	n := 0
	for start := 0; ; {
		slot := s.buf[s.used*s.size : (s.used+1)*s.size : (s.used+1)*s.size]
		l, next := encap.SegmentTCP(slot[segHeadroom:], &s.pkt, mss, start)
		if l == 0 {
			return n
		}
		s.used++
		frames[n] = link.Frame{Buf: slot, Off: segHeadroom, Len: l, Ifindex: ifindex, Handle: noBlock}
		n++
		if next == 0 {
			return n
		}
		start = next
	}
}

// free is the number of unused scratch slots.
func (s *segmenter) free() int { return segSlots - s.used }
