package main

import (
	"slices"
	"strings"
	"testing"
)

// TestVLANFlag: --vlan takes comma-separated VLAN IDs 1..4094 and refuses
// anything else with the culprit named.
func TestVLANFlag(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want []uint16
		err  string
	}{
		{"10", []uint16{10}, ""},
		{"10,20, 4094", []uint16{10, 20, 4094}, ""},
		{"1", []uint16{1}, ""},
		{"0", nil, `bad VLAN ID "0"`},
		{"4095", nil, `bad VLAN ID "4095"`},
		{"10,x", nil, `bad VLAN ID "x"`},
		{"10,", nil, `bad VLAN ID ""`},
	} {
		f, err := parseRunFlags([]string{"-i", "eth0", "--vlan", c.arg})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("--vlan %q: error %v, want %q", c.arg, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(f.vlans, c.want) {
			t.Errorf("--vlan %q: %v, %v; want %v", c.arg, f, err, c.want)
		}
	}
	if f, err := parseRunFlags([]string{"-i", "eth0"}); err != nil || f.vlans != nil {
		t.Errorf("no --vlan: %v, %v", f.vlans, err)
	}
}
