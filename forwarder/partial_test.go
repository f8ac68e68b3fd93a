package forwarder

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/xvs-project/xvs/service"
)

// partial turns a built frame's TCP/UDP checksum into what a sender with TX
// checksum offload hands its device: the folded pseudo-header sum
// (CHECKSUM_PARTIAL). Untagged frames only.
func partial(frame []byte) []byte {
	var l3, l4 int = 14, 0
	var src, dst []byte
	var proto uint8
	if binary.BigEndian.Uint16(frame[12:]) == 0x0800 {
		l4 = l3 + int(frame[l3]&0x0f)*4
		src, dst, proto = frame[l3+12:l3+16], frame[l3+16:l3+20], frame[l3+9]
	} else {
		l4 = l3 + 40
		src, dst, proto = frame[l3+8:l3+24], frame[l3+24:l3+40], frame[l3+6]
	}
	n := len(frame) - l4
	field := l4 + 16
	if proto == 17 {
		field = l4 + 6
	}
	binary.BigEndian.PutUint16(frame[field:], fold(sum16(src, sum16(dst, uint32(proto)+uint32(n)))))
	return frame
}

// TestPartialChecksums: in every mode, both families, TCP and UDP, a frame
// with a partial checksum leaves with a complete, valid one — the NAT
// request and the NAT reply too (real servers offload as well).
func TestPartialChecksums(t *testing.T) {
	for _, m := range []service.Method{service.MethodNAT, service.MethodDR, service.MethodTUN} {
		for _, vip := range []netip.Addr{vip4, vip6} {
			for _, udp := range []bool{false, true} {
				client := client4
				if vip.Is6() {
					client = client6
				}
				proto := service.TCP
				if udp {
					proto = service.UDP
				}
				t.Run(fmt.Sprintf("%v/%v/udp=%v", m, vip, udp), func(t *testing.T) {
					port := uint16(0)
					if m == service.MethodNAT {
						port = 8080
					}
					e, mem := newTestEngine(t, testService(proto, vip, 80, "rr", m, port, 1))
					in := partial(buildFrame(t, pkt{src: client, dst: vip, sport: 40000, dport: 80, syn: !udp, udp: udp, payload: 101}))
					out := run(e, mem, in)
					if len(out) != 1 {
						t.Fatalf("sent %d frames, want 1", len(out))
					}
					p := checkFrame(t, out[0].Data)
					if m != service.MethodNAT {
						return
					}
					_, d := p.NetworkLayer().NetworkFlow().Endpoints()
					real := addrOf(t, d.Raw())
					reply := partial(buildFrame(t, pkt{src: real, dst: client, sport: 8080, dport: 40000, syn: !udp, ack: !udp, udp: udp,
						payload: 33, srcMAC: [6]byte{0x02, 0, 0, 0, 0x01, 1}, dstMAC: macDirInt}))
					out = run(e, mem, reply)
					if len(out) != 1 {
						t.Fatalf("reply: sent %d frames, want 1", len(out))
					}
					checkFrame(t, out[0].Data)
				})
			}
		}
	}
}
