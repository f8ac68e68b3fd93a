package testnet

import (
	"net"
	"os"
	"testing"
)

// TestNewNetNS checks the test namespace helper: a fresh namespace holding
// only lo (up), entered both ways, wired to a second one with a veth pair
// made from inside, and gone with its marker after the subtest's cleanup.
//
//	a: va 198.18.0.1/24 <── veth ──> b: vb 198.18.0.2/24
func TestNewNetNS(t *testing.T) {
	var a, b *NetNS
	t.Run("build", func(t *testing.T) {
		a, b = NewNetNS(t), NewNetNS(t)
		if a.Name() == b.Name() {
			t.Fatalf("two namespaces named %s", a.Name())
		}
		for _, n := range []*NetNS{a, b} {
			id, _, host, ok := parseNSName(n.Name())
			if !ok || host != testNSHost {
				t.Fatalf("%s: not a name of this package's", n)
			}
			if _, ok := readMarker(id); !ok {
				t.Errorf("%s: no marker", n)
			}
		}
		a.IP(t, "link add va type veth peer name vb netns "+b.Name(),
			"addr add 198.18.0.1/24 dev va", "link set va up")
		b.IP(t, "addr add 198.18.0.2/24 dev vb", "link set vb up")
		a.In(t, func() {
			if names := interfaceNames(t); len(names) != 2 || names[0] != "lo" || names[1] != "va" {
				t.Errorf("interfaces %v, want [lo va]", names)
			}
			if lo, err := net.InterfaceByName("lo"); err != nil || lo.Flags&net.FlagUp == 0 {
				t.Errorf("lo is not up: %v %v", lo, err)
			}
		})
		if err := b.Do(func() error {
			_, err := net.InterfaceByName("vb")
			return err
		}); err != nil {
			t.Error(err)
		}
		if out, err := b.Command(t.Context(), "ip", "-o", "addr", "show", "dev", "vb").CombinedOutput(); err != nil {
			t.Errorf("%v: %s", err, out)
		}
		if _, err := net.InterfaceByName("va"); err == nil {
			t.Error("va is in the test's own namespace")
		}
	})
	if a == nil {
		return // skipped
	}
	for _, n := range []*NetNS{a, b} {
		if _, err := os.Stat(nsPath(n.Name())); err == nil {
			t.Errorf("%s left behind", n)
		}
		id, _, _, _ := parseNSName(n.Name())
		if _, ok := readMarker(id); ok {
			t.Errorf("%s: marker left behind", n)
		}
	}
}
