package xdpprog

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func TestMakeKeyLayout(t *testing.T) {
	k := makeKey(kindDstPort, 6, 0x1f90, netip.MustParsePrefix("198.18.10.0/24"))
	if got := binary.NativeEndian.Uint32(k[:4]); got != 64+24 {
		t.Errorf("prefixlen %d, want 88", got)
	}
	want := []byte{4, kindDstPort, 6, 0, 0x1f, 0x90, 0, 0, 198, 18, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if string(k[4:]) != string(want) {
		t.Errorf("data % x, want % x", k[4:], want)
	}
	k6 := makeKey(kindSrcAny, 17, 0, netip.MustParsePrefix("2001:db8::/32"))
	if got := binary.NativeEndian.Uint32(k6[:4]); got != 64+32 || k6[keyOffFamily] != 6 || k6[keyOffAddr] != 0x20 {
		t.Errorf("v6 key % x", k6)
	}
	// A v4-mapped prefix of at least 96 bits is the IPv4 prefix.
	if makeKey(kindDstAny, 6, 0, netip.MustParsePrefix("::ffff:198.18.0.0/112")) != makeKey(kindDstAny, 6, 0, netip.MustParsePrefix("198.18.0.0/16")) {
		t.Error("v4-mapped prefix differs from its IPv4 form")
	}
	// ::/0 is IPv6 only: its key carries family 6.
	if k := makeKey(kindDstAny, 6, 0, netip.MustParsePrefix("::/0")); k[keyOffFamily] != 6 {
		t.Error("::/0 does not carry family 6")
	}
}

func TestCompile(t *testing.T) {
	vip := netip.MustParsePrefix("198.18.10.1/32")
	for _, tc := range []struct {
		name    string
		cfg     Config
		entries int
		err     error
	}{
		{"empty", Config{}, 0, nil},
		{"one port", Config{Rules: []Rule{{Proto: 6, Prefix: vip, PortLo: 80, PortHi: 80}}}, 2, nil},
		{"any port", Config{Rules: []Rule{{Proto: 17, Prefix: vip}}}, 2, nil},
		{"range", Config{Rules: []Rule{{Proto: 6, Prefix: vip, PortLo: 8000, PortHi: 8009}}}, 11, nil},
		{"full range", Config{Rules: []Rule{{Proto: 6, Prefix: vip, PortLo: 1, PortHi: 65535}}}, 65536, nil},
		{"tcp and udp share the address entry", Config{Rules: []Rule{
			{Proto: 6, Prefix: vip, PortLo: 80, PortHi: 80},
			{Proto: 17, Prefix: vip, PortLo: 80, PortHi: 80},
		}}, 3, nil},
		{"duplicates collapse", Config{Rules: []Rule{
			{Proto: 6, Prefix: vip, PortLo: 80, PortHi: 80},
			{Proto: 6, Prefix: netip.MustParsePrefix("198.18.10.1/32"), PortLo: 80, PortHi: 80},
		}}, 2, nil},
		{"reply and service differ", Config{Rules: []Rule{
			{Proto: 6, Prefix: vip, PortLo: 80, PortHi: 80},
			{Proto: 6, Prefix: vip, PortLo: 80, PortHi: 80, Reply: true},
		}}, 4, nil},
		{"host bits masked", Config{Rules: []Rule{
			{Proto: 6, Prefix: netip.MustParsePrefix("198.18.10.7/24"), PortLo: 80, PortHi: 80},
			{Proto: 6, Prefix: netip.MustParsePrefix("198.18.10.0/24"), PortLo: 80, PortHi: 80},
		}}, 2, nil},
		{"locals", Config{Local: []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("::ffff:198.18.0.1"), netip.MustParseAddr("2001:db8::1")}}, 2, nil},
		{"bad proto", Config{Rules: []Rule{{Proto: 1, Prefix: vip}}}, 0, ErrInvalidRule},
		{"bad prefix", Config{Rules: []Rule{{Proto: 6}}}, 0, ErrInvalidRule},
		{"reversed range", Config{Rules: []Rule{{Proto: 6, Prefix: vip, PortLo: 81, PortHi: 80}}}, 0, ErrInvalidRule},
		{"bad local", Config{Local: []netip.Addr{{}}}, 0, ErrInvalidAddress},
		{"too many", Config{Rules: []Rule{
			{Proto: 6, Prefix: vip, PortLo: 1, PortHi: 65535},
			{Proto: 17, Prefix: vip, PortLo: 1, PortHi: 65535},
			{Proto: 6, Prefix: netip.MustParsePrefix("198.18.10.2/32"), PortLo: 1, PortHi: 10},
		}}, 0, ErrTooManyEntries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := compile(tc.cfg)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil && len(keys) != tc.entries {
				t.Errorf("%d entries, want %d", len(keys), tc.entries)
			}
			for i := 1; i < len(keys); i++ {
				if string(keys[i-1][:]) >= string(keys[i][:]) {
					t.Fatalf("keys not sorted and unique at %d", i)
				}
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeAuto: "auto", ModeNative: "native", ModeGeneric: "generic", Mode(9): "Mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("%d: %q, want %q", int(m), got, want)
		}
	}
	if _, err := Mode(9).tries(); !errors.Is(err, ErrInvalidMode) {
		t.Errorf("Mode(9).tries: %v", err)
	}
}
