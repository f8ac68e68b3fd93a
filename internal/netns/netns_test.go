package netns_test

import (
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"testing"

	"github.com/xvs-project/xvs/internal/netns"
	"github.com/xvs-project/xvs/internal/testnet"
)

// TestDo: inside a fresh namespace only its own interfaces are seen, a
// the thread comes back to the test's
// namespace, and a missing namespace is an error naming it.
func TestDo(t *testing.T) {
	ns := testnet.NewNetNS(t)
	ns.IP(t, "link add xvsv0 type veth peer name xvsv1")
	path := filepath.Join("/run/netns", ns.Name())
	var inside []net.Interface
	if err := netns.Do(path, func() (err error) {
		inside, err = net.Interfaces()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, i := range inside {
		names[i.Name] = true
	}
	if len(inside) != 3 || !names["lo"] || !names["xvsv0"] || !names["xvsv1"] {
		t.Errorf("inside: %v, want lo, xvsv0 and xvsv1", names)
	}
	if _, err := net.InterfaceByName("xvsv0"); err == nil {
		t.Error("the namespace's interface is visible after Do returned")
	}
	err := netns.Do("/run/netns/xvs-no-such-namespace", func() error { return nil })
	var ne *netns.Error
	if !errors.As(err, &ne) || !errors.Is(err, fs.ErrNotExist) || ne.Path != "/run/netns/xvs-no-such-namespace" {
		t.Errorf("missing namespace: %v", err)
	}
	if err := netns.Do("", func() error { return errSentinel }); err != errSentinel {
		t.Errorf("empty path: %v, want fn's error", err)
	}
}

var errSentinel = errors.New("from fn")
