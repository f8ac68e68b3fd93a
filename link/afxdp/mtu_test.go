package afxdp

import (
	"errors"
	"testing"
)

func TestFrameSizeFor(t *testing.T) {
	for _, tc := range []struct {
		mtu, want int
	}{
		{1280, 2048}, {1500, 2048}, {1774, 2048}, {1775, 4096}, {3000, 4096}, {3822, 4096}, {3823, 0}, {9000, 0},
	} {
		got, err := FrameSizeFor("eth0", tc.mtu)
		if tc.want == 0 {
			if !errors.Is(err, ErrMTUTooLarge) {
				t.Errorf("MTU %d: %d, %v; want ErrMTUTooLarge", tc.mtu, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("MTU %d: %d, %v; want %d", tc.mtu, got, err, tc.want)
		}
	}
	_, err := FrameSizeFor("eth0", 9000)
	const msg = `interface "eth0": MTU 9000 is larger than the AF_XDP backend can receive (at most 3822 with 4096-byte frames); lower the MTU or use --backend afpacket`
	if err == nil || err.Error() != msg {
		t.Errorf("got %v, want %s", err, msg)
	}
}
