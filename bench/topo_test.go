package bench

import (
	"strconv"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestLabPlans lays out both labs at every size without building them: each
// passes testnet's checks (names fit and are unique, every link has its
// namespaces), and every name the bench uses starts with the lab's ID.
func TestLabPlans(t *testing.T) {
	// The longest ID testnet makes: the largest pid (2^22) and sequence.
	id := "xvs" + strconv.FormatInt(1<<22, 36) + "zz"
	for _, arms := range []int{1, 2} {
		for _, n := range []int{1, 3, MaxReals} {
			tp := &testnet.Topology{ID: id}
			l := newLab(tp, arms, n)
			if arms == 2 {
				l.planTwoArmed()
			} else {
				l.planOneArmed()
			}
			if err := tp.Validate(); err != nil {
				t.Errorf("%d-armed, %d reals: %v", arms, n, err)
			}
			names := []string{l.GenNS, l.DirNS, l.RealNS, l.GenIface, l.DirExt, l.DirInt, l.Trunk}
			for _, r := range l.Reals {
				names = append(names, r.Iface)
			}
			for _, s := range names {
				if !strings.HasPrefix(s, id+"-") {
					t.Errorf("%d-armed: %q is not named in lab %s", arms, s, id)
				}
			}
			if len(tp.Nodes) != 3 {
				t.Errorf("%d-armed: %d namespaces, want gen, dir, real", arms, len(tp.Nodes))
			}
		}
	}
}
