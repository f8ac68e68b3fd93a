package forwarder

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/internal/testnet"
)

// TestNetlinkRouterResolves: in a lab, the router finds the route to a real
// server at once and its neighbour within a fraction of a second, without any
// traffic from the kernel's side.
func TestNetlinkRouterResolves(t *testing.T) {
	lab := testnet.NewT(t, testnet.Options{Mode: testnet.NAT, Reals: 2, Name: t.Name()})
	err := lab.Director.Do(func() error {
		var idx []int
		for _, n := range lab.DirectorIfaces {
			ifc, err := net.InterfaceByName(n)
			if err != nil {
				return err
			}
			idx = append(idx, ifc.Index)
		}
		r, err := NewNetlinkRouter(idx, nil)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Run must stay on this thread, the one in the lab's namespace; the
		// checks only read memory, so they may run anywhere.
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer cancel()
			check(t, r, lab)
		}()
		r.Run(ctx)
		<-done
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, r *NetlinkRouter, lab *testnet.Lab) {
	for _, real := range lab.Reals {
		for _, a := range []([16]byte){flow.Addr16(real.Addr4), flow.Addr16(real.Addr6)} {
			start := time.Now()
			for {
				h := r.Route(&a)
				if h == nil {
					t.Errorf("no route to %v", flow.AddrOf(a))
					break
				}
				if h.DstMAC != zeroMAC {
					t.Logf("%v resolved in %v", flow.AddrOf(a), time.Since(start))
					if time.Since(start) > 200*time.Millisecond {
						t.Errorf("%v took %v to resolve", flow.AddrOf(a), time.Since(start))
					}
					break
				}
				if time.Since(start) > 3*time.Second {
					t.Errorf("%v not resolved after 3 s", flow.AddrOf(a))
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}
