package keepalived

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/service"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func rsrv(addr string, port uint16, w int32, m service.Method) service.Real {
	return service.Real{Addr: ip(addr), Port: port, Weight: w, Method: m}
}

// svc80 is what virtual_server 198.18.0.1 80 maps to with nothing set, changed by edit.
func svc80(edit func(*service.Service), reals ...service.Real) service.Service {
	s := service.Service{Proto: service.TCP, Addr: ip("198.18.0.1"), Port: 80, Scheduler: "wlc", Reals: reals}
	if edit != nil {
		edit(&s)
	}
	return s
}

// diffService compares two services field by field, so a failure names the field.
func diffService(t *testing.T, name string, got, want service.Service) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < g.NumField(); i++ {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			t.Errorf("%s: %s:\n got  %+v\n want %+v", name, g.Type().Field(i).Name, fmtField(g.Field(i)), fmtField(w.Field(i)))
		}
	}
}

func fmtField(v reflect.Value) string {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return fmt.Sprintf("&%+v", v.Elem().Interface())
	}
	return fmt.Sprintf("%+v", v.Interface())
}

func warnStrings(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

// TestServicesTwoVS: the sample file against its service.Config built by hand.
func TestServicesTwoVS(t *testing.T) {
	c := mustParse(t, "testdata/two-vs.conf")
	got, warns, err := c.Services()
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %q", warnStrings(warns))
	}
	dr := func(a string, w int32) service.Real { return rsrv(a, 80, w, service.MethodDR) }
	want := service.Config{Services: []service.Service{
		{Proto: service.TCP, Addr: ip("198.18.0.10"), Port: 80, Scheduler: "wrr",
			Persistence: &service.Persistence{Timeout: 50 * time.Second},
			Reals:       []service.Real{dr("198.18.1.2", 3), dr("198.18.1.3", 1)}},
		{Proto: service.TCP, Addr: ip("198.18.0.11"), Port: 5432, Scheduler: "rr",
			Reals: []service.Real{rsrv("198.18.1.12", 15432, 1, service.MethodNAT),
				{Addr: ip("198.18.1.13"), Port: 15432, Weight: 1, Method: service.MethodNAT, UpperThreshold: 100, LowerThreshold: 10}}},
	}}
	if len(got.Services) != len(want.Services) {
		t.Fatalf("%d services, want %d", len(got.Services), len(want.Services))
	}
	for i := range want.Services {
		diffService(t, want.Services[i].Key().String(), got.Services[i], want.Services[i])
	}
	sr, ok := c.VirtualServers[0].SorryReal()
	if !ok || sr != dr("198.18.2.1", 1) {
		t.Errorf("sorry %+v %v", sr, ok)
	}
	if _, ok := c.VirtualServers[1].SorryReal(); ok {
		t.Error("a sorry server where the file has none")
	}
	checkHealthKeys(t, c, got)
}

// checkHealthKeys: every key Health hands out names a service and real server that Services
// returned (the sorry server's is SorryReal's).
func checkHealthKeys(t *testing.T, c *Config, cfg *service.Config) {
	t.Helper()
	fw := c.Forwarded()
	if len(fw) != len(cfg.Services) {
		t.Fatalf("%d forwarded virtual servers, %d services", len(fw), len(cfg.Services))
	}
	for i, v := range fw {
		h, s := v.Health(), &cfg.Services[i]
		if h.Key != s.Key() {
			t.Fatalf("%s: health key %v, service %v", v.Name(), h.Key, s.Key())
		}
		if len(h.Reals) != len(s.Reals) {
			t.Fatalf("%s: %d health reals, %d in the service", v.Name(), len(h.Reals), len(s.Reals))
		}
		for j, r := range h.Reals {
			// One for one, in file order.
			if r.Key != s.Reals[j].Key() {
				t.Fatalf("%s: health real %v (%s) is not the service's %+v", v.Name(), r.Key, r.Name, s.Reals[j])
			}
		}
		sr, ok := v.SorryReal()
		if ok != (h.Sorry != nil) || (ok && h.Sorry.Key != sr.Key()) {
			t.Fatalf("%s: sorry %+v, SorryReal %+v %v", v.Name(), h.Sorry, sr, ok)
		}
	}
}

