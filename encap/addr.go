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

// v4Mapped builds the v4-mapped address from 4 bytes of a header: two 8-byte
// stores instead of sixteen byte stores.
func v4Mapped(b []byte) (a [16]byte) {
	binary.BigEndian.PutUint64(a[8:], 0xffff<<32|uint64(be32(b)))
	return a
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
