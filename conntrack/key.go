package conntrack

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/xvs-project/xvs/flow"
)

// Key kinds keep the three key spaces of the table apart.
const (
	// KindConn is a connection's forward tuple: client -> virtual service.
	KindConn uint8 = iota
	// KindReply is a NAT connection's reply tuple: real server -> client.
	KindReply
	// KindTemplate is a persistence template: client network -> service.
	KindTemplate
)

// Key is a packed, pointer-free, comparable tuple and the key space it lives
// in. Addresses are 16 bytes; IPv4 addresses are v4-mapped (::ffff:a.b.c.d),
// as netip.Addr.As16 gives them (see flow.Tuple).
type Key struct {
	flow.Tuple
	Kind uint8 // KindConn, KindReply or KindTemplate
}

// ConnKey returns the forward key of a client's packet with tuple t.
func ConnKey(t *flow.Tuple) Key { return Key{Tuple: *t, Kind: KindConn} }

// ReplyKey returns the key a NAT connection's replies are found by, for a
// client's packet with tuple t scheduled to the real server at rs:port: the
// real server's end to the client's.
func ReplyKey(t *flow.Tuple, rs [16]byte, port uint16) Key {
	return Key{Tuple: flow.Tuple{Src: rs, Dst: t.Src, SrcPort: port, DstPort: t.SrcPort, Proto: t.Proto},
		Kind: KindReply}
}

// TemplateKey returns the key of a persistence template: the client's
// address under mask, and the service's id in the first four bytes of Dst,
// so that every port of a service (a port-0 service, a service group) shares
// one template per client network. Ports are 0.
func TemplateKey(proto uint8, client, mask *[16]byte, service uint32) Key {
	k := Key{Kind: KindTemplate}
	for i := range k.Src {
		k.Src[i] = client[i] & mask[i]
	}
	binary.BigEndian.PutUint32(k.Dst[:4], service)
	k.Proto = proto
	return k
}

// String formats k for logs and tests: "tcp 198.18.0.1:40000 -> 198.18.1.1:80".
func (k Key) String() string {
	kind := ""
	switch k.Kind {
	case KindReply:
		kind = " reply"
	case KindTemplate:
		kind = " template"
	case KindConn:
	default:
		kind = fmt.Sprintf(" kind%d", k.Kind)
	}
	return fmt.Sprintf("%s%s %s -> %s", protoName(k.Proto), kind,
		netip.AddrPortFrom(netip.AddrFrom16(k.Src).Unmap(), k.SrcPort),
		netip.AddrPortFrom(netip.AddrFrom16(k.Dst).Unmap(), k.DstPort))
}

func protoName(p uint8) string {
	switch p {
	case flow.TCP:
		return "tcp"
	case flow.UDP:
		return "udp"
	case flow.ICMP, flow.ICMPv6:
		return "icmp"
	}
	return fmt.Sprintf("proto%d", p)
}

// addrWords splits a 16-byte address into the two words an entry stores.
func addrWords(a *[16]byte) (uint64, uint64) {
	return binary.LittleEndian.Uint64(a[0:8]), binary.LittleEndian.Uint64(a[8:16])
}

func wordsAddr(w0, w1 uint64) (a [16]byte) {
	binary.LittleEndian.PutUint64(a[0:8], w0)
	binary.LittleEndian.PutUint64(a[8:16], w1)
	return a
}

// Hashing. The shard comes from the client's end alone (source of a forward
// or template key, destination of a reply key), so a NAT connection's two keys
// land in one shard and index slots can name entries by shard-local number.
// The bucket and tag come from a second mix over the rest of the tuple. Both
// are folded multiplies (wyhash's mixer) keyed by per-table random seeds, so
// a remote sender cannot aim many flows at one bucket without knowing them.

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

type seeds [5]uint64

// client hashes the client's address and port.
func (s *seeds) client(a0, a1 uint64, port uint16) uint64 {
	// a1 holds the low 8 address bytes; for v4-mapped addresses its low 16
	// bits are zero, so the port does not cancel address bits. For those
	// addresses a0 is fixed, and one folded multiply by a fixed operand
	// leaves the top bits (which pick the shard) skewed for some seeds:
	// 1 M clients once put 8640 entries in a shard expecting 7813, past
	// its slab. The second round makes the worst of 300 seeds 8141.
	return mix(mix(a0^s[0], a1^s[1]^uint64(port)<<3), s[4])
}

// full hashes the other end, the protocol and kind on top of the client hash.
func (s *seeds) full(hc, b0, b1 uint64, port uint16, proto, kind uint8) uint64 {
	h := mix(hc^b0^s[2], b1^s[3])
	return mix(h^(uint64(port)|uint64(proto)<<16|uint64(kind)<<24), hc|1)
}
