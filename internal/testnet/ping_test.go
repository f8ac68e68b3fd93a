package testnet

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestEchoRequestChecksum checks the ICMPv4 echo requests Ping sends against
// a plain big-integer ones'-complement sum: a message carrying its own
// checksum sums to 0xffff. ICMPv6's checksum is the kernel's, so that field
// stays zero.
func TestEchoRequestChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		id, seq := uint16(r.Uint32()), uint16(r.Uint32())
		m := echoRequest(icmp4EchoRequest, id, seq, true)
		var sum uint64
		for i := 0; i < len(m); i += 2 {
			w := uint64(m[i]) << 8
			if i+1 < len(m) {
				w |= uint64(m[i+1])
			}
			sum += w
		}
		for sum > 0xffff {
			sum = sum%0x10000 + sum/0x10000
		}
		if sum != 0xffff {
			t.Fatalf("id %d seq %d: % x sums to %#04x, want 0xffff", id, seq, m, sum)
		}
		if m6 := echoRequest(icmp6EchoRequest, id, seq, false); binary.BigEndian.Uint16(m6[2:]) != 0 {
			t.Fatalf("ICMPv6 echo request carries checksum %#04x; the kernel fills it", binary.BigEndian.Uint16(m6[2:]))
		}
	}
}
