package afpacket

import "github.com/xvs-project/xvs/encap"

// completeChecksum finishes the TCP or UDP checksum of an untagged Ethernet
// frame the kernel marked CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY): traffic
// from a local sender over veth carries only the pseudo-header sum in the
// checksum field and expects a device to add the rest. A forwarded copy
// would otherwise leave with a wrong checksum. The parse and the sum are
// encap's (encap.CompletePartialChecksum), the module's one checksum code;
// p is the caller's scratch. It reports whether it completed one; other
// frames are left alone.
func completeChecksum(frame []byte, p *encap.Packet) bool {
	encap.Parse(frame, p)
	return encap.CompletePartialChecksum(p)
}
