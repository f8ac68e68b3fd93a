package health_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/health"
)

// pool is what a forwarder would implement: here it prints the decisions.
type pool struct{}

func (pool) AddReal(svc, real any, w int) error {
	fmt.Printf("%v: add %v weight %d\n", svc, real, w)
	return nil
}

func (pool) RemoveReal(svc, real any) error {
	fmt.Printf("%v: remove %v\n", svc, real)
	return nil
}

func (pool) SetWeight(svc, real any, w int) error {
	fmt.Printf("%v: %v weight %d\n", svc, real, w)
	return nil
}

// A web service with one real server checked by TCP connect every 50 ms; the server's listener
// closes and the engine takes it out of the pool after its one forgiven failure.
func Example() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := netip.MustParseAddrPort(ln.Addr().String())

	timing := health.DefaultTiming(health.KindTCP, 50*time.Millisecond)
	timing.DelayBeforeRetry, timing.Warmup = 20*time.Millisecond, 0
	down := make(chan struct{}, 1)
	e, err := health.New([]health.Service{{
		Key: "TCP 198.18.0.1:80", Name: "TCP 198.18.0.1:80", Quorum: 1,
		Reals: []health.Real{{Key: "web1", Name: addr.String(), Weight: 1,
			Checks: []health.Check{{Checker: &health.TCP{Addr: addr}, Timing: timing}}}},
	}}, pool{}, health.Options{Observe: func(st health.CheckStatus, _ time.Duration) {
		if st.State() == "down" {
			select {
			case down <- struct{}{}:
			default:
			}
		}
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	e.Start() // web1 joins at once: it has no alpha checker
	ln.Close()
	<-down
	e.Stop()
	st := e.Status()[0]
	fmt.Println(st.Kind, st.State(), st.LastReason)
	// Output:
	// TCP 198.18.0.1:80: add web1 weight 1
	// TCP 198.18.0.1:80: remove web1
	// TCP_CHECK down connect: connection refused
}
