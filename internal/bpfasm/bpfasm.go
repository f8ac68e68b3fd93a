// Package bpfasm owns the constants every XDP program generated in this
// module with cilium/ebpf's asm package shares: the XDP verdicts, the
// offsets of struct xdp_md, and packet constants in the form a native-endian
// load yields, so programs compare header fields without byte swaps. The
// xdpprog programs and the bench's sink and bounce programs take them from
// here instead of each keeping a copy.
package bpfasm

import "encoding/binary"

// XDP verdicts (enum xdp_action).
const (
	XDPDrop     = 1
	XDPPass     = 2
	XDPRedirect = 4
)

// Offsets of the struct xdp_md fields the programs read.
const (
	MDData         = 0
	MDDataEnd      = 4
	MDDataMeta     = 8
	MDRxQueueIndex = 16
)

// EtherTypes as a native-endian 16-bit load from the frame yields them.
var (
	EtherIPv4 = NetConst16(0x0800)
	EtherIPv6 = NetConst16(0x86dd)
	EtherVLAN = NetConst16(0x8100)
	EtherQinQ = NetConst16(0x88a8)
)

// NetConst16 returns the value a native-endian 16-bit load of the
// big-endian bytes of v produces.
func NetConst16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// NetConst32 returns the value a native-endian 32-bit load of b produces,
// sign-extended the way a 32-bit immediate is.
func NetConst32(b [4]byte) int32 {
	return int32(binary.NativeEndian.Uint32(b[:]))
}
