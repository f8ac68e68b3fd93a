package forwarder

import (
	"fmt"
	"net/netip"

	"github.com/xvs-project/xvs/flow"
)

// routeWarnings says which real servers new in cur (added, or re-added) no
// served interface routes to: their packets would only be counted as
// no-route drops, and a user who started `xvs run -i` on the wrong interface
// deserves to hear why nothing flows when the server is added, not later.
// Each warning is also logged.
func (e *Engine) routeWarnings(old, cur *snapshot) []string {
	var out []string
	for _, svc := range cur.services {
		for _, r := range svc.reals {
			if old != nil && old.real(r.id, r.gen) != nil {
				continue
			}
			if e.router.Route(&r.addr) != nil {
				continue
			}
			a := flow.AddrOf(r.addr)
			real := a.String()
			if r.port != 0 {
				real = netip.AddrPortFrom(a, r.port).String()
			}
			w := fmt.Sprintf("real server %s of service %s: no route to %s through the interfaces xvs serves; its packets will be dropped (no-route) until one does",
				real, svc.key, a)
			e.log.Warn("no route to real server", "service", svc.key.String(), "real", real)
			out = append(out, w)
		}
	}
	return out
}