func vs(body string) string { return "virtual_server 198.18.0.1 80 {\n" + body + "}\n" }

// TestServicesMapping: one row per keepalived setting and what it becomes. Lines count from 1
// at virtual_server in vs().
func TestServicesMapping(t *testing.T) {
	nat := func(a string, p uint16) service.Real { return rsrv(a, p, 1, service.MethodNAT) }
	rs := " real_server 198.18.1.2 80\n"
	g := "virtual_server_group g {\n 198.18.0.1-10 80\n 198.18.0.60-63 0\n 198.18.0.70 443\n}\n"
	wantG := []service.Match{
		{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.1/32"), PortLo: 80, PortHi: 80},
		{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.2/31"), PortLo: 80, PortHi: 80},
		{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.4/30"), PortLo: 80, PortHi: 80},
		{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.8/31"), PortLo: 80, PortHi: 80},
		{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.10/32"), PortLo: 80, PortHi: 80},
		{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.60/30")},
		{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.70/32"), PortLo: 443, PortHi: 443},
	}
	udp := func(ms []service.Match) []service.Match {
		out := append([]service.Match(nil), ms...)
		for i := range out {
			out[i].Proto = service.UDP
		}
		return out
	}
	group := func(name string, ms []service.Match, reals ...service.Real) service.Service {
		return service.Service{Group: name, Matches: ms, Scheduler: "wlc", Reals: reals}
	}
	rows := []struct {
		name  string
		src   string
		want  []service.Service
		err   string
		warns []string
	}{
		{name: "defaults", src: vs(rs), want: []service.Service{svc80(nil, nat("198.18.1.2", 80))}},
		{name: "real without port takes the service's", src: vs(" real_server 198.18.1.2\n"),
			want: []service.Service{svc80(nil, nat("198.18.1.2", 80))}},
		{name: "protocol UDP", src: vs(" protocol udp\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) { s.Proto = service.UDP }, nat("198.18.1.2", 80))}},
		{name: "protocol SCTP", src: vs(" protocol SCTP\n" + rs),
			err: "t.conf:2: virtual_server 198.18.0.1 80: protocol: SCTP: xvs forwards TCP and UDP"},
		{name: "lvs_sched and lb_kind DR, real port follows", src: vs(" lvs_sched sh\n lb_kind DR\n real_server 198.18.1.2 8080\n"),
			want: []service.Service{svc80(func(s *service.Service) { s.Scheduler = "sh" }, rsrv("198.18.1.2", 80, 1, service.MethodDR))}},
		{name: "sh flags, flag-1 as ipvsadm reads it", src: vs(" lb_algo sh\n sh-port\n flag-1\n sh-port\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) {
				s.Scheduler, s.SchedFlags = "sh", []string{"sh-port", "sh-fallback"}
			}, nat("198.18.1.2", 80))}},
		{name: "mh flags", src: vs(" lb_algo mh\n mh-fallback\n flag-2\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) {
				s.Scheduler, s.SchedFlags = "mh", []string{"mh-fallback", "mh-port"}
			}, nat("198.18.1.2", 80))}},
		{name: "a flag the scheduler does not take", src: vs(" lb_algo wrr\n mh-port\n flag-3\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) { s.Scheduler = "wrr" }, nat("198.18.1.2", 80))},
			warns: []string{"t.conf:3: mh-port is not a flag of scheduler wrr (it takes none); ignored",
				"t.conf:4: flag-3 is not a flag of scheduler wrr (it takes none); ignored"}},
		{name: "another scheduler's flag", src: vs(" lb_algo sh\n mh-port\n flag-3\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) { s.Scheduler = "sh" }, nat("198.18.1.2", 80))},
			warns: []string{"t.conf:3: mh-port is not a flag of scheduler sh (it takes sh-fallback and sh-port); ignored",
				"t.conf:4: flag-3 is not a flag of scheduler sh (it takes sh-fallback and sh-port); ignored"}},
		{name: "default scheduler's flags", src: vs(" sh-port\n" + rs),
			want:  []service.Service{svc80(nil, nat("198.18.1.2", 80))},
			warns: []string{"t.conf:2: sh-port is not a flag of scheduler wlc (it takes none); ignored"}},
		{name: "hashed", src: vs(" hashed\n" + rs), want: []service.Service{svc80(nil, nat("198.18.1.2", 80))},
			warns: []string{"t.conf:2: hashed is the kernel's own mark of a hashed service, not a setting; ignored"}},
		{name: "ops on UDP", src: vs(" protocol UDP\n ops\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) { s.Proto, s.OnePacket = service.UDP, true }, nat("198.18.1.2", 80))}},
		{name: "ops on TCP", src: vs(" ops\n" + rs),
			err: "t.conf:2: virtual_server 198.18.0.1 80: ops: one-packet scheduling is only for UDP virtual servers (this one is TCP)"},
		{name: "TUN gue", src: vs(" lb_kind TUN type gue port 6080 csum\n real_server 198.18.1.2 8080\n"),
			want: []service.Service{svc80(nil, service.Real{Addr: ip("198.18.1.2"), Port: 80, Weight: 1, Method: service.MethodTUN,
				Tunnel: service.Tunnel{Type: service.TunGUE, Port: 6080, Csum: service.TunCsum}})}},
		{name: "TUN plain is IPIP", src: vs(" lvs_method TUN\n" + rs),
			want: []service.Service{svc80(nil, rsrv("198.18.1.2", 80, 1, service.MethodTUN))}},
		{name: "TUN ipip refuses a checksum", src: vs(" lb_kind TUN csum\n" + rs),
			err: "t.conf:2: real_server 198.18.1.2 80: lb_kind: Illegal 'tun-csum' option with the 'ipip' tunnel type"},
		{name: "real server's own method", src: vs(" lb_kind DR\n real_server 198.18.1.2 8080 {\n  lvs_method NAT\n }\n" +
			" real_server 198.18.1.3 8080 {\n  lvs_method TUN type gre csum\n }\n real_server 198.18.1.4 8080\n"),
			want: []service.Service{svc80(nil, nat("198.18.1.2", 8080),
				service.Real{Addr: ip("198.18.1.3"), Port: 80, Weight: 1, Method: service.MethodTUN,
					Tunnel: service.Tunnel{Type: service.TunGRE, Csum: service.TunCsum}},
				rsrv("198.18.1.4", 80, 1, service.MethodDR))}},
		{name: "real server's own method, refused at its line", src: vs(" lb_kind DR\n real_server 198.18.1.2 {\n  lvs_method TUN csum\n }\n"),
			err: "t.conf:4: real_server 198.18.1.2 80: lvs_method: Illegal 'tun-csum' option"},
		{name: "persistence_timeout bare", src: vs(" persistence_timeout\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) {
				s.Persistence = &service.Persistence{Timeout: 360 * time.Second}
			}, nat("198.18.1.2", 80))}},
		{name: "persistence with granularity", src: vs(" persistence_timeout 50\n persistence_granularity 255.255.255.0\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) {
				s.Persistence = &service.Persistence{Timeout: 50 * time.Second, NetmaskBits: 24}
			}, nat("198.18.1.2", 80))}},
		{name: "granularity without persistence", src: vs(" persistence_granularity 24\n" + rs),
			want:  []service.Service{svc80(nil, nat("198.18.1.2", 80))},
			warns: []string{"t.conf:2: persistence_granularity without persistence_timeout does nothing; ignored"}},
		{name: "granularity too wide for IPv4", src: vs(" persistence_timeout 50\n persistence_granularity 64\n" + rs),
			err: "t.conf:3: virtual_server 198.18.0.1 80: persistence_granularity: /64 is not a valid IPv4 prefix length"},
		{name: "persistence_engine", src: vs(" persistence_timeout 50\n persistence_engine sip\n" + rs),
			want: []service.Service{svc80(func(s *service.Service) {
				s.Persistence = &service.Persistence{Timeout: 50 * time.Second}
			}, nat("198.18.1.2", 80))},
			warns: []string{"t.conf:3: persistence_engine sip is not implemented; persistence is by client address only"}},
		{name: "weight and thresholds", src: vs(" real_server 198.18.1.2 80 {\n  weight 2147483647\n  uthreshold 100\n  lthreshold 10\n }\n" +
			" real_server 198.18.1.3 80 {\n  weight 0\n }\n"),
			want: []service.Service{svc80(nil,
				service.Real{Addr: ip("198.18.1.2"), Port: 80, Weight: service.MaxWeight, Method: service.MethodNAT, UpperThreshold: 100, LowerThreshold: 10},
				rsrv("198.18.1.3", 80, 0, service.MethodNAT))}},
		{name: "weight above MaxWeight", src: vs(" real_server 198.18.1.2 80 {\n  weight 2147483648\n }\n"),
			err: `t.conf:3: real_server 198.18.1.2 80: weight: bad value "2147483648" (want 0..2147483647)`},
		{name: "virtual server weight is the real servers' default", src: vs(" weight 4\n" + rs),
			want: []service.Service{svc80(nil, rsrv("198.18.1.2", 80, 4, service.MethodNAT))}},
		{name: "port 0 needs persistence", src: "virtual_server 198.18.0.1 0 {\n real_server 198.18.1.2 80\n}\n",
			err: "t.conf:1: virtual_server 198.18.0.1 0: port 0 (every port) needs persistence_timeout, as in IPVS"},
		{name: "port 0 with persistence", src: "virtual_server 198.18.0.1 0 {\n persistence_timeout 60\n lb_kind DR\n real_server 198.18.1.2 80\n}\n",
			want: []service.Service{svc80(func(s *service.Service) {
				s.Port, s.Persistence = 0, &service.Persistence{Timeout: time.Minute}
			}, rsrv("198.18.1.2", 0, 1, service.MethodDR))}},
		{name: "real of the other family", src: vs(rs + " real_server 2001:db8::2 80\n"),
			err: "t.conf:3: real_server 2001:db8::2 80: family differs from service TCP 198.18.0.1:80"},
		{name: "the same real server twice as IPVS sees it", src: vs(" lb_kind DR\n" + rs + " real_server 198.18.1.2 8080\n"),
			err: "t.conf:4: real_server 198.18.1.2 8080: the same real server as real_server 198.18.1.2 80 at t.conf:3 (both are 198.18.1.2:80"},
		{name: "a virtual server twice", src: vs(rs) + vs(rs),
			err: "t.conf:4: virtual_server 198.18.0.1 80: protocol TCP: defined twice (first at t.conf:1)"},
		{name: "one address, TCP and UDP", src: vs(rs) + "virtual_server 198.18.0.1 80 {\n protocol UDP\n}\n",
			want: []service.Service{svc80(nil, nat("198.18.1.2", 80)), svc80(func(s *service.Service) { s.Proto = service.UDP })}},
		{name: "fwmark virtual server is left out", src: "virtual_server fwmark 5 {\n real_server 198.18.1.2 80\n}\n" + vs(rs),
			want: []service.Service{svc80(nil, nat("198.18.1.2", 80))},
			warns: []string{"t.conf:1: virtual_server fwmark 5 is left out, with its checks: firewall marks are set by netfilter, which xvs's XDP path " +
				"never sees; list the marked addresses and ports in a virtual_server_group and write virtual_server group NAME instead"}},
		{name: "group with ranges", src: g + "virtual_server group g {\n lb_kind DR\n real_server 198.18.1.2 80\n" +
			" real_server 198.18.1.3 8080 {\n  lvs_method NAT\n }\n}\n",
			want: []service.Service{group("g", wantG, rsrv("198.18.1.2", 0, 1, service.MethodDR), nat("198.18.1.3", 8080))}},
		{name: "group of TCP and UDP", src: g + "virtual_server group g {\n real_server 198.18.1.2 80\n}\n" +
			"virtual_server group g {\n protocol UDP\n ops\n real_server 198.18.1.2 80\n}\n",
			want: []service.Service{group("g", wantG, nat("198.18.1.2", 80)),
				func() service.Service {
					s := group("g/udp", udp(wantG), nat("198.18.1.2", 80))
					s.OnePacket = true
					return s
				}()}},
		{name: "group UDP first", src: g + "virtual_server group g {\n protocol UDP\n}\nvirtual_server group g {\n}\n",
			want: []service.Service{group("g", udp(wantG)), group("g/tcp", wantG)}},
		{name: "group of one protocol twice", src: g + "virtual_server group g {\n}\nvirtual_server group g {\n}\n",
			err: "t.conf:8: virtual_server group g: protocol TCP: defined twice (first at t.conf:6)"},
		{name: "group's second UDP side", src: g + "virtual_server group g {\n}\nvirtual_server group g {\n protocol UDP\n}\n" +
			"virtual_server group g {\n protocol UDP\n}\n",
			err: "t.conf:11: virtual_server group g: protocol UDP: defined twice (first at t.conf:8)"},
		{name: "group fwmark entries", src: "virtual_server_group g {\n fwmark 7\n 198.18.0.1 80\n}\n" +
			"virtual_server group g {\n}\nvirtual_server group g {\n protocol UDP\n}\n",
			want: []service.Service{
				group("g", []service.Match{{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.1/32"), PortLo: 80, PortHi: 80}}),
				group("g/udp", []service.Match{{Proto: service.UDP, Prefix: netip.MustParsePrefix("198.18.0.1/32"), PortLo: 80, PortHi: 80}})},
			warns: []string{"t.conf:2: fwmark 7 in virtual_server_group g is left out: firewall marks are set by netfilter, " +
				"which xvs's XDP path never sees; list the marked addresses and ports in the group instead"}},
		{name: "group of fwmarks only", src: "virtual_server_group m {\n fwmark 7\n}\nvirtual_server group m {\n}\n",
			warns: []string{"t.conf:2: fwmark 7 in virtual_server_group m is left out: firewall marks are set by netfilter, " +
				"which xvs's XDP path never sees; list the marked addresses and ports in the group instead",
				"t.conf:4: virtual_server group m is left out, with its checks: its group has only firewall marks"}},
		{name: "IPv6 group range", src: "virtual_server_group six {\n 2001:db8::10-1f 53\n 2001:db8::20-21 53\n}\n" +
			"virtual_server group six {\n protocol UDP\n}\n",
			want: []service.Service{group("six", []service.Match{
				{Proto: service.UDP, Prefix: netip.MustParsePrefix("2001:db8::10/124"), PortLo: 53, PortHi: 53},
				{Proto: service.UDP, Prefix: netip.MustParsePrefix("2001:db8::20/127"), PortLo: 53, PortHi: 53}})}},
		{name: "group of two families", src: "virtual_server_group g {\n 198.18.0.1 80\n 2001:db8::1 80\n}\nvirtual_server group g {\n}\n",
			err: "t.conf:3: virtual_server group g: virtual_server_group g mixes IPv4 and IPv6 (198.18.0.1 at t.conf:2)"},
		{name: "unused group", src: "virtual_server_group u {\n 198.18.0.1 80\n}\n" + "virtual_server_group m {\n fwmark 1\n}\n",
			warns: []string{"t.conf:1: virtual_server_group u is used by no virtual_server; ignored",
				"t.conf:4: virtual_server_group m is used by no virtual_server; ignored"}},
		{name: "unknown scheduler", src: vs(" lb_algo fastest\n"), err: `t.conf:2: virtual_server 198.18.0.1 80: lb_algo: unknown scheduler "fastest" (xvs has rr wrr`},
		{name: "sorry server of the other family", src: vs(" sorry_server 2001:db8::9 80\n" + rs),
			err: "t.conf:2: virtual_server 198.18.0.1 80: sorry_server: family differs from service TCP 198.18.0.1:80"},
		{name: "sorry server method refused at its line", src: vs(" sorry_server 198.18.2.1\n sorry_server_lvs_method TUN type gre remcsum\n"),
			err: "t.conf:3: virtual_server 198.18.0.1 80: sorry_server_lvs_method: remcsum is for GUE tunnels only"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c, err := mem(nil).Parse("t.conf", []byte(row.src))
			var cfg *service.Config
			var warns []Warning
			if err == nil {
				cfg, warns, err = c.Services()
			}
			if row.err != "" {
				var pe *Error
				if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), row.err) {
					t.Fatalf("got %v\nwant …%s…", err, row.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := warnStrings(warns); !reflect.DeepEqual(got, row.warns) {
				t.Errorf("warnings\n got  %q\n want %q", got, row.warns)
			}
			if len(cfg.Services) != len(row.want) {
				t.Fatalf("%d services, want %d: %+v", len(cfg.Services), len(row.want), cfg.Services)
			}
			for i := range row.want {
				diffService(t, row.want[i].Key().String(), cfg.Services[i], row.want[i])
			}
			checkHealthKeys(t, c, cfg)
		})
	}
}

// TestServicesByHand: a Config built in Go, not parsed, is checked as strictly; errors land on
// the virtual server's line when no field has one.
func TestServicesByHand(t *testing.T) {
	p := Pos{File: "go", Line: 7}
	v := &VirtualServer{Pos: p, Addr: ip("198.18.0.1"), Port: 80, Protocol: "TCP", Method: "NAT", Scheduler: "bogus"}
	_, _, err := (&Config{VirtualServers: []*VirtualServer{v}}).Services()
	if err == nil || err.Error() != `go:7: virtual_server 198.18.0.1 80: unknown scheduler "bogus"` {
		t.Fatal(err)
	}
	v.Scheduler = ""
	v.Reals = []*RealServer{{Pos: Pos{File: "go", Line: 8}, Addr: ip("198.18.1.2"), Port: 80, Weight: 1, Method: "BRIDGE"}}
	_, _, err = (&Config{VirtualServers: []*VirtualServer{v}}).Services()
	if err == nil || !strings.HasPrefix(err.Error(), `go:8: real_server 198.18.1.2 80: unknown forwarding method "BRIDGE"`) {
		t.Fatal(err)
	}
	v.Reals[0].Method = "DR"
	v.SchedFlags = []string{"hashed"} // no lines: the virtual server's
	cfg, warns, err := (&Config{VirtualServers: []*VirtualServer{v}}).Services()
	if err != nil || len(cfg.Services) != 1 || cfg.Services[0].Scheduler != "wlc" || len(warns) != 1 || warns[0].Pos != p {
		t.Fatal(cfg, warns, err)
	}
	v.SchedFlags = []string{"ops"}
	if _, _, err := (&Config{VirtualServers: []*VirtualServer{v}}).Services(); err == nil || !strings.HasPrefix(err.Error(), "go:7: ") {
		t.Fatal(err)
	}
	v.SchedFlags, v.Protocol = nil, ""
	if _, _, err := (&Config{VirtualServers: []*VirtualServer{v}}).Services(); err == nil ||
		err.Error() != "go:7: virtual_server 198.18.0.1 80: no protocol: xvs forwards TCP and UDP" {
		t.Fatal(err)
	}
	v.Protocol = "TCP"
	// A group that is not there is refused, not left out in silence.
	gv := &VirtualServer{Pos: p, Group: "web", Protocol: "TCP", Method: "NAT"}
	if _, _, err := (&Config{VirtualServers: []*VirtualServer{gv}}).Services(); err == nil ||
		err.Error() != "go:7: virtual_server group web: no virtual_server_group of that name" {
		t.Fatal(err)
	}
	// A group virtual server built by hand keeps its group's name.
	g := &Group{Name: "web", Entries: []GroupEntry{{First: ip("198.18.0.1"), Last: ip("198.18.0.1"), Port: 80}}}
	gv = &VirtualServer{Pos: p, Group: "web", Protocol: "TCP", Method: "NAT"}
	if h := gv.Health(); h.Key != (service.Key{Group: "web"}) {
		t.Fatalf("%+v", h.Key)
	}
	cfg, _, err = (&Config{Groups: map[string]*Group{"web": g}, VirtualServers: []*VirtualServer{gv}}).Services()
	if err != nil || cfg.Services[0].Group != "web" {
		t.Fatal(cfg, err)
	}
}

// TestCover: ranges as the fewest exact prefixes, against a table and, on every range inside
// one /24, against the properties that define the answer.
func TestCover(t *testing.T) {
	for _, c := range []struct{ first, last, want string }{
		{"198.18.0.1", "198.18.0.1", "[198.18.0.1/32]"},
		{"198.18.0.0", "198.18.0.255", "[198.18.0.0/24]"},
		{"198.18.0.60", "198.18.0.63", "[198.18.0.60/30]"},
		{"198.18.0.1", "198.18.0.10", "[198.18.0.1/32 198.18.0.2/31 198.18.0.4/30 198.18.0.8/31 198.18.0.10/32]"},
		{"198.18.0.255", "198.18.0.255", "[198.18.0.255/32]"},
		{"0.0.0.0", "255.255.255.255", "[0.0.0.0/0]"},
		{"2001:db8::", "2001:db8::ffff", "[2001:db8::/112]"},
		{"2001:db8::ff", "2001:db8::100", "[2001:db8::ff/128 2001:db8::100/128]"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127]"},
	} {
		if got := fmt.Sprint(cover(ip(c.first), ip(c.last))); got != c.want {
			t.Errorf("%s-%s: %s, want %s", c.first, c.last, got, c.want)
		}
	}
	if cover(ip("198.18.0.2"), ip("198.18.0.1")) != nil || cover(ip("198.18.0.1"), ip("2001:db8::1")) != nil {
		t.Error("an empty or mixed range gave prefixes")
	}
	base := ip("198.18.0.0").As4()
	at := func(i int) netip.Addr { b := base; b[3] = byte(i); return netip.AddrFrom4(b) }
	for lo := 0; lo < 256; lo++ {
		for hi := lo; hi < 256; hi++ {
			ps := cover(at(lo), at(hi))
			next := lo
			for i, p := range ps {
				// In order, no gap, no overlap, nothing outside.
				if p.Addr() != at(next) || p.Masked() != p {
					t.Fatalf("%d-%d: %v does not start at %d", lo, hi, ps, next)
				}
				next += 1 << (32 - p.Bits())
				if next > hi+1 {
					t.Fatalf("%d-%d: %v goes past the range", lo, hi, ps)
				}
				// Fewest: no prefix could be one bit wider inside the range, so none of two
				// neighbours are halves of one block.
				if i > 0 && ps[i-1].Bits() == p.Bits() {
					if w := netip.PrefixFrom(ps[i-1].Addr(), p.Bits()-1); w.Masked().Addr() == ps[i-1].Addr() {
						t.Fatalf("%d-%d: %v and %v make %v", lo, hi, ps[i-1], p, w)
					}
				}
			}
			if next != hi+1 {
				t.Fatalf("%d-%d: %v ends at %d", lo, hi, ps, next-1)
			}
		}
	}
}
