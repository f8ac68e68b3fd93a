package encap

import "encoding/binary"

// setV4Mapped stores the v4-mapped form of the 4 address bytes b into dst
// with two 8-byte stores straight into the destination. (Building the array in
// a temporary and copying it out costs a store-forwarding stall: narrow
// stores read back by one 16-byte load.) flow.AddrFrom4 is the same form.
func setV4Mapped(dst *[16]byte, b []byte) {
	binary.LittleEndian.PutUint64(dst[:8], 0)
	binary.BigEndian.PutUint64(dst[8:], 0xffff<<32|uint64(be32(b)))
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func put16(b []byte, v uint16) { binary.BigEndian.PutUint16(b, v) }
func put32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
