package health

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestInNetns: a probe with Net.Enter = InNetns reaches a listener that exists only inside
// another network namespace, the same probe without it does not, and an Exec check started
// through Enter runs inside the namespace (it sees only that namespace's lo).
//
//	director ns (the test)          probe ns (testnet.NewNetNS)
//	  TCP{Net.Enter} ───────────────► 127.0.0.1:port (listener made inside)
func TestInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	name := testnet.NewNetNS(t).Name() // lo up, deleted with the test
	enter := InNetns("/run/netns/" + name)
	var ln net.Listener
	if err := enter(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	if r := (&TCP{Addr: addr, Net: &Net{Enter: enter}}).Check(probeCtx(t, 2*time.Second)); !r.OK {
		t.Fatalf("inside: %+v", r)
	}
	// The same port in the director's namespace: free (we can bind it), so a probe there is refused.
	if hl, err := net.Listen("tcp", addr.String()); err == nil {
		hl.Close()
		if r := (&TCP{Addr: addr}).Check(probeCtx(t, 2*time.Second)); r.OK {
			t.Fatal("a probe without Enter reached the namespace's listener")
		}
	}
	inside := &Exec{Command: []string{"/bin/sh", "-c", "test $(wc -l < /proc/self/net/dev) -eq 3"}, Enter: enter}
	if r := inside.Check(probeCtx(t, 5*time.Second)); !r.OK {
		t.Fatalf("exec inside: %+v", r)
	}
	outside := &Exec{Command: inside.Command}
	if r := outside.Check(probeCtx(t, 5*time.Second)); r.OK {
		t.Skip("the test's own namespace has only lo; cannot tell the two apart")
	}
}
