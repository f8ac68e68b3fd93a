package ethtool

import "testing"

// Without an answer from the driver (lo has no channels; a name too long
// for an ifreq never reaches one), RxQueues falls back to the count given,
// and never below one.
func TestRxQueuesFallback(t *testing.T) {
	for _, tc := range []struct {
		iface           string
		allocated, want int
	}{
		{"lo", 3, 3},
		{"lo", 0, 1},
		{"a-name-longer-than-ifnamsiz", 2, 2},
	} {
		if got := RxQueues(tc.iface, tc.allocated); got != tc.want {
			t.Errorf("RxQueues(%q, %d) = %d, want %d", tc.iface, tc.allocated, got, tc.want)
		}
	}
}
