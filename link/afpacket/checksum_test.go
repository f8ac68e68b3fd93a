package afpacket

import "github.com/xvs-project/xvs/encap"

// sum16 is the folded ones' complement sum of b (RFC 1071), uncomplemented,
// as the tests' frame builders and checks use it.
func sum16(b []byte) uint16 { return ^encap.Checksum(b, 0) }
