package announce

import (
	"net/netip"
	"reflect"
	"testing"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

func TestWanted(t *testing.T) {
	vip1, vip2 := netip.MustParseAddr("198.19.0.10"), netip.MustParseAddr("198.19.0.11")
	vip6 := netip.MustParseAddr("2001:db8::10")
	real := func(w int32) service.Real {
		return service.Real{Addr: netip.MustParseAddr("198.18.2.2"), Port: 80, Weight: w, Method: service.MethodDR}
	}
	svc := func(a netip.Addr, port uint16, reals ...service.Real) service.Service {
		return service.Service{Proto: service.TCP, Addr: a, Port: port, Reals: reals}
	}
	checked := func(s service.Service) health.Service {
		return health.Service{Key: s.Key(), Name: s.Key().String()}
	}
	status := func(s service.Service, up bool) health.ServiceStatus {
		return health.ServiceStatus{Name: s.Key().String(), QuorumUp: up}
	}
	web, web443, other := svc(vip1, 80, real(1)), svc(vip1, 443, real(0)), svc(vip2, 80, real(1))
	p := func(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
	for _, tc := range []struct {
		name    string
		cfg     *service.Config
		checked []health.Service
		status  []health.ServiceStatus
		want    []netip.Prefix
	}{
		{"nothing", nil, nil, nil, nil},
		{"unchecked weight > 0", &service.Config{Services: []service.Service{web}}, nil, nil, []netip.Prefix{p(vip1)}},
		{"unchecked weight 0", &service.Config{Services: []service.Service{web443}}, nil, nil, nil},
		{"unchecked no reals", &service.Config{Services: []service.Service{svc(vip1, 80)}}, nil, nil, nil},
		{"one healthy service is enough", &service.Config{Services: []service.Service{web443, web}}, nil, nil, []netip.Prefix{p(vip1)}},
		{"checked quorum up", &service.Config{Services: []service.Service{web}},
			[]health.Service{checked(web)}, []health.ServiceStatus{status(web, true)}, []netip.Prefix{p(vip1)}},
		{"checked quorum down (a sorry server in does not count)", &service.Config{Services: []service.Service{web}},
			[]health.Service{checked(web)}, []health.ServiceStatus{status(web, false)}, nil},
		{"checked, no status yet", &service.Config{Services: []service.Service{web}},
			[]health.Service{checked(web)}, nil, nil},
		{"checked quorum up with no real installed", &service.Config{Services: []service.Service{svc(vip1, 80)}},
			[]health.Service{checked(web)}, []health.ServiceStatus{status(web, true)}, []netip.Prefix{p(vip1)}},
		{"sorted, v6 as /128, groups skipped", &service.Config{Services: []service.Service{
			svc(vip6, 80, real(1)), other, {Group: "web", Reals: []service.Real{real(1)}}, web}},
			[]health.Service{checked(other)}, []health.ServiceStatus{status(other, true)},
			[]netip.Prefix{p(vip1), p(vip2), p(vip6)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Wanted(tc.cfg, tc.checked, tc.status)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Wanted = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStateNames: both numberings name the same states.
func TestStateNames(t *testing.T) {
	if stateName(bgp.BGP_FSM_IDLE) != "idle" || stateName(bgp.BGP_FSM_ESTABLISHED) != "established" ||
		apiStateName(api.PeerState_SESSION_STATE_ACTIVE) != "active" ||
		apiStateName(api.PeerState_SESSION_STATE_ESTABLISHED) != "established" ||
		apiStateName(api.PeerState_SESSION_STATE_UNSPECIFIED) != "idle" {
		t.Fatal("state names disagree")
	}
}
