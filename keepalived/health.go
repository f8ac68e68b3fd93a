package keepalived

import "github.com/xvs-project/xvs/health"

// Health returns the health engine's view of the virtual server: the Service's Key and Name
// are v.Name(), each Real's Key is its netip.AddrPort and its Name that address's string, so
// the daemon's health.Actions can find the service and real server again.
func (v *VirtualServer) Health() health.Service {
	s := health.Service{Key: v.Name(), Name: v.Name(), Quorum: v.Quorum, Hysteresis: v.Hysteresis,
		QuorumUp: v.QuorumUp, QuorumDown: v.QuorumDown, Omega: v.Omega, SorryInhibit: v.SorryInhibit}
	for _, r := range v.Reals {
		hr := health.Real{Key: r.AddrPort(), Name: r.AddrPort().String(), Weight: r.Weight, Inhibit: r.Inhibit,
			NotifyUp: r.NotifyUp, NotifyDown: r.NotifyDown}
		for _, c := range r.Checks {
			hr.Checks = append(hr.Checks, health.Check{Checker: c.Checker, Timing: c.Timing, Alpha: c.Alpha})
		}
		s.Reals = append(s.Reals, hr)
	}
	if v.Sorry != nil {
		s.Sorry = &health.Real{Key: v.Sorry.AddrPort(), Name: v.Sorry.AddrPort().String(), Weight: v.Sorry.Weight}
	}
	return s
}
