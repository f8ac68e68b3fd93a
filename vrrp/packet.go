package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/flow"
)

// Protocol facts of VRRP.
const (
	// IPProto is VRRP's IP protocol number.
	IPProto = flow.VRRP
	// TTL is the TTL (hop limit) every advertisement is sent and must be
	// received with: it proves the sender is on the link.
	TTL = 255
	// typeAdvert is the only VRRP message type.
	typeAdvert = 1
	headerLen  = 8
	authLen    = 8 // v2: authentication data after the addresses
	// OwnerPriority is the priority of the router that owns the addresses.
	OwnerPriority = 255
	// StopPriority is advertised by a master that is leaving.
	StopPriority = 0
	// maxInterval is v3's 12-bit interval in centiseconds.
	maxInterval = 0xfff * 10 * time.Millisecond
)

// Groups advertisements are sent to.
var (
	Group4 = netip.MustParseAddr("224.0.0.18")
	Group6 = netip.MustParseAddr("ff02::12")
)

// Auth types of version 2 (RFC 2338; RFC 3768 keeps the field and
// deprecates all but none; keepalived still speaks PASS).
const (
	AuthNone = 0
	AuthPass = 1
)

// Advert is one VRRP advertisement.
type Advert struct {
	Version  int // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds in version 2,
	// centiseconds in version 3.
	Interval time.Duration
	// AuthType and Auth are version 2's authentication (keepalived's
	// auth_type PASS / auth_pass: up to 8 bytes, zero-padded).
	AuthType uint8
	Auth     [authLen]byte
	// Addrs are the virtual addresses; all of the family of the packet.
	Addrs []netip.Addr
}

// Errors of Parse: the receiver discards the packet.
var (
	ErrTTL      = errors.New("vrrp: TTL is not 255")
	ErrShort    = errors.New("vrrp: packet too short")
	ErrVersion  = errors.New("vrrp: unknown version or type")
	ErrChecksum = errors.New("vrrp: bad checksum")
	ErrCount    = errors.New("vrrp: address count does not match the length")
	ErrInvalid  = errors.New("vrrp: advertisement cannot be sent")
)

// Marshal appends the advertisement a, sent from src to dst, to b. The
// checksum covers the message and, in version 3, the pseudo-header, unless
// v3NoPseudo (keepalived's v3_checksum_as_v2, for IPv4 peers that follow
// RFC 9568's wording) drops it for IPv4.
func Marshal(b []byte, a *Advert, src, dst netip.Addr, v3NoPseudo bool) ([]byte, error) {
	if err := a.check(src); err != nil {
		return b, err
	}
	start := len(b)
	b = append(b, byte(a.Version)<<4|typeAdvert, a.VRID, a.Priority, byte(len(a.Addrs)))
	if a.Version == 3 {
		b = binary.BigEndian.AppendUint16(b, uint16(a.Interval/(10*time.Millisecond))&0x0fff)
	} else {
		b = append(b, a.AuthType, byte(a.Interval/time.Second))
	}
	b = append(b, 0, 0) // checksum
	for _, ad := range a.Addrs {
		b = append(b, ad.AsSlice()...)
	}
	if a.Version == 2 {
		b = append(b, a.Auth[:]...)
	}
	msg := b[start:]
	binary.BigEndian.PutUint16(msg[6:], checksum(msg, a.Version, src, dst, v3NoPseudo))
	return b, nil
}

func (a *Advert) check(src netip.Addr) error {
	v6 := flow.IsIPv6(src)
	switch {
	case a.Version != 2 && a.Version != 3:
		return fmt.Errorf("version %d: %w", a.Version, ErrInvalid)
	case a.Version == 2 && v6:
		return fmt.Errorf("version 2 over IPv6: %w", ErrInvalid)
	case len(a.Addrs) == 0 || len(a.Addrs) > 255:
		return fmt.Errorf("%d addresses: %w", len(a.Addrs), ErrInvalid)
	case a.Version == 3 && (a.Interval < 10*time.Millisecond || a.Interval > maxInterval):
		return fmt.Errorf("interval %v outside 10ms..40.95s: %w", a.Interval, ErrInvalid)
	case a.Version == 2 && (a.Interval < time.Second || a.Interval > 255*time.Second):
		return fmt.Errorf("interval %v outside 1s..255s: %w", a.Interval, ErrInvalid)
	}
	for _, ad := range a.Addrs {
		if flow.IsIPv6(ad) != v6 {
			return fmt.Errorf("address %v of another family than %v: %w", ad, src, ErrInvalid)
		}
	}
	return nil
}

// checksum is VRRP's: the message with its checksum field zero, behind the
// pseudo-header for version 3 (always on IPv6; on IPv4 unless noPseudo).
func checksum(msg []byte, version int, src, dst netip.Addr, noPseudo bool) uint16 {
	var initial uint64
	v6 := flow.IsIPv6(src)
	if version == 3 && (v6 || !noPseudo) {
		s, d := src.Unmap().AsSlice(), dst.Unmap().AsSlice()
		initial = encap.PseudoHeaderSum(s, d, IPProto, len(msg))
	}
	c0, c1 := msg[6], msg[7]
	msg[6], msg[7] = 0, 0
	sum := encap.Checksum(msg, initial)
	msg[6], msg[7] = c0, c1
	return sum
}

// Parse reads the advertisement msg (the IP payload) received from src to
// dst with the given TTL or hop limit into a, reusing a.Addrs' storage. A
// version 3 IPv4 checksum is accepted with or without the pseudo-header,
// since implementations differ (keepalived's v3_checksum_as_v2).
func Parse(a *Advert, msg []byte, src, dst netip.Addr, ttl int) error {
	if ttl != TTL {
		return ErrTTL
	}
	if len(msg) < headerLen {
		return ErrShort
	}
	version := int(msg[0] >> 4)
	if (version != 2 && version != 3) || msg[0]&0x0f != typeAdvert {
		return ErrVersion
	}
	v6 := flow.IsIPv6(src)
	if version == 2 && v6 {
		return ErrVersion
	}
	alen := 4
	if v6 {
		alen = 16
	}
	n := int(msg[3])
	want := headerLen + n*alen
	if version == 2 {
		want += authLen
	}
	if len(msg) != want || n == 0 {
		return ErrCount
	}
	got := binary.BigEndian.Uint16(msg[6:])
	if got != checksum(msg, version, src, dst, false) &&
		(version != 3 || v6 || got != checksum(msg, version, src, dst, true)) {
		return ErrChecksum
	}
	a.Version, a.VRID, a.Priority = version, msg[1], msg[2]
	a.AuthType, a.Auth = 0, [authLen]byte{}
	if version == 3 {
		a.Interval = time.Duration(binary.BigEndian.Uint16(msg[4:])&0x0fff) * 10 * time.Millisecond
	} else {
		a.AuthType = msg[4]
		a.Interval = time.Duration(msg[5]) * time.Second
		copy(a.Auth[:], msg[headerLen+n*alen:])
	}
	a.Addrs = a.Addrs[:0]
	for i := range n {
		p := msg[headerLen+i*alen:]
		if v6 {
			a.Addrs = append(a.Addrs, netip.AddrFrom16([16]byte(p[:16])))
		} else {
			a.Addrs = append(a.Addrs, netip.AddrFrom4([4]byte(p[:4])))
		}
	}
	return nil
}
