package link

// MinHeadroom is the headroom every backend guarantees in front of a frame
// it hands out (Frame.Off >= MinHeadroom), and what the engine relies on to
// push headers in place: an IPv6 outer header with a GUE header (52 bytes)
// and a VLAN tag (4) fit with room to spare. It is the smallest of the
// backends' own: AF_PACKET's 142 (PACKET_RESERVE plus the TPACKET_V3 frame
// header, less a VLAN tag put back; afpacket.MinHeadroom), while AF_XDP
// leaves the kernel's XDP_PACKET_HEADROOM (256) and linktest 256 as well.
const MinHeadroom = 142

// Frame is one packet in a buffer owned by a backend (or, for packets the
// engine generates, by the worker). The packet is Buf[Off:Off+Len]; the
// bytes before Off are headroom, so a tunnel header can be pushed in place.
// A received frame has at least MinHeadroom of it.
type Frame struct {
	Buf      []byte
	Off, Len int
	// Ifindex is the interface the frame arrived on (Recv) or must leave by
	// (Send).
	Ifindex int
	// Handle is the backend's own reference to the buffer of a received
	// frame (a UMEM address, a ring block): set by Recv, read back by
	// Release, and meaningless to anyone else. The engine copies it with the
	// frame and never changes it.
	Handle uint64
}

// Data returns the packet bytes.
func (f *Frame) Data() []byte { return f.Buf[f.Off : f.Off+f.Len] }
