package forwarder

import (
	"testing"

	"github.com/xvs-project/xvs/encap"
	"github.com/xvs-project/xvs/link"
)

// TestMinHeadroomFitsPushes: what the engine pushes in front of a frame —
// the largest tunnel header of either family and an egress VLAN tag — fits
// the headroom every backend guarantees (link.MinHeadroom), so a push on a
// received frame never fails for want of room; and the fragments the engine
// holds itself have as much headroom as a backend's frames.
func TestMinHeadroomFitsPushes(t *testing.T) {
	const vlanTag = 4
	need := 0
	for _, fam := range []uint8{4, 6} {
		for _, tun := range []encap.Tunnel{
			{Type: encap.TunnelIPIP}, {Type: encap.TunnelGUE}, {Type: encap.TunnelGRE}, {Type: encap.TunnelGRE, Csum: true},
		} {
			over := encap.TunnelOverhead(fam, tun)
			if over == 0 {
				t.Fatalf("family %d %+v: no overhead", fam, tun)
			}
			need = max(need, over+vlanTag)
		}
	}
	if need > link.MinHeadroom {
		t.Errorf("pushes need %d bytes of headroom, link.MinHeadroom is %d", need, link.MinHeadroom)
	}
	if fragHeadroom < link.MinHeadroom {
		t.Errorf("held fragments get %d bytes of headroom, less than link.MinHeadroom (%d)", fragHeadroom, link.MinHeadroom)
	}
}
