package encap_test

import (
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/encap"
)

// A NAT worker's inner loop for one frame: classify, rewrite in place, and
// check the result (VerifyChecksums is for tests; the hot path skips it).
func Example() {
	// 198.18.0.10:40000 -> VIP 198.18.1.100:80, TCP SYN, Ethernet padded to 60 bytes.
	frame, _ := hex.DecodeString("02000000000202000000000108004500002a1234400040069b07c612000ac61201649c40" +
		"0050000003e8000000005002faf01e7b0000686900000000")
	var p encap.Packet // one per worker, reused for every frame
	switch encap.Parse(frame, &p) {
	case encap.KindTCP, encap.KindUDP:
		real := netip.MustParseAddr("198.18.2.20").As16() // v4-mapped
		encap.DNAT(&p, real, 8080)
		if !encap.DecTTL(&p) {
			return // the kernel would answer time exceeded
		}
		encap.SetMACs(&p, [6]byte{0x02, 0, 0, 0, 0, 0x03}, [6]byte{0x02, 0, 0, 0, 0, 0x02})
	case encap.KindICMPError:
		// look up the flow by p.Inner.Src/Inner.Dst/ports, then ICMPErrorToReal
	default:
		return // count p.Kind() and drop or pass to the kernel
	}
	fmt.Println(netip.AddrFrom16(p.Dst).Unmap(), p.DstPort, p.TTL, encap.VerifyChecksums(&p))
	// Output: 198.18.2.20 8080 63 true
}

// Encapsulating for TUN forwarding: the frame sits at a headroom offset so
// the outer header goes in front of it without a copy of the payload.
func ExamplePushTunnel() {
	frame, _ := hex.DecodeString("02000000000202000000000108004500002a1234400040069b07c612000ac61201649c40" +
		"0050000003e8000000005002faf01e7b0000686900000000")
	const headroom = 64
	buf := make([]byte, headroom+len(frame))
	copy(buf[headroom:], frame)

	var p encap.Packet
	encap.Parse(buf[headroom:], &p)
	dip := netip.MustParseAddr("198.18.1.1").As16()
	rip := netip.MustParseAddr("198.18.2.20").As16()
	off, n, ok := encap.PushTunnel(buf, headroom, len(frame), &p, encap.Tunnel{}, dip, rip, 1)

	var outer encap.Packet
	kind := encap.Parse(buf[off:off+n], &outer)
	fmt.Println(ok, off, n, kind, outer.Proto, netip.AddrFrom16(outer.Dst).Unmap())
	// Output: true 44 76 other-l4 4 198.18.2.20
}
