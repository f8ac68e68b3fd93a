package sched

import (
	"encoding/binary"
	"math/bits"

	"github.com/xvs-project/xvs/flow"
)

// Flow is what a scheduler may look at: the first packet's tuple (addresses 16 bytes, IPv4 v4-mapped, see
// flow.Tuple) and its family, 4 or 6.
type Flow struct {
	flow.Tuple
	Family uint8
}

// hashPort is the port sh-port / mh-port hash: the source port for TCP, UDP and SCTP, whose first four payload
// bytes are the ports (the kernel's ip_vs_sh_get_port), 0 otherwise.
func (f *Flow) hashPort() uint16 {
	switch f.Proto {
	case flow.TCP, flow.UDP, flow.SCTP:
		return f.SrcPort
	}
	return 0
}

// foldAddr is the kernel's addr_fold after ntohl: the IPv4 address, or the XOR of the four 32-bit words of an IPv6
// address.
func foldAddr(a *[16]byte, v6 bool) uint32 {
	if !v6 {
		return binary.BigEndian.Uint32(a[12:])
	}
	return binary.BigEndian.Uint32(a[0:]) ^ binary.BigEndian.Uint32(a[4:]) ^
		binary.BigEndian.Uint32(a[8:]) ^ binary.BigEndian.Uint32(a[12:])
}

// foldDest folds a real server's address. The kernel folds with the service's family; a v4 real server in an IPv6
// service has zeros beyond its 4 bytes, so folding by the address's own family gives the same value.
func foldDest(d *Dest) uint32 { return foldAddr(&d.Addr, !flow.IsV4Mapped(&d.Addr)) }

// hash32 is the kernel's hash_32(val, bits): multiply by GOLDEN_RATIO_32, keep the top bits.
func hash32(val uint32, nbits uint) uint32 { return (val * 0x61C88647) >> (32 - nbits) }

// multHash is the older multiplicative hash (x * 2654435761) that dh still uses; only low bits are kept.
func multHash(val uint32) uint32 { return val * 2654435761 }

// hsiphash32 is the kernel's hsiphash() of one u32 on 64-bit little-endian machines, where "HalfSipHash" is
// SipHash-1-3 with 64-bit lanes and the result truncated to 32 bits. Both key words are k (ip_vs_mh uses equal
// words).
func hsiphash32(v uint32, k uint64) uint32 {
	v0 := 0x736f6d6570736575 ^ k
	v1 := 0x646f72616e646f6d ^ k
	v2 := 0x6c7967656e657261 ^ k
	v3 := 0x7465646279746573 ^ k
	b := uint64(4)<<56 | uint64(v)
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
