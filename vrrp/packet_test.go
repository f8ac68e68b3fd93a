package vrrp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/xvs-project/xvs/encap"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	src4 = netip.MustParseAddr("198.18.0.2")
	vip4 = netip.MustParseAddr("198.18.0.100")
	src6 = netip.MustParseAddr("fe80::2")
)

// Fixtures written by hand from RFC 5798 section 5.1 and RFC 3768 section
// 5.1, checksums summed by hand (see each comment).
var fixtures = []struct {
	name     string
	advert   Advert
	src, dst netip.Addr
	noPseudo bool
	wire     string
}{
	{
		// pseudo-header c612+0002+e000+0012+0070+000c = 0x1a6a2, message
		// 0x15c0e: total 0x302b0 folds to 0x02b3, complement 0xfd4c.
		name:   "v3-ipv4",
		advert: Advert{Version: 3, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip4}},
		src:    src4, dst: Group4,
		wire: "31 33 64 01 | 0064 | fd4c | c6120064",
	},
	{
		// the message alone: 0x15c0e folds to 0x5c0f, complement 0xa3f0.
		name:   "v3-ipv4-as-v2",
		advert: Advert{Version: 3, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip4}},
		src:    src4, dst: Group4, noPseudo: true,
		wire: "31 33 64 01 | 0064 | a3f0 | c6120064",
	},
	{
		// 2133+6401+0101+c612+0064+3131+3131 = 0x1af0d folds to 0xaf0e,
		// complement 0x50f1. auth_pass "1111".
		name: "v2-pass",
		advert: Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second, AuthType: AuthPass,
			Auth: [8]byte{'1', '1', '1', '1'}, Addrs: []netip.Addr{vip4}},
		src: src4, dst: Group4,
		wire: "21 33 64 01 | 01 01 | 50f1 | c6120064 | 3131313100000000",
	},
}

func TestMarshalFixtures(t *testing.T) {
	for _, f := range fixtures {
		got, err := Marshal(nil, &f.advert, f.src, f.dst, f.noPseudo)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if want := unhex(t, f.wire); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", f.name, got, want)
		}
		var a Advert
		if err := Parse(&a, got, f.src, f.dst, TTL); err != nil {
			t.Errorf("%s: Parse: %v", f.name, err)
		} else if a.Version != f.advert.Version || a.Priority != f.advert.Priority || a.Interval != f.advert.Interval ||
			a.Auth != f.advert.Auth || len(a.Addrs) != 1 || a.Addrs[0] != vip4 {
			t.Errorf("%s: Parse = %+v", f.name, a)
		}
	}
}

// TestGopacketReadsV2: gopacket's VRRPv2 decoder, an independent reader,
// sees the fields we wrote.
func TestGopacketReadsV2(t *testing.T) {
	a := fixtures[2].advert
	b, err := Marshal(nil, &a, src4, Group4, false)
	if err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(b, layers.LayerTypeVRRP, gopacket.Default)
	v, ok := p.Layer(layers.LayerTypeVRRP).(*layers.VRRPv2)
	if !ok {
		t.Fatalf("gopacket: %v", p.ErrorLayer())
	}
	if v.Version != 2 || v.VirtualRtrID != 51 || v.Priority != 100 || v.AdverInt != 1 ||
		v.CountIPAddr != 1 || len(v.IPAddress) != 1 || !v.IPAddress[0].Equal(vip4.AsSlice()) || v.Checksum != 0x50f1 {
		t.Errorf("gopacket read %+v", v)
	}
}

func TestMarshalIPv6(t *testing.T) {
	a := Advert{Version: 3, VRID: 7, Priority: 200, Interval: 50 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("fe80::100"), netip.MustParseAddr("2001:db8::100")}}
	b, err := Marshal(nil, &a, src6, Group6, true) // noPseudo never applies to IPv6
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8+32 || b[4] != 0 || b[5] != 5 {
		t.Fatalf("%x", b)
	}
	var got Advert
	if err := Parse(&got, b, src6, Group6, TTL); err != nil {
		t.Fatal(err)
	}
	// Without the pseudo-header the IPv6 checksum is wrong.
	bad := bytes.Clone(b)
	bad[6], bad[7] = 0, 0
	c := encap.Checksum(bad, 0)
	bad[6], bad[7] = byte(c>>8), byte(c)
	if err := Parse(&got, bad, src6, Group6, TTL); !errors.Is(err, ErrChecksum) {
		t.Errorf("IPv6 checksum without pseudo-header: %v, want ErrChecksum", err)
	}
}

func TestParseRefuses(t *testing.T) {
	good := unhex(t, fixtures[0].wire)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		b    []byte
		ttl  int
		err  error
	}{
		{"ttl", good, 254, ErrTTL},
		{"short", good[:7], TTL, ErrShort},
		{"version-4", edit(func(b []byte) []byte { b[0] = 0x41; return b }), TTL, ErrVersion},
		{"type-2", edit(func(b []byte) []byte { b[0] = 0x32; return b }), TTL, ErrVersion},
		{"count", edit(func(b []byte) []byte { b[3] = 2; return b }), TTL, ErrCount},
		{"count-0", edit(func(b []byte) []byte { b[3] = 0; return b[:8] }), TTL, ErrCount},
		{"checksum", edit(func(b []byte) []byte { b[7]++; return b }), TTL, ErrChecksum},
		{"payload-changed", edit(func(b []byte) []byte { b[2] = 101; return b }), TTL, ErrChecksum},
	} {
		var a Advert
		if err := Parse(&a, tc.b, src4, Group4, tc.ttl); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	for _, a := range []Advert{
		{Version: 2, VRID: 1, Priority: 1, Interval: time.Second, Addrs: []netip.Addr{src6}},
		{Version: 3, VRID: 1, Priority: 1, Interval: time.Minute, Addrs: []netip.Addr{vip4}},
		{Version: 3, VRID: 1, Priority: 1, Interval: time.Second},
		{Version: 3, VRID: 1, Priority: 1, Interval: time.Second, Addrs: []netip.Addr{src6}},
	} {
		if _, err := Marshal(nil, &a, src4, Group4, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("Marshal(%+v): %v, want ErrInvalid", a, err)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts marshals back to the
// same bytes (with the checksum form it was sent with).
func FuzzParse(f *testing.F) {
	for _, fx := range fixtures {
		f.Add(unhex(f, fx.wire), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		src, dst := src4, Group4
		if v6 {
			src, dst = src6, Group6
		}
		var a Advert
		if Parse(&a, b, src, dst, TTL) != nil {
			return
		}
		if a.check(src) != nil {
			return // e.g. an interval of 0: readable, but we never send it
		}
		for _, noPseudo := range []bool{false, true} {
			out, err := Marshal(nil, &a, src, dst, noPseudo)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(out, b) {
				return
			}
		}
		// Only bits we do not keep may differ: v3's reserved nibble.
		if b[0]>>4 == 3 && b[4]&0xf0 != 0 {
			return
		}
		t.Fatalf("accepted %x but marshals differently", b)
	})
}
