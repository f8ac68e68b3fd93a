package encap

import (
	"encoding/hex"
	"testing"
)

// TestChecksum: the exported checksum against published examples: RFC 1071
// section 3's worked sum, an IPv4 header whose checksum is well known, an
// odd length, and a UDP datagram with its pseudo-header.
func TestChecksum(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hex     string
		initial uint64
		want    uint16
	}{
		{"rfc1071", "0001f203f4f5f6f7", 0, ^uint16(0xddf2)},
		{"ipv4-header", "450000730000400040110000c0a80001c0a800c7", 0, 0xb861},
		{"odd", "01", 0, ^uint16(0x0100)},
		{"empty", "", 0, 0xffff},
		// UDP 198.18.0.1:1024 -> 198.18.0.2:53, payload "hi", checksum
		// field zero: the pseudo-header sum goes in as initial. By hand:
		// 0x18c42 (pseudo) + 0x6ca8 (datagram) folds to 0xf8eb.
		{"udp-pseudo", "04000035000a00006869",
			PseudoHeaderSum([]byte{198, 18, 0, 1}, []byte{198, 18, 0, 2}, 17, 10), 0x0714},
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := Checksum(b, tc.initial); got != tc.want {
			t.Errorf("%s: Checksum = %#04x, want %#04x", tc.name, got, tc.want)
		}
	}
}
