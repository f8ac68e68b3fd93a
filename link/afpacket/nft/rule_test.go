package nft

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestRuleString: a rule reads in nft's raw-payload syntax, the form errors
// and afpacket's rule tests show.
func TestRuleString(t *testing.T) {
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		{Rule{Matches: []Match{{Meta: true, Op: unix.NFT_CMP_EQ, Data: []byte{0x08, 0x00}}}, Verdict: unix.NFT_JUMP, Target: "v4"},
			"meta protocol == 0x0800 jump v4"},
		{Rule{Matches: []Match{{Base: unix.NFT_PAYLOAD_NETWORK_HEADER, Off: 6, Op: unix.NFT_CMP_NEQ, Data: []byte{0, 0}, Mask: []byte{0x3f, 0xff}}}, Verdict: unix.NFT_RETURN},
			"@nh,48,16 & 0x3fff != 0x0000 return"},
		{Rule{Matches: []Match{{L4Proto: true, Op: unix.NFT_CMP_EQ, Data: []byte{6}}, {Base: unix.NFT_PAYLOAD_TRANSPORT_HEADER, Off: 2, Op: unix.NFT_CMP_GTE, Data: []byte{0, 80}}}, Verdict: Drop},
			"meta l4proto == 0x06 @th,16,16 >= 0x0050 drop"},
		{Rule{Matches: []Match{{ExtHdr: unix.IPPROTO_ROUTING, Off: 3, Op: unix.NFT_CMP_NEQ, Data: []byte{0}}}, Verdict: Accept},
			"@exthdr43,24,8 != 0x00 accept"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
