package service

import (
	"net/netip"
	"testing"
)

func TestParseMatchPrefix(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // "" for an error
	}{
		{"198.18.0.10", "198.18.0.10/32"},
		{"198.18.0.10/24", "198.18.0.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::1/64", "2001:db8::/64"},
		{"fe80::1%eth0", ""},
		{"198.18.0.300", ""},
		{"", ""},
	} {
		p, err := ParseMatchPrefix(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q: %v, want an error", tt.in, p)
			}
			continue
		}
		if err != nil || p != netip.MustParsePrefix(tt.want) {
			t.Errorf("%q: %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	for _, tt := range []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"", 0, 0, true},
		{"*", 0, 0, true},
		{"0", 0, 0, true},
		{"80", 80, 80, true},
		{"80-90", 80, 90, true},
		{" 80 - 90 ", 80, 90, true},
		{"65535", 65535, 65535, true},
		{"90-80", 0, 0, false},
		{"65536", 0, 0, false},
		{"+80", 0, 0, false},
		{"80-", 0, 0, false},
		{"http", 0, 0, false},
	} {
		lo, hi, err := ParsePortRange(tt.in)
		if (err == nil) != tt.ok || lo != tt.lo || hi != tt.hi {
			t.Errorf("%q: %d-%d, %v", tt.in, lo, hi, err)
		}
	}
}
