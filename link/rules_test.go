package link

import (
	"errors"
	"net/netip"
	"testing"
)

func TestValidate(t *testing.T) {
	p := netip.MustParsePrefix("198.18.0.10/32")
	tests := []struct {
		name string
		r    Rule
		ok   bool
	}{
		{"tcp port", Rule{Proto: 6, Prefix: p, PortLo: 80, PortHi: 80}, true},
		{"udp every port", Rule{Proto: 17, Prefix: p}, true},
		{"reply range", Rule{Proto: 6, Prefix: netip.MustParsePrefix("2001:db8::/64"), PortLo: 8000, PortHi: 8080, Reply: true}, true},
		{"icmp", Rule{Proto: 1, Prefix: p}, false},
		{"no prefix", Rule{Proto: 6, PortLo: 80, PortHi: 80}, false},
		{"empty range", Rule{Proto: 6, Prefix: p, PortLo: 81, PortHi: 80}, false},
	}
	for _, tt := range tests {
		err := tt.r.Validate()
		if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, ErrInvalidRule) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
