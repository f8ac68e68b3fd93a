package bpfasm

import (
	"encoding/binary"
	"testing"
)

// TestNetConst: the constants equal what a native-endian load of the
// frame's big-endian bytes gives.
func TestNetConst(t *testing.T) {
	f := []byte{0x86, 0xdd, 0xc6, 0x12, 0x00, 0x01}
	if got := int32(binary.NativeEndian.Uint16(f)); got != EtherIPv6 {
		t.Errorf("load %#x, EtherIPv6 %#x", got, EtherIPv6)
	}
	if got := int32(binary.NativeEndian.Uint32(f[2:])); got != NetConst32([4]byte(f[2:6])) {
		t.Errorf("load %#x, NetConst32 %#x", got, NetConst32([4]byte(f[2:6])))
	}
}
