package link

// Hop is where a packet toward some destination leaves the director: the
// egress interface, the MACs to write and the interface's MTU and address.
// A router finds it (forwarder.Router); the engine writes it into the frame
// it hands to Queue.Send.
type Hop struct {
	Ifindex int
	SrcMAC  [6]byte
	DstMAC  [6]byte
	MTU     int
	// Src is the director's own address on the egress interface, in 16-byte
	// form: the outer source of tunnelled packets and the source of ICMP
	// errors the director sends.
	Src [16]byte
}
