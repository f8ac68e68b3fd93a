package pathprobe_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/health/pathprobe"
	"github.com/xvs-project/xvs/service"
)

// A TCP_CHECK of a DR real server made path-true: the checker is health's
// own, only its Net is routed. (Needs root and a DR segment on eth0.)
func Example() {
	p, err := pathprobe.Open(pathprobe.Options{
		Interface: "eth0",
		Addresses: []netip.Prefix{netip.MustParsePrefix("198.18.0.50/23")},
	})
	if err != nil {
		fmt.Println(err) // path-true probes on eth0: <step>: <why>
		return
	}
	defer p.Close()
	real := service.Real{Addr: netip.MustParseAddr("198.18.1.1"), Method: service.MethodDR}
	check := &health.TCP{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Net: &health.Net{}}
	if err := p.Route(netip.MustParseAddrPort("198.18.0.10:80"), real, check.Net); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	fmt.Println(check.Check(ctx)) // down with "connect: ..." when 198.18.1.1 lacks the VIP on lo
}
