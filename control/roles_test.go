package control

import (
	"net/netip"
	"slices"
	"testing"
)

// TestRolesStandby: the standby addresses are those of every instance
// not MASTER, an address a MASTER instance holds too left out, reported
// again only when an instance's master-ness changes.
func TestRolesStandby(t *testing.T) {
	a, b, c := netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.1.254"), netip.MustParseAddr("198.18.0.20")
	var got [][]netip.Addr
	r := &Roles{names: []string{"VI_1", "VI_GW", "VI_2"}, vips: [][]netip.Addr{{a}, {b}, {c, a}},
		master: make([]bool, 3), standby: func(v []netip.Addr) { got = append(got, v) }}
	r.report()
	steps := []struct {
		i      int
		master bool
		want   []netip.Addr // nil: no report
	}{
		{0, true, []netip.Addr{b, c}},
		{0, true, nil},
		{1, true, []netip.Addr{c}},
		{2, true, []netip.Addr{}},
		{0, false, []netip.Addr{}}, // VI_2 holds a too
		{2, false, []netip.Addr{a, c}},
	}
	if want := []netip.Addr{a, b, c}; len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("at start: %v, want %v", got, want)
	}
	for _, s := range steps {
		got = nil
		r.setMaster(s.i, s.master)
		switch {
		case s.want == nil && got != nil:
			t.Errorf("%s master=%v: reported %v, want no report", r.names[s.i], s.master, got)
		case s.want != nil && (len(got) != 1 || !slices.Equal(got[0], s.want) && len(got[0])+len(s.want) > 0):
			t.Errorf("%s master=%v: reported %v, want %v", r.names[s.i], s.master, got, s.want)
		}
	}
}
