package control

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/keepalived"
	"github.com/xvs-project/xvs/service"
)

func readChecks(t *testing.T, name, yml string) *File {
	t.Helper()
	f, err := parseYAMLFile(name, []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func svcKey(s string) service.Key {
	ap := netip.MustParseAddrPort(s)
	return service.Key{Proto: service.TCP, Addr: ap.Addr(), Port: ap.Port()}
}

func realKey(s string) service.RealKey {
	ap := netip.MustParseAddrPort(s)
	return service.RealKey{Addr: ap.Addr(), Port: ap.Port()}
}

// TestChecksFile reads testdata/checks.yaml, the grammar of ParseConfig's
// doc, and looks at every part of the File it gives.
func TestChecksFile(t *testing.T) {
	data, err := os.ReadFile("testdata/checks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile("testdata/checks.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("checks.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Format != FormatYAML || !reflect.DeepEqual(f.Services, cfg) || len(cfg.Services) != 4 {
		t.Fatalf("services differ from ParseConfig's: %+v", f.Services)
	}
	// The SSH service has no checks: it is not in Health.
	if len(f.Health) != 3 {
		t.Fatalf("%d services in Health, want 3", len(f.Health))
	}

	web := f.Health[0]
	if web.Key != svcKey("198.18.0.10:80") || web.Name != "TCP 198.18.0.10:80" || web.Quorum != 1 {
		t.Errorf("web service: %+v", web)
	}
	wantReals := []service.RealKey{realKey("198.18.1.1:80"), realKey("198.18.1.2:80"), realKey("198.18.1.3:8080")}
	for i, r := range web.Reals {
		if r.Key != wantReals[i] {
			t.Errorf("real %d key %v, want %v", i, r.Key, wantReals[i])
		}
		if !r.Inhibit {
			t.Errorf("real %d: inhibit_on_failure of the service not inherited", i)
		}
	}
	if web.Reals[0].Weight != 3 || web.Reals[1].Weight != 1 {
		t.Errorf("weights %d %d, want 3 1", web.Reals[0].Weight, web.Reals[1].Weight)
	}
	// The first and third real servers inherit the service's HTTP_GET.
	for _, i := range []int{0, 2} {
		c := web.Reals[i].Checks
		if len(c) != 1 {
			t.Fatalf("real %d: %d checks, want the inherited HTTP_GET", i, len(c))
		}
		h, ok := c[0].Checker.(*health.HTTP)
		if !ok || h.Addr.Port() != wantReals[i].Port || h.VirtualHost != "www.example.com" || len(h.URLs) != 2 ||
			h.URLs[0].Digest != "9b3a0c85a887a256d6939da88aabd8cd" || len(h.URLs[0].Status) != 2 ||
			h.URLs[0].Status[1] != (health.StatusRange{Lo: 301, Hi: 301}) || h.URLs[1].Regex.String() != "ok|ready" {
			t.Errorf("real %d: checker %#v", i, c[0].Checker)
		}
		want := health.Timing{DelayLoop: 6 * time.Second, Timeout: 2 * time.Second, Retry: 2, DelayBeforeRetry: time.Second}
		if c[0].Timing != want || !c[0].Alpha {
			t.Errorf("real %d: timing %+v alpha %v, want %+v and alpha", i, c[0].Timing, c[0].Alpha, want)
		}
	}
	// The second has its own checkers, which replace the service's.
	r1 := web.Reals[1]
	if len(r1.Checks) != 2 {
		t.Fatalf("real 1: %d checks, want TCP_CHECK and MISC_CHECK", len(r1.Checks))
	}
	if tc, ok := r1.Checks[0].Checker.(*health.TCP); !ok || tc.Addr != netip.MustParseAddrPort("198.18.1.2:8080") {
		t.Errorf("real 1: first checker %#v", r1.Checks[0].Checker)
	}
	if ex, ok := r1.Checks[1].Checker.(*health.Exec); !ok || !ex.Dynamic ||
		!reflect.DeepEqual(ex.Command, []string{"/usr/local/bin/check", "198.18.1.2"}) || r1.Checks[1].Timing.Timeout != 5*time.Second {
		t.Errorf("real 1: second checker %#v %+v", r1.Checks[1].Checker, r1.Checks[1].Timing)
	}
	if r1.Checks[0].Timing.DelayLoop != 3*time.Second || r1.Checks[0].Timing.Timeout != 3*time.Second {
		t.Errorf("real 1: the real's delay_loop and the service's connect_timeout: %+v", r1.Checks[0].Timing)
	}
	if !reflect.DeepEqual(r1.NotifyUp, []string{"/usr/local/bin/notify", "up", "198.18.1.2"}) ||
		!reflect.DeepEqual(r1.NotifyDown, []string{"/usr/local/bin/notify", "down", "198.18.1.2"}) {
		t.Errorf("real 1: notify %q %q", r1.NotifyUp, r1.NotifyDown)
	}

	dns := f.Health[1]
	if dns.Key != (service.Key{Proto: service.UDP, Addr: netip.MustParseAddr("198.18.0.53"), Port: 53}) ||
		len(dns.Reals) != 1 || len(dns.Reals[0].Checks) != 2 {
		t.Fatalf("dns service: %+v", dns)
	}
	if d, ok := dns.Reals[0].Checks[0].Checker.(*health.DNS); !ok || d.Type != "A" || d.Name != "example.com" || dns.Reals[0].Checks[0].Timing.Retry != 1 {
		t.Errorf("dns checker %#v %+v", dns.Reals[0].Checks[0].Checker, dns.Reals[0].Checks[0].Timing)
	}

	tls := f.Health[2]
	if tls.Quorum != 2 || tls.Hysteresis != 1 || !tls.SorryInhibit || tls.Sorry == nil ||
		tls.Sorry.Key != realKey("198.18.3.9:8443") || tls.Sorry.Weight != 1 ||
		!reflect.DeepEqual(tls.QuorumUp, []string{"/usr/local/bin/quorum", "up"}) {
		t.Errorf("tls service: %+v sorry %+v", tls, tls.Sorry)
	}
	if h := tls.Reals[2].Checks[0].Checker.(*health.HTTP); !h.TLS || h.Addr != netip.MustParseAddrPort("198.18.3.3:8443") {
		t.Errorf("SSL_GET %#v", h)
	}
	wantSorry := map[service.Key]service.Real{svcKey("198.18.0.20:443"): {
		Addr: netip.MustParseAddr("198.18.3.9"), Port: 8443, Weight: 1, Method: service.MethodNAT}}
	if !reflect.DeepEqual(f.Sorry, wantSorry) {
		t.Errorf("Sorry %+v, want %+v", f.Sorry, wantSorry)
	}

	// Probes: the two network checks of the DR servers (the MISC_CHECK has
	// no Net, the NAT server none at all) and the TUN server's two.
	type probe struct {
		svc  service.Key
		real service.RealKey
		vip  string
		off  bool
	}
	want := []probe{
		{svcKey("198.18.0.10:80"), realKey("198.18.1.1:80"), "198.18.0.10:80", false},
		{svcKey("198.18.0.10:80"), realKey("198.18.1.2:80"), "198.18.0.10:8080", true},
		{dns.Key.(service.Key), realKey("198.18.2.1:53"), "198.18.0.53:53", false},
		{dns.Key.(service.Key), realKey("198.18.2.1:53"), "198.18.0.53:53", true},
	}
	if len(f.Probes) != len(want) {
		t.Fatalf("%d probes, want %d: %+v", len(f.Probes), len(want), f.Probes)
	}
	nets := []*health.Net{
		web.Reals[0].Checks[0].Checker.(*health.HTTP).Net, r1.Checks[0].Checker.(*health.TCP).Net,
		dns.Reals[0].Checks[0].Checker.(*health.DNS).Net, dns.Reals[0].Checks[1].Checker.(*health.DNS).Net,
	}
	for i, p := range f.Probes {
		got := probe{p.Service, p.Real.Key(), p.VIP.String(), p.Off}
		if got != want[i] {
			t.Errorf("probe %d: %+v, want %+v", i, got, want[i])
		}
		if p.Net == nil || p.Net != nets[i] {
			t.Errorf("probe %d: Net %p is not its checker's %p", i, p.Net, nets[i])
		}
	}
	if f.Probes[2].Real.Tunnel != (service.Tunnel{Type: service.TunGUE, Port: 6080}) {
		t.Errorf("TUN probe's real: %+v", f.Probes[2].Real)
	}
	// keepalived's warning for MISC_CHECK's user is not there: no user.
	if len(f.Warnings) != 0 {
		t.Errorf("warnings %q", f.Warnings)
	}
}

// TestChecksInherit: a service's checker goes to every real server without
// checkers of its own; a real server's own replace it, and timing keys
// inherit checker, then real server, then service, then keepalived's
// default for the kind.
func TestChecksInherit(t *testing.T) {
	const head = "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n"
	tests := []struct {
		name, yml string
		kinds     [][]health.Kind // per real
		timing    []health.Timing // of each real's first check
	}{
		{"service checker inherited",
			head + "    check:\n      TCP_CHECK: {}\n    reals:\n      - {address: 198.18.1.1, method: nat}\n      - {address: 198.18.1.2, method: nat, check: {retry: 3}}\n",
			[][]health.Kind{{health.KindTCP}, {health.KindTCP}},
			[]health.Timing{
				{DelayLoop: 60 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: 60 * time.Second},
				{DelayLoop: 60 * time.Second, Timeout: 5 * time.Second, Retry: 3, DelayBeforeRetry: time.Second, Warmup: 60 * time.Second}}},
		{"real checker overrides",
			head + "    check:\n      delay_loop: 10\n      TCP_CHECK: {}\n    reals:\n      - {address: 198.18.1.1, method: nat, check: {UDP_CHECK: {}, DNS_CHECK: {}}}\n      - {address: 198.18.1.2, method: nat}\n",
			[][]health.Kind{{health.KindUDP, health.KindDNS}, {health.KindTCP}},
			[]health.Timing{
				{DelayLoop: 10 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: 10 * time.Second},
				{DelayLoop: 10 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: 10 * time.Second}}},
		{"checker, then real, then service",
			head + "    check:\n      delay_loop: 10\n      connect_timeout: 4\n      retry: 5\n      warmup: 0\n" +
				"    reals:\n      - address: 198.18.1.1\n        method: nat\n        check:\n          connect_timeout: 2\n          retry: 0\n          HTTP_GET: {url: {path: /}, retry: 7}\n",
			[][]health.Kind{{health.KindHTTP}},
			[]health.Timing{{DelayLoop: 10 * time.Second, Timeout: 2 * time.Second, Retry: 7, DelayBeforeRetry: 3 * time.Second}}},
		{"no checker anywhere",
			head + "    check:\n      delay_loop: 10\n    reals:\n      - {address: 198.18.1.1, method: nat, check: {retry: 2}}\n",
			[][]health.Kind{nil}, nil},
		{"several of one kind",
			head + "    reals:\n      - address: 198.18.1.1\n        method: nat\n        check:\n          TCP_CHECK:\n            - {connect_port: 80}\n            - {connect_port: 81, delay_loop: 2}\n",
			[][]health.Kind{{health.KindTCP, health.KindTCP}},
			[]health.Timing{{DelayLoop: 60 * time.Second, Timeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: 60 * time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := readChecks(t, "x.yaml", tt.yml)
			var reals []health.Real
			if len(f.Health) == 1 {
				reals = f.Health[0].Reals
			} else if tt.timing != nil {
				t.Fatalf("%d services in Health", len(f.Health))
			}
			for i, kinds := range tt.kinds {
				if kinds == nil {
					if len(f.Health) != 0 {
						t.Errorf("a service without checkers is in Health: %+v", f.Health)
					}
					continue
				}
				var got []health.Kind
				for _, c := range reals[i].Checks {
					k, _ := c.Checker.Describe()
					got = append(got, k)
				}
				if !reflect.DeepEqual(got, kinds) {
					t.Errorf("real %d: checkers %v, want %v", i, got, kinds)
				}
				if reals[i].Checks[0].Timing != tt.timing[i] {
					t.Errorf("real %d: timing %+v, want %+v", i, reals[i].Checks[0].Timing, tt.timing[i])
				}
			}
		})
	}
}

// TestChecksProbes: which checks are path-true probes, and with what VIP,
// for DR, TUN and NAT servers, a port-0 service, a group service, the
// path-true opt-out at each level and a check aimed elsewhere.
func TestChecksProbes(t *testing.T) {
	type probe struct {
		real string
		vip  string
		off  bool
	}
	tests := []struct {
		name, yml string
		want      []probe
		warning   string
	}{
		{"DR, TUN and NAT",
			"services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    check: {TCP_CHECK: {}}\n    reals:\n" +
				"      - {address: 198.18.1.1, method: dr}\n      - {address: 198.18.1.2, method: tun}\n      - {address: 198.18.1.3, method: nat, port: 8080}\n",
			[]probe{{"198.18.1.1:80", "198.18.0.10:80", false}, {"198.18.1.2:80", "198.18.0.10:80", false}}, ""},
		{"opt-out on the service, overridden by a real, then a checker",
			"services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    check: {path-true: false, TCP_CHECK: {}}\n    reals:\n" +
				"      - {address: 198.18.1.1, method: dr}\n      - {address: 198.18.1.2, method: dr, check: {path-true: true}}\n" +
				"      - {address: 198.18.1.3, method: dr, check: {path-true: true, TCP_CHECK: {path-true: false}, HTTP_GET: {url: {path: /}}}}\n",
			[]probe{{"198.18.1.1:80", "198.18.0.10:80", true}, {"198.18.1.2:80", "198.18.0.10:80", false},
				{"198.18.1.3:80", "198.18.0.10:80", true}, {"198.18.1.3:80", "198.18.0.10:80", false}}, ""},
		{"MISC_CHECK is no probe",
			"services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    reals:\n      - {address: 198.18.1.1, method: dr, check: {MISC_CHECK: {misc_path: /bin/true}}}\n",
			nil, ""},
		{"port 0 service: the checker's port",
			"services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 0\n    persistent: 60\n    reals:\n      - {address: 198.18.1.1, method: dr, check: {TCP_CHECK: {connect_port: 443}}}\n",
			[]probe{{"198.18.1.1:0", "198.18.0.10:443", false}}, ""},
		{"connect_ip elsewhere",
			"services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    reals:\n      - {address: 198.18.1.1, method: dr, check: {TCP_CHECK: {connect_ip: 198.18.9.9}}}\n",
			[]probe{{"198.18.1.1:80", "198.18.0.10:80", true}},
			"x.yaml:6: TCP 198.18.0.10:80 real 198.18.1.1:80: the check dials 198.18.9.9:80, not the real server, so it is not path-true"},
		{"group service",
			"services:\n  - group: web\n    match: [{proto: tcp, prefix: 198.18.0.20}]\n    check:\n      TCP_CHECK: {connect_port: 80}\n    reals:\n      - {address: 198.18.1.1, method: dr}\n      - {address: 198.18.1.2, method: tun}\n",
			nil,
			"x.yaml:5: group web: a group service has no single VIP:port, so checks of its DR and TUN real servers are not path-true (they dial the real server's own address)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := readChecks(t, "x.yaml", tt.yml)
			var got []probe
			for _, p := range f.Probes {
				got = append(got, probe{netip.AddrPortFrom(p.Real.Addr, p.Real.Port).String(), p.VIP.String(), p.Off})
				if p.Net == nil {
					t.Errorf("probe without a Net: %+v", p)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("probes %+v, want %+v", got, tt.want)
			}
			if tt.warning == "" && len(f.Warnings) != 0 || tt.warning != "" && !reflect.DeepEqual(f.Warnings, []string{tt.warning}) {
				t.Errorf("warnings %q, want %q", f.Warnings, tt.warning)
			}
		})
	}
}

// TestChecksHealthAndSorry: which services are in Health, and the sorry
// server's method, port and forms.
func TestChecksHealthAndSorry(t *testing.T) {
	const head = "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n"
	tests := []struct {
		name, yml string
		inHealth  bool
		sorry     *service.Real
	}{
		{"quorum alone does nothing", head + "    check: {quorum: 2}\n    reals: [{address: 198.18.1.1, method: nat}]\n", false, nil},
		{"quorum scripts", head + "    check: {quorum_down: /bin/true}\n    reals: [{address: 198.18.1.1, method: nat}]\n", true, nil},
		{"sorry server takes the reals' method and the service port",
			head + "    check: {sorry_server: 198.18.1.9}\n    reals: [{address: 198.18.1.1, method: dr}]\n", true,
			&service.Real{Addr: netip.MustParseAddr("198.18.1.9"), Port: 80, Weight: 1, Method: service.MethodDR}},
		{"sorry server's own method",
			head + "    check:\n      sorry_server: {address: 198.18.1.9, port: 8080, method: nat}\n    reals: [{address: 198.18.1.1, method: dr}]\n", true,
			&service.Real{Addr: netip.MustParseAddr("198.18.1.9"), Port: 8080, Weight: 1, Method: service.MethodNAT}},
		{"sorry server of a TUN service, port normalized",
			head + "    check:\n      sorry_server: {address: 198.18.1.9, port: 8080, method: tun, tun-type: gre}\n    reals: [{address: 198.18.1.1, method: nat}]\n", true,
			&service.Real{Addr: netip.MustParseAddr("198.18.1.9"), Port: 80, Weight: 1, Method: service.MethodTUN, Tunnel: service.Tunnel{Type: service.TunGRE}}},
		{"real check block alone", head + "    reals: [{address: 198.18.1.1, method: nat, check: {TCP_CHECK: {}}}]\n", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := readChecks(t, "x.yaml", tt.yml)
			if (len(f.Health) == 1) != tt.inHealth {
				t.Fatalf("Health %+v, want the service in it: %v", f.Health, tt.inHealth)
			}
			got, ok := f.Sorry[svcKey("198.18.0.10:80")]
			if tt.sorry == nil {
				if ok || len(f.Health) == 1 && f.Health[0].Sorry != nil {
					t.Errorf("a sorry server: %+v", got)
				}
				return
			}
			if !ok || got != *tt.sorry {
				t.Errorf("sorry %+v, want %+v", got, *tt.sorry)
			}
			if hs := f.Health[0].Sorry; hs == nil || hs.Key != tt.sorry.Key() {
				t.Errorf("health's sorry server %+v", hs)
			}
		})
	}
}

// TestChecksErrors: bad check: blocks are refused with the line and field,
// naming the server.
func TestChecksErrors(t *testing.T) {
	const head = "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n"
	const real = "    reals:\n      - address: 198.18.1.2\n        method: nat\n        check:\n" // check's keys at line 9
	tests := []struct {
		name, yml string
		line      int
		field     string
		msg       string
	}{
		{"unknown checker", head + real + "          HTTP_CHECK: {}\n", 9, "services[0].reals[0].check.HTTP_CHECK",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: unknown checker "HTTP_CHECK" (want TCP_CHECK, HTTP_GET, SSL_GET, UDP_CHECK, DNS_CHECK, MISC_CHECK)`},
		{"unimplemented checker", head + "    check:\n      SMTP_CHECK: {}\n", 6, "services[0].check.SMTP_CHECK",
			`virtual_server 198.18.0.10 80: unknown checker "SMTP_CHECK" (want TCP_CHECK, HTTP_GET, SSL_GET, UDP_CHECK, DNS_CHECK, MISC_CHECK)`},
		{"zero delay_loop", head + "    check:\n      delay_loop: 0\n", 6, "services[0].check.delay_loop",
			"virtual_server 198.18.0.10 80: interval 0: must be positive"},
		{"negative connect_timeout", head + real + "          TCP_CHECK:\n            connect_timeout: -1\n", 10, "services[0].reals[0].check.TCP_CHECK.connect_timeout",
			"virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: interval -1: must be positive"},
		{"negative delay_loop on a real", head + real + "          delay_loop: -2.5\n", 9, "services[0].reals[0].check.delay_loop",
			"virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: interval -2.5: must be positive"},
		{"unparsable URL", head + real + "          HTTP_GET:\n            url:\n              - path: \"http://[::1\"\n", 11, "services[0].reals[0].check.HTTP_GET.url[0].path",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: cannot parse "http://[::1" as a request URL`},
		{"short digest", head + real + "          HTTP_GET:\n            url: [{path: /, digest: abc123}]\n", 10, "services[0].reals[0].check.HTTP_GET.url[0].digest",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: "abc123": want 32 hex characters (an MD5 sum as genhash prints it)`},
		{"digest not hex", head + "    check:\n      HTTP_GET:\n        url:\n          - path: /\n            digest: 0123456789abcdef0123456789abcdeg\n    reals: [{address: 198.18.1.2, method: nat}]\n",
			9, "services[0].check.HTTP_GET.url[0].digest",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: "0123456789abcdef0123456789abcdeg": want 32 hex characters (an MD5 sum as genhash prints it)`},
		{"HTTP_GET without url", head + "    check:\n      HTTP_GET: {connect_timeout: 1}\n    reals: [{address: 198.18.1.2, method: nat}]\n",
			6, "services[0].check.HTTP_GET.url", "virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: an HTTP check needs at least one url block"},
		{"unknown key in a service's check", head + "    check:\n      delay_lop: 3\n", 6, "services[0].check.delay_lop",
			`virtual_server 198.18.0.10 80: unknown field "delay_lop"`},
		{"unknown key in a checker", head + real + "          TCP_CHECK: {connect_port: 80, conect_ip: 198.18.1.3}\n", 9, "services[0].reals[0].check.TCP_CHECK.conect_ip",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: unknown field "conect_ip"`},
		{"unknown key in a url", head + real + "          HTTP_GET:\n            url:\n              - {path: /, status: 200}\n", 11, "services[0].reals[0].check.HTTP_GET.url[0].status",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: unknown field "status"`},
		{"weight in a check", head + real + "          weight: 2\n", 9, "services[0].reals[0].check.weight",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: unknown field "weight": the real server's weight: field is its weight`},
		{"a real's key on the service", head + "    check:\n      notify_up: /bin/true\n", 6, "services[0].check.notify_up",
			`virtual_server 198.18.0.10 80: unknown field "notify_up"`},
		{"a checker in a checker", head + real + "          TCP_CHECK:\n            MISC_CHECK: {}\n", 10, "services[0].reals[0].check.TCP_CHECK.MISC_CHECK",
			"virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: a checker goes in a service's or a real server's check: block, not here"},
		{"path-true on MISC_CHECK", head + real + "          MISC_CHECK: {misc_path: /bin/true, path-true: false}\n", 9, "services[0].reals[0].check.MISC_CHECK.path-true",
			"virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: a MISC_CHECK runs a command: it has no network probe to make path-true"},
		{"path-true not a bool", head + "    check:\n      path-true: maybe\n", 6, "services[0].check.path-true",
			`virtual_server 198.18.0.10 80: "maybe" is not true or false`},
		{"two values for one", head + "    check:\n      delay_loop: [1, 2]\n", 6, "services[0].check.delay_loop",
			"virtual_server 198.18.0.10 80: expected one value"},
		{"checker not a mapping", head + real + "          TCP_CHECK: yes\n", 9, "services[0].reals[0].check.TCP_CHECK",
			"virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: expected a TCP_CHECK block (a mapping) or a list of them"},
		{"check not a mapping", head + "    check: [TCP_CHECK]\n", 5, "services[0].check",
			"virtual_server 198.18.0.10 80: expected a mapping"},
		{"bad status code", head + real + "          HTTP_GET: {url: {path: /, status_code: [200, 700]}}\n", 9, "services[0].reals[0].check.HTTP_GET.url.status_code",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: bad status code or range "700" (100-599)`},
		{"MISC_CHECK without misc_path", head + real + "          MISC_CHECK: {misc_timeout: 3}\n", 9, "services[0].reals[0].check.MISC_CHECK.misc_path",
			"virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: a MISC_CHECK needs misc_path"},
		{"DR real of a group has no port", "services:\n  - group: web\n    match: [{proto: tcp, prefix: 198.18.0.20}]\n    reals:\n      - {address: 198.18.1.1, method: dr, check: {TCP_CHECK: {}}}\n",
			5, "services[0].reals[0].check.TCP_CHECK.connect_port", "virtual_server group web: real_server 198.18.1.1 0: no port to check (the real server has none)"},
		{"quorum 0", head + "    check: {quorum: 0}\n", 5, "services[0].check.quorum",
			`virtual_server 198.18.0.10 80: bad value "0" (want 1..2147483647)`},
		{"sorry server address", head + "    check: {sorry_server: 198.18.1}\n", 5, "services[0].check.sorry_server",
			`"198.18.1" is not an IP address`},
		{"sorry server without a method", head + "    check: {sorry_server: 198.18.1.9}\n", 5, "services[0].check.sorry_server.method",
			"missing (the service has no real server to take it from)"},
		{"sorry server weight", head + "    check:\n      sorry_server: {address: 198.18.1.9, weight: 2}\n    reals: [{address: 198.18.1.1, method: nat}]\n", 6, "services[0].check.sorry_server.weight",
			`unknown field "weight"`},
		{"bad DNS type on the second of two", head + real + "          DNS_CHECK:\n            - {type: A}\n            - {type: PTR}\n", 11, "services[0].reals[0].check.DNS_CHECK[1].type",
			`virtual_server 198.18.0.10 80: real_server 198.18.1.2 80: unknown DNS type "PTR" (A NS CNAME SOA MX TXT AAAA)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseYAMLFile("x.yaml", []byte(tt.yml))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			if ce.Line != tt.line || ce.Field != tt.field || ce.Err.Error() != tt.msg {
				t.Errorf("got  %s\nwant x.yaml:%d: %s: %s", err, tt.line, tt.field, tt.msg)
			}
			if _, err := ParseConfig("x.yaml", []byte(tt.yml)); err == nil {
				t.Error("ParseConfig accepts it")
			}
		})
	}
}

// TestChecksKeepalivedError: a keepalived error keeps its type under the
// ConfigError, and keepalived's warnings come out as file:line: text, once
// for a checker two real servers inherit.
func TestChecksKeepalivedError(t *testing.T) {
	const head = "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n"
	_, err := parseYAMLFile("x.yaml", []byte(head+"    check: {retry: -1}\n"))
	var ke *keepalived.Error
	if !errors.As(err, &ke) || ke.Field != "retry" || ke.Pos.Line != 5 {
		t.Fatalf("%v: not a keepalived error at line 5", err)
	}
	f := readChecks(t, "x.yaml", head+"    check:\n      MISC_CHECK: {misc_path: /bin/true, user: nobody}\n"+
		"    reals:\n      - {address: 198.18.1.1, method: nat}\n      - {address: 198.18.1.2, method: nat}\n")
	want := []string{"x.yaml:6: MISC_CHECK user is not implemented; the command runs as the daemon's user"}
	if !reflect.DeepEqual(f.Warnings, want) {
		t.Errorf("warnings %q, want %q", f.Warnings, want)
	}
}

// TestChecksShapes: the ways YAML can write keepalived's values.
func TestChecksShapes(t *testing.T) {
	const yml = `services:
  - proto: udp
    vip: 198.18.0.10
    port: 9000
    check: &chk
      alpha:
      UDP_CHECK:
        payload: 0x0102
        require_reply: true
        min_reply_length: 2
    reals:
      - {address: 198.18.1.1, method: nat}
  - proto: udp
    vip: 198.18.0.11
    port: 9000
    check: *chk
    reals:
      - address: 198.18.1.2
        method: nat
        check:
          UDP_CHECK: {require_reply: false}
`
	f := readChecks(t, "x.yaml", yml)
	if len(f.Health) != 2 {
		t.Fatalf("%d services in Health", len(f.Health))
	}
	c := f.Health[0].Reals[0].Checks[0]
	u := c.Checker.(*health.UDP)
	if !c.Alpha || !u.RequireReply || !reflect.DeepEqual(u.Payload, []byte{1, 2}) || u.MinLen != 2 {
		t.Errorf("first UDP_CHECK: %+v alpha %v", u, c.Alpha)
	}
	c = f.Health[1].Reals[0].Checks[0]
	if u := c.Checker.(*health.UDP); u.RequireReply || !c.Alpha {
		t.Errorf("second: %+v alpha %v (the shared block's alpha, its own require_reply: false)", u, c.Alpha)
	}
	if !strings.HasPrefix(f.Health[1].Name, "UDP 198.18.0.11") {
		t.Errorf("name %q", f.Health[1].Name)
	}
}

// TestChecksSupervised: a YAML file's checks run in the Supervisor, against
// a listening and a closed port on 127.0.0.1: the closed one leaves the
// pool, so the File's keys find the engine's real servers.
func TestChecksSupervised(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downPort := down.Addr().(*net.TCPAddr).Port
	down.Close()
	upPort := up.Addr().(*net.TCPAddr).Port
	yml := fmt.Sprintf(`services:
  - proto: tcp
    vip: 198.18.0.10
    port: 80
    scheduler: rr
    check:
      delay_loop: 0.05
      connect_timeout: 0.05
      retry: 0
      warmup: 0
      TCP_CHECK: {}
    reals:
      - {address: 127.0.0.1, port: %d, weight: 2, method: nat}
      - {address: 127.0.0.1, port: %d, weight: 1, method: nat}
`, upPort, downPort)
	f := readChecks(t, "x.yaml", yml)
	e := newFakeEngine()
	startSupervisor(t, e, f)
	waitReals(t, e, svcKey("198.18.0.10:80"), "127.0.0.1:2")
}

// TestChecksKeepalivedTwin: a YAML file gives the health engine exactly
// what its keepalived.conf twin gives (keys and names aside, which the
// YAML reader sets to the service model's).
func TestChecksKeepalivedTwin(t *testing.T) {
	kc, err := keepalived.ParseFile("testdata/two-vs.conf")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile("testdata/two-vs.yaml", FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Health) != len(kc.VirtualServers) {
		t.Fatalf("%d services checked, keepalived has %d", len(f.Health), len(kc.VirtualServers))
	}
	unkey := func(s health.Service) health.Service {
		s.Key, s.Name = nil, ""
		s.Reals = slices.Clone(s.Reals)
		for i := range s.Reals {
			s.Reals[i].Key, s.Reals[i].Name = nil, ""
		}
		if s.Sorry != nil {
			sr := *s.Sorry
			sr.Key, sr.Name = nil, ""
			s.Sorry = &sr
		}
		return s
	}
	for i, vs := range kc.VirtualServers {
		want, got := unkey(vs.Health()), unkey(f.Health[i])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("service %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if r := f.Sorry[svcKey("198.18.0.10:80")]; r.Method != service.MethodDR || r.Port != 80 {
		t.Errorf("sorry server %+v, want DR as the virtual server's lb_kind", r)
	}
}
