package keepalived

import (
	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

// Health returns the health engine's view of the virtual server, keyed so the daemon's
// health.Actions find their targets in what Services returns: the Service's Key is the mapped
// service's service.Key, each Real's Key (the sorry server's too) its service.RealKey as that
// service holds it (a DR or TUN server's port is the virtual server's, as IPVS has it). Names
// are for logs: the Service's is v.Name(), a Real's its address and port as written. Run it on
// the virtual servers of Forwarded only; one that Services leaves out keeps v.Name() as its Key.
func (v *VirtualServer) Health() health.Service {
	var key any = v.Name()
	s, _ := v.draft(nil)
	if v.FWMark == 0 && !v.leftOut {
		key = s.Key()
	}
	hs := health.Service{Key: key, Name: v.Name(), Quorum: v.Quorum, Hysteresis: v.Hysteresis,
		QuorumUp: v.QuorumUp, QuorumDown: v.QuorumDown, Omega: v.Omega, SorryInhibit: v.SorryInhibit}
	for i, r := range v.Reals {
		hr := health.Real{Key: s.Reals[i].Key(), Name: r.AddrPort().String(), Weight: r.Weight, Inhibit: r.Inhibit,
			NotifyUp: r.NotifyUp, NotifyDown: r.NotifyDown}
		for _, c := range r.Checks {
			hr.Checks = append(hr.Checks, health.Check{Checker: c.Checker, Timing: c.Timing, Alpha: c.Alpha})
		}
		hs.Reals = append(hs.Reals, hr)
	}
	if sr, ok := v.SorryReal(); ok {
		hs.Sorry = &health.Real{Key: sr.Key(), Name: v.Sorry.AddrPort().String(), Weight: int(sr.Weight)}
	}
	return hs
}

// SorryReal returns the sorry server as a real server of the mapped service, for the daemon to
// add when quorum is lost: its method is sorry_server_lvs_method's, else the virtual server's
// lb_kind; its weight 1 (keepalived gives a sorry server no weight of its own); its port
// normalized as the service's real servers are. ok is false without a sorry_server.
func (v *VirtualServer) SorryReal() (service.Real, bool) {
	if v.Sorry == nil {
		return service.Real{}, false
	}
	r, _ := v.sorryReal()
	return r, true
}

func (v *VirtualServer) sorryReal() (service.Real, error) {
	sorry := *v.Sorry
	if sorry.Weight == 0 {
		sorry.Weight = 1
	}
	r, err := mapReal(&sorry)
	s, _ := v.draft(nil)
	s.Reals = []service.Real{r}
	s.Normalize()
	return s.Reals[0], err
}
