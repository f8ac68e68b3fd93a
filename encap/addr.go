package encap

import "encoding/binary"

// v4MappedPrefix is ::ffff:0:0/96 (RFC 4291, section 2.5.5.2).
var v4MappedPrefix = [12]byte{10: 0xff, 11: 0xff}

// AddrFrom4 returns the v4-mapped form (::ffff:a.b.c.d) of an IPv4 address,
// the form every IPv4 address takes in this package.
func AddrFrom4(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// IsV4Mapped reports whether a is a v4-mapped IPv4 address.
func IsV4Mapped(a [16]byte) bool {
	return [12]byte(a[:12]) == v4MappedPrefix
}

// setV4Mapped stores the v4-mapped form of the 4 address bytes b into dst
// with two 8-byte stores straight into the destination. (Building the array in
// a temporary and copying it out costs a store-forwarding stall: narrow
// stores read back by one 16-byte load.)
func setV4Mapped(dst *[16]byte, b []byte) {
	binary.LittleEndian.PutUint64(dst[:8], 0)
	binary.BigEndian.PutUint64(dst[8:], 0xffff<<32|uint64(be32(b)))
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
