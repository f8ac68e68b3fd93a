package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/internal/packettest"
)

// Proto is the kind of traffic a generator sends.
type Proto uint8

// Traffic kinds: UDP datagrams of a fixed size, or TCP SYNs (each flow a new
// connection attempt).
const (
	UDP Proto = 17
	SYN Proto = 6
)

// String returns "udp" or "syn".
func (p Proto) String() string {
	switch p {
	case UDP:
		return "udp"
	case SYN:
		return "syn"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Frame sizes follow RFC 2544: they count the 4-byte Ethernet FCS, which a
// veth never carries, so a "64-byte" frame is 60 bytes in memory.
const (
	fcsLen       = 4
	MinFrameSize = 64
	MaxFrameSize = 1518
)

// Source-flow numbering: flow i comes from address SrcBase + i/PortsPerAddr
// and port FirstSrcPort + i%PortsPerAddr, so a million flows use 20 source
// addresses and 1 to 50 000 flows a single one.
const (
	PortsPerAddr = 50000
	FirstSrcPort = 10000
)

// ErrFlowSpec wraps every problem with a FlowSpec.
var ErrFlowSpec = errors.New("invalid flow spec")

// FlowSpec describes the frames of one load.
type FlowSpec struct {
	SrcMAC, DstMAC net.HardwareAddr
	// SrcBase is the first source address (IPv4).
	SrcBase netip.Addr
	// Dsts are the destination addresses; flow i goes to Dsts[i%len(Dsts)].
	Dsts    []netip.Addr
	DstPort uint16
	Proto   Proto
	// Size is the frame size including the FCS (see MinFrameSize).
	Size int
}

// Frame offsets of the untagged Ethernet + IPv4 (IHL 5) frames built here.
const (
	offEtherType = 12
	offIP        = 14
	offIPLen     = offIP + 2
	offIPFlags   = offIP + 6
	offTTL       = offIP + 8
	offProto     = offIP + 9
	offIPCsum    = offIP + 10
	offSrc       = offIP + 12
	offDst       = offIP + 16
	offL4        = offIP + 20
	offSport     = offL4
	offDport     = offL4 + 2
	offUDPLen    = offL4 + 4
	offUDPCsum   = offL4 + 6
	offTCPSeq    = offL4 + 4
	offTCPOff    = offL4 + 12
	offTCPFlags  = offL4 + 13
	offTCPWin    = offL4 + 14
	offTCPCsum   = offL4 + 16
	udpHdrLen    = 8
	tcpHdrLen    = 20
)

// FrameBuilder writes the frames of a FlowSpec. Init writes a frame's
// constant part once (headers and payload); Patch then writes one flow's
// addresses, ports and checksums into it without touching the payload, so a
// generator reuses its frames for millions of flows at a few nanoseconds per
// frame.
type FrameBuilder struct {
	spec     FlowSpec
	template []byte
	dsts     []uint32
	srcBase  uint32
	ipBase   uint32 // ones'-complement sum of the constant IPv4 header words
	l4Base   uint32 // same for the L4 checksum: pseudo-header constants, header constants, payload
}

// NewFrameBuilder validates spec and prepares the template frame.
func NewFrameBuilder(spec FlowSpec) (*FrameBuilder, error) {
	if len(spec.SrcMAC) != 6 || len(spec.DstMAC) != 6 {
		return nil, fmt.Errorf("%w: MAC addresses must have 6 bytes", ErrFlowSpec)
	}
	if !spec.SrcBase.Is4() || len(spec.Dsts) == 0 {
		return nil, fmt.Errorf("%w: need an IPv4 source and at least one destination", ErrFlowSpec)
	}
	if spec.Size < MinFrameSize || spec.Size > MaxFrameSize {
		return nil, fmt.Errorf("%w: size %d not in %d..%d", ErrFlowSpec, spec.Size, MinFrameSize, MaxFrameSize)
	}
	if spec.Proto != UDP && spec.Proto != SYN {
		return nil, fmt.Errorf("%w: %v", ErrFlowSpec, spec.Proto)
	}
	b := &FrameBuilder{spec: spec, srcBase: be32(spec.SrcBase)}
	for _, d := range spec.Dsts {
		if !d.Is4() {
			return nil, fmt.Errorf("%w: destination %v is not IPv4", ErrFlowSpec, d)
		}
		b.dsts = append(b.dsts, be32(d))
	}
	n := spec.Size - fcsLen
	ipLen := n - offIP
	if spec.Proto == SYN {
		ipLen = 20 + tcpHdrLen // the rest of the frame is Ethernet padding
	}
	// The constant part comes from the module's one frame builder with
	// zero addresses and source port; Patch writes those per flow, with
	// both checksums, from the partial sums taken here.
	p := packettest.Packet{SrcMAC: spec.SrcMAC, DstMAC: spec.DstMAC,
		Src: netip.IPv4Unspecified(), Dst: netip.IPv4Unspecified(),
		DF:    true, // an atomic datagram: the ID does not matter
		Proto: uint8(spec.Proto), Dport: spec.DstPort, SYN: spec.Proto == SYN}
	if spec.Proto == UDP {
		p.Payload = make([]byte, ipLen-20-udpHdrLen)
		for i := range p.Payload {
			p.Payload[i] = "xvs-bench "[i%10]
		}
	}
	t := make([]byte, n)
	if m := copy(t, p.Frame()); m != offIP+ipLen {
		return nil, fmt.Errorf("%w: built %d bytes, want %d", ErrFlowSpec, m, offIP+ipLen)
	}
	t[offIPCsum], t[offIPCsum+1] = 0, 0
	b.ipBase = partialSum(t[offIP:offSrc], 0) // src, dst and checksum are zero here
	l4Len := ipLen - 20
	switch spec.Proto {
	case UDP:
		t[offUDPCsum], t[offUDPCsum+1] = 0, 0
		// Pseudo-header proto and length, then dport, length and payload.
		b.l4Base = partialSum(t[offDport:offIP+ipLen], uint64(spec.Proto)+uint64(l4Len))
	case SYN:
		t[offTCPCsum], t[offTCPCsum+1] = 0, 0
		// Header words except ports and sequence number (patched per flow).
		b.l4Base = partialSum(t[offTCPSeq+4:offL4+tcpHdrLen], uint64(spec.Proto)+uint64(l4Len)) +
			uint32(spec.DstPort)
	}
	b.template = t
	return b, nil
}

// Len returns the frame length in memory (Size minus the FCS).
func (b *FrameBuilder) Len() int { return len(b.template) }

// Init writes the constant part of a frame into f[:Len()].
func (b *FrameBuilder) Init(f []byte) { copy(f, b.template) }

// Tuple returns flow's source address and port and its destination.
func (b *FrameBuilder) Tuple(flow uint64) (src netip.Addr, sport uint16, dst netip.Addr) {
	s, sp, d := b.tuple(flow)
	return addr4(s), sp, addr4(d)
}

func (b *FrameBuilder) tuple(flow uint64) (src uint32, sport uint16, dst uint32) {
	src = b.srcBase + uint32(flow/PortsPerAddr)
	sport = uint16(FirstSrcPort + flow%PortsPerAddr)
	dst = b.dsts[flow%uint64(len(b.dsts))]
	return src, sport, dst
}

// Patch writes flow's addresses, ports and checksums into f, which Init
// prepared. It does not allocate.
func (b *FrameBuilder) Patch(f []byte, flow uint64) {
	src, sport, dst := b.tuple(flow)
	_ = f[offL4+tcpHdrLen-1] // one bounds check for all writes below
	binary.BigEndian.PutUint32(f[offSrc:], src)
	binary.BigEndian.PutUint32(f[offDst:], dst)
	binary.BigEndian.PutUint16(f[offSport:], sport)
	addrs := src>>16 + src&0xffff + dst>>16 + dst&0xffff
	binary.BigEndian.PutUint16(f[offIPCsum:], ^fold(b.ipBase+addrs))
	l4 := b.l4Base + addrs + uint32(sport)
	if b.spec.Proto == SYN {
		seq := uint32(flow * 2654435761) // any per-flow initial sequence number
		binary.BigEndian.PutUint32(f[offTCPSeq:], seq)
		binary.BigEndian.PutUint16(f[offTCPCsum:], ^fold(l4+seq>>16+seq&0xffff))
		return
	}
	c := ^fold(l4)
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(f[offUDPCsum:], c)
}

// Frame returns a new, complete frame of flow.
func (b *FrameBuilder) Frame(flow uint64) []byte {
	f := make([]byte, b.Len())
	b.Init(f)
	b.Patch(f, flow)
	return f
}

// partialSum is the ones'-complement sum of b on top of acc, folded to 16
// bits but not complemented: a base that Patch adds per-flow words to.
func partialSum(b []byte, acc uint64) uint32 { return uint32(^encap.Checksum(b, acc)) }

// fold reduces a 32-bit ones'-complement accumulator to 16 bits. Patch
// folds here rather than calling encap.Checksum(nil, acc): that call does
// not inline (its summing loop) and Patch runs once per generated frame.
func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
