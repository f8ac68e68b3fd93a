package forwarder

import (
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// sum16 is the slow, obvious one's-complement sum of RFC 1071.
func sum16(b []byte, acc uint32) uint32 {
	for len(b) >= 2 {
		acc += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// verifyChecksums checks the IPv4 header checksum and the transport or ICMP
// checksum of every IP layer in p (outer and, for tunnels, inner).
func verifyChecksums(t testing.TB, p gopacket.Packet) {
	t.Helper()
	var pseudo func(proto uint8, length int) uint32
	for _, l := range p.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			if fold(sum16(v.Contents, 0)) != 0xffff {
				t.Errorf("bad IPv4 header checksum %#04x", v.Checksum)
			}
			src, dst := v.SrcIP.To4(), v.DstIP.To4()
			pseudo = func(proto uint8, length int) uint32 {
				return sum16(src, sum16(dst, uint32(proto)+uint32(length)))
			}
		case *layers.IPv6:
			src, dst := v.SrcIP.To16(), v.DstIP.To16()
			pseudo = func(proto uint8, length int) uint32 {
				return sum16(src, sum16(dst, uint32(proto)+uint32(length)))
			}
		case *layers.TCP:
			seg := append(append([]byte(nil), v.Contents...), v.Payload...)
			if fold(sum16(seg, pseudo(6, len(seg)))) != 0xffff {
				t.Errorf("bad TCP checksum %#04x", v.Checksum)
			}
		case *layers.UDP:
			if v.Checksum == 0 {
				continue // IPv4 UDP without checksum
			}
			seg := append(append([]byte(nil), v.Contents...), v.Payload...)
			if fold(sum16(seg, pseudo(17, len(seg)))) != 0xffff {
				t.Errorf("bad UDP checksum %#04x", v.Checksum)
			}
		case *layers.ICMPv4:
			msg := append(append([]byte(nil), v.Contents...), v.Payload...)
			if fold(sum16(msg, 0)) != 0xffff {
				t.Errorf("bad ICMP checksum %#04x", v.Checksum)
			}
			return // the quoted packet may be truncated
		case *layers.ICMPv6:
			msg := append(append([]byte(nil), v.Contents...), v.Payload...)
			if fold(sum16(msg, pseudo(58, len(msg)))) != 0xffff {
				t.Errorf("bad ICMPv6 checksum %#04x", v.Checksum)
			}
			return // the quoted packet may be truncated
		}
	}
}
