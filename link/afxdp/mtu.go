package afxdp

import (
	"errors"
	"fmt"

	"github.com/xvs-project/xvs/link"
)

// UMEM chunk sizes. Copy mode takes power-of-two chunks of at most a page,
// and the kernel puts every received frame XDP_PACKET_HEADROOM bytes into
// its chunk, so a 2048-byte chunk holds frames of at most 1792 bytes: at a
// larger MTU, longer frames would be dropped by the kernel (rx_dropped) and
// never reach a worker.
const (
	xdpSmallFrame     = 2048
	xdpLargeFrame     = 4096
	xdpPacketHeadroom = 256 // XDP_PACKET_HEADROOM
	// xdpL2Overhead is the Ethernet header and one VLAN tag on top of the MTU.
	xdpL2Overhead = 14 + 4
)

// The kernel's receive headroom is what this backend guarantees in front of
// a frame; it must cover the engine's need (a compile error otherwise).
const _ = uint(xdpPacketHeadroom - link.MinHeadroom)

// MaxMTU is the largest interface MTU the AF_XDP backend can serve.
const MaxMTU = xdpLargeFrame - xdpPacketHeadroom - xdpL2Overhead

// ErrMTUTooLarge is what an MTUError matches with errors.Is.
var ErrMTUTooLarge = errors.New("MTU too large for AF_XDP")

// MTUError says that an interface's MTU is larger than the AF_XDP backend
// can receive: its frames would not fit a UMEM chunk and the kernel would
// drop them.
type MTUError struct {
	Iface string
	MTU   int
	// Max is the largest MTU the chunk size allows.
	Max int
	// FrameSize is the chunk size the limit comes from.
	FrameSize int
}

func (e *MTUError) Error() string {
	return fmt.Sprintf("interface %q: MTU %d is larger than the AF_XDP backend can receive (at most %d with %d-byte frames); lower the MTU or use --backend afpacket",
		e.Iface, e.MTU, e.Max, e.FrameSize)
}

// Is matches ErrMTUTooLarge.
func (e *MTUError) Is(target error) bool { return target == ErrMTUTooLarge }

// FrameSizeFor returns the UMEM chunk size that holds a full-sized frame
// (MTU plus Ethernet header and one VLAN tag) at the kernel's receive
// headroom for an interface of the given MTU, or an *MTUError.
func FrameSizeFor(iface string, mtu int) (int, error) {
	switch need := mtu + xdpL2Overhead + xdpPacketHeadroom; {
	case need <= xdpSmallFrame:
		return xdpSmallFrame, nil
	case need <= xdpLargeFrame:
		return xdpLargeFrame, nil
	}
	return 0, &MTUError{Iface: iface, MTU: mtu, Max: MaxMTU, FrameSize: xdpLargeFrame}
}
