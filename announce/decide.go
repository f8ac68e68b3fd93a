package announce

import (
	"net/netip"
	"slices"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

// Wanted returns the VIP prefixes to announce, sorted: the host prefix of
// every address with at least one healthy service. A service whose checks
// the health engine runs (it is in checked, by its service.Key) is healthy
// while its quorum holds (a sorry server standing in does not count: the
// other directors may still have the real servers); any other service is
// healthy while installed has a real server of weight > 0 in it. A
// service group (fwmark) has no address and announces nothing. One
// healthy service is enough for its address: withdrawing it would take
// down the others with the one that failed.
//
// installed is the engine's running configuration, checked the file's
// checked services and status the health engine's view of them.
func Wanted(installed *service.Config, checked []health.Service, status []health.ServiceStatus) []netip.Prefix {
	if installed == nil {
		return nil
	}
	quorum := make(map[string]bool, len(status))
	for _, st := range status {
		quorum[st.Name] = st.QuorumUp
	}
	byKey := make(map[service.Key]string, len(checked))
	for _, hs := range checked {
		if k, ok := hs.Key.(service.Key); ok {
			byKey[k] = hs.Name
		}
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Prefix
	for _, s := range installed.Services {
		if s.Group != "" || !s.Addr.IsValid() || seen[s.Addr] {
			continue
		}
		healthy := false
		if name, ok := byKey[s.Key()]; ok {
			healthy = quorum[name]
		} else {
			for _, r := range s.Reals {
				healthy = healthy || r.Weight > 0
			}
		}
		if healthy {
			seen[s.Addr] = true
			out = append(out, netip.PrefixFrom(s.Addr, s.Addr.BitLen()))
		}
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
