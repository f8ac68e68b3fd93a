package keepalived

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

func mustParse(t *testing.T, file string) *Config {
	t.Helper()
	c, err := ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTwoVirtualServers(t *testing.T) {
	c := mustParse(t, "testdata/two-vs.conf")
	if c.Global.RouterID != "LVS_DEVEL" || len(c.VirtualServers) != 2 {
		t.Fatalf("%+v", c)
	}
	web, db := c.VirtualServers[0], c.VirtualServers[1]
	if web.Name() != "TCP 198.18.0.10:80" || web.Method != "DR" || web.Scheduler != "wrr" || web.Persistence != 50*time.Second ||
		web.Quorum != 2 || web.Hysteresis != 1 || web.VirtualHost != "www.example.test" {
		t.Fatalf("web %+v", web)
	}
	if strings.Join(web.QuorumUp, "|") != "/usr/local/bin/vs-up|web" || web.Sorry == nil || web.Sorry.AddrPort() != netip.MustParseAddrPort("198.18.2.1:80") {
		t.Fatalf("web scripts/sorry %+v %+v", web.QuorumUp, web.Sorry)
	}
	r1, r2 := web.Reals[0], web.Reals[1]
	if r1.Weight != 3 || !r1.Inhibit || r1.Method != "DR" || strings.Join(r1.NotifyDown, " ") != "/usr/local/bin/rs-down 198.18.1.2" {
		t.Fatalf("r1 %+v", r1)
	}
	h := r1.Checks[0].Checker.(*health.HTTP)
	if h.Addr != netip.MustParseAddrPort("198.18.1.2:80") || len(h.URLs) != 2 || h.URLs[0].Digest != "9b3a0c85a887a256d6939da88aabd8cd" ||
		fmt.Sprint(h.URLs[1].Status) != "[{200 299} {301 301}]" || h.VirtualHost != "www.example.test" || h.TLS {
		t.Fatalf("http %+v", h)
	}
	want := health.Timing{DelayLoop: 6 * time.Second, Timeout: 3 * time.Second, Retry: 3, DelayBeforeRetry: 3 * time.Second, Warmup: 6 * time.Second}
	if r1.Checks[0].Timing != want {
		t.Fatalf("http timing %+v", r1.Checks[0].Timing)
	}
	tc := r2.Checks[0].Checker.(*health.TCP)
	want = health.Timing{DelayLoop: 6 * time.Second, Timeout: 2 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Warmup: 6 * time.Second}
	if tc.Addr != netip.MustParseAddrPort("198.18.1.3:80") || r2.Checks[0].Timing != want || r2.Inhibit || tc.Net == nil || tc.Net != r2.Checks[0].Net {
		t.Fatalf("tcp %+v %+v", tc, r2.Checks[0].Timing)
	}
	if db.Method != "NAT" || db.Scheduler != "rr" || !db.Alpha || !db.Omega || db.Quorum != 1 {
		t.Fatalf("db %+v", db)
	}
	if !db.Reals[0].Checks[0].Alpha || db.Reals[1].UpperThreshold != 100 || db.Reals[1].LowerThreshold != 10 ||
		db.Reals[1].Checks[0].Timing.Retry != 2 || db.Reals[0].Checks[0].Checker.(*health.TCP).Addr.Port() != 15432 {
		t.Fatalf("db reals %+v %+v", db.Reals[0], db.Reals[1])
	}
	var ws []string
	for _, w := range c.Warnings {
		ws = append(ws, w.String())
	}
	got := strings.Join(ws, "\n")
	for _, want := range []string{
		`testdata/two-vs.conf:4: block "notification_email" in global_defs is not implemented; ignored`,
		`testdata/two-vs.conf:8: keyword "smtp_server" in global_defs is not implemented; ignored`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing warning %q in\n%s", want, got)
		}
	}
	if len(c.VRRPInstances) != 1 || c.VRRPInstances[0].Name != "VI_1" || c.VRRPInstances[0].State != "MASTER" ||
		c.VRRPInstances[0].VIPs[0].Prefix.String() != "198.18.0.10/32" {
		t.Errorf("vrrp_instance VI_1 read as %+v", c.VRRPInstances)
	}
	if len(ws) != 4 {
		t.Errorf("%d warnings:\n%s", len(ws), got)
	}
}

func TestAllCheckers(t *testing.T) {
	c := mustParse(t, "testdata/all-checkers.conf")
	if c.Global.RouterID != "FROM_INCLUDE" {
		t.Fatal("include not read")
	}
	g := c.Groups["dns"]
	if g == nil || len(g.Entries) != 3 || g.Entries[1].First != netip.MustParseAddr("198.18.0.60") || g.Entries[1].Last != netip.MustParseAddr("198.18.0.63") || g.Entries[2].FWMark != 7 {
		t.Fatalf("group %+v", g)
	}
	dnsVS, tunVS := c.VirtualServers[0], c.VirtualServers[1]
	if dnsVS.Name() != "group dns" || dnsVS.Protocol != "UDP" || dnsVS.Scheduler != "mh" || fmt.Sprint(dnsVS.SchedFlags) != "[mh-port]" ||
		dnsVS.Persistence != 360*time.Second || dnsVS.Granularity != 24 {
		t.Fatalf("dns vs %+v", dnsVS)
	}
	rs := dnsVS.Reals[0]
	d := rs.Checks[0].Checker.(*health.DNS)
	if d.Type != "A" || d.Name != "www.example.test" || d.Addr != netip.MustParseAddrPort("198.18.1.53:53") {
		t.Fatalf("dns %+v", d)
	}
	if tm := rs.Checks[0].Timing; tm.Retry != 3 || tm.DelayBeforeRetry != 5*time.Second {
		t.Fatalf("DNS defaults %+v", tm)
	}
	u := rs.Checks[1].Checker.(*health.UDP)
	if fmt.Sprintf("% x|% x|% x", u.Payload, u.Reply, u.Mask) != "01 02 ab|01 00|00 ff" || !u.RequireReply || u.MinLen != 2 || u.MaxLen != 64 {
		t.Fatalf("udp %+v", u)
	}
	if tunVS.FWMark != 9 || tunVS.Method != "TUN" || tunVS.Tunnel != (Tunnel{Type: "gue", Port: 6080, Csum: "csum"}) {
		t.Fatalf("tun vs %+v", tunVS)
	}
	r := tunVS.Reals[0]
	if len(r.Checks) != 2 {
		t.Fatalf("%d checks (SMTP_CHECK must be a warning, not a check)", len(r.Checks))
	}
	s := r.Checks[0].Checker.(*health.HTTP)
	if !s.TLS || s.SNI != "secure.example.test" || s.Protocol != health.HTTP11 || s.URLs[0].Regex.String() != "^OK" ||
		s.Net.Source != netip.MustParseAddr("198.18.0.2") || s.Net.Mark != 42 || r.Checks[0].Net != s.Net {
		t.Fatalf("ssl %+v", s)
	}
	if tm := r.Checks[0].Timing; tm.DelayLoop != 2500*time.Millisecond || tm.Warmup != 0 || tm.DelayBeforeRetry != 3*time.Second {
		t.Fatalf("ssl timing %+v", tm)
	}
	m := r.Checks[1].Checker.(*health.Exec)
	if strings.Join(m.Command, "|") != "/usr/local/bin/check|two words|x" || !m.Dynamic || r.Checks[1].Timing.Timeout != 4*time.Second || r.Checks[1].Timing.Retry != 0 {
		t.Fatalf("misc %+v %+v", m, r.Checks[1].Timing)
	}
	found := false
	for _, w := range c.Warnings {
		if strings.HasSuffix(w.Pos.File, "all-checkers.conf") && w.Pos.Line == 52 && strings.Contains(w.Msg, "SMTP_CHECK is not implemented") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no SMTP_CHECK warning at line 52: %v", c.Warnings)
	}
}

// mem is an in-memory Loader.
func mem(files map[string]string) Loader {
	return Loader{
		ReadFile: func(name string) ([]byte, error) {
			if s, ok := files[name]; ok {
				return []byte(s), nil
			}
			return nil, errors.New("open " + name + ": no such file")
		},
		Glob: func(p string) ([]string, error) {
			var out []string
			for name := range files {
				if ok, err := path.Match(p, name); err != nil {
					return nil, err
				} else if ok {
					out = append(out, name)
				}
			}
			// sorted, as filepath.Glob
			for i := range out {
				for j := i + 1; j < len(out); j++ {
					if out[j] < out[i] {
						out[i], out[j] = out[j], out[i]
					}
				}
			}
			return out, nil
		},
	}
}

func TestIncludes(t *testing.T) {
	files := map[string]string{
		"/etc/k/keepalived.conf":    "include conf.d/*.conf\ninclude /etc/other/x.conf\n",
		"/etc/k/conf.d/a.conf":      "virtual_server 198.18.0.1 80 {\n real_server 198.18.1.1 80 {\n TCP_CHECK {\n }\n }\n}\n",
		"/etc/k/conf.d/b.conf":      "virtual_server 198.18.0.2 80 {\n  bogus_key 1\n}\n",
		"/etc/other/x.conf":         "include ../k/none/*.conf\n",
		"/etc/loop/keepalived.conf": "include keepalived.conf\n",
	}
	l := mem(files)
	c, err := l.Parse("/etc/k/keepalived.conf", []byte(files["/etc/k/keepalived.conf"]))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VirtualServers) != 2 || c.VirtualServers[1].Addr != netip.MustParseAddr("198.18.0.2") {
		t.Fatalf("%+v", c.VirtualServers)
	}
	var ws []string
	for _, w := range c.Warnings {
		ws = append(ws, w.String())
	}
	want := "/etc/other/x.conf:1: include /etc/k/none/*.conf: no file matches\n" +
		`/etc/k/conf.d/b.conf:2: keyword "bogus_key" in virtual_server is not implemented; ignored`
	if got := strings.Join(ws, "\n"); got != want {
		t.Fatalf("warnings:\n%s\nwant\n%s", got, want)
	}
	_, err = l.Parse("/etc/loop/keepalived.conf", []byte(files["/etc/loop/keepalived.conf"]))
	if err == nil || !strings.Contains(err.Error(), "includes itself") {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	rs := func(body string) string {
		return "virtual_server 198.18.0.1 80 {\n  real_server 198.18.1.2 80 {\n" + body + "\n  }\n}\n"
	}
	cases := []struct{ src, want string }{
		{"virtual_server 198.18.0.1 80 {\n", "t.conf:1: '{' is never closed"},
		{"}\n", "t.conf:1: '}' without a matching '{'"},
		{"virtual_server 198.18.0.1 80 {\n quorum_up \"/bin/x\n}\n", "t.conf:2: unterminated quoted string"},
		{"virtual_server 198.18.0.1 {\n}\n", "t.conf:1: virtual_server 198.18.0.1: virtual_server: want <address> <port>"},
		{"virtual_server 198.18.0.300 80 {\n}\n", `t.conf:1: virtual_server 198.18.0.300 80: virtual_server: bad address "198.18.0.300"`},
		{"virtual_server 198.18.0.1 80 {\n delay_loop 0\n}\n", "t.conf:2: virtual_server 198.18.0.1 80: delay_loop: interval 0: must be positive"},
		{"virtual_server 198.18.0.1 80 {\n delay_loop -5\n}\n", "t.conf:2: virtual_server 198.18.0.1 80: delay_loop: interval -5: must be positive"},
		{"virtual_server 198.18.0.1 80 {\n lb_algo fastest\n}\n", `t.conf:2: virtual_server 198.18.0.1 80: lb_algo: unknown scheduler "fastest"`},
		{"virtual_server 198.18.0.1 80 {\n lb_kind TUN type gue\n}\n", "lb_kind: a GUE tunnel needs a port"},
		{"virtual_server group nope {\n}\n", `t.conf:1: virtual_server group nope: no virtual_server_group of that name`},
		{rs("    FOO_CHECK {\n    }"), `t.conf:3: real_server 198.18.1.2 80: FOO_CHECK: unknown checker "FOO_CHECK"`},
		{rs("    TCP_CHECK {\n      connect_timeout 0\n    }"), "t.conf:4: real_server 198.18.1.2 80: TCP_CHECK: connect_timeout: interval 0: must be positive"},
		{rs("    TCP_CHECK {\n      delay_loop -1\n    }"), "t.conf:4: real_server 198.18.1.2 80: TCP_CHECK: delay_loop: interval -1: must be positive"},
		{rs("    HTTP_GET {\n      url {\n        path /%zz\n      }\n    }"), `t.conf:5: real_server 198.18.1.2 80: HTTP_GET: url: path: cannot parse "/%zz" as a request URL`},
		{rs("    HTTP_GET {\n      url {\n        path health\n      }\n    }"), `url: path: cannot parse "health" as a request URL`},
		{rs("    HTTP_GET {\n      url {\n        path /\n        digest 9b3a0c85a887a256d6939da88aabd8c\n      }\n    }"), `t.conf:6: real_server 198.18.1.2 80: HTTP_GET: url: digest: "9b3a0c85a887a256d6939da88aabd8c": want 32 hex characters`},
		{rs("    HTTP_GET {\n      url {\n        path /\n        digest 9b3a0c85a887a256d6939da88aabd8cz\n      }\n    }"), `digest: "9b3a0c85a887a256d6939da88aabd8cz": want 32 hex characters`},
		{rs("    HTTP_GET {\n      url {\n        path /\n        status_code 200-99\n      }\n    }"), `status_code: bad status code or range "200-99"`},
		{rs("    HTTP_GET {\n    }"), "real_server 198.18.1.2 80: HTTP_GET: url: an HTTP check needs at least one url block"},
		{rs("    HTTP_GET {\n      url {\n        regex \"(\"\n      }\n    }"), `regex: cannot compile "("`},
		{rs("    DNS_CHECK {\n      type PTR\n    }"), `DNS_CHECK: type: unknown DNS type "PTR"`},
		{rs("    UDP_CHECK {\n      payload 0g\n    }"), `UDP_CHECK: payload: hex string "0g": bad digit 'g'`},
		{rs("    UDP_CHECK {\n      payload abc\n    }"), `UDP_CHECK: payload: hex string "abc": want an even number of hex digits`},
		{rs("    MISC_CHECK {\n      misc_timeout 3\n    }"), "MISC_CHECK: misc_path: a MISC_CHECK needs misc_path"},
		{rs("    weight -1"), `real_server 198.18.1.2 80: weight: bad value "-1"`},
		{"virtual_server fwmark 5 {\n  real_server 198.18.1.2 {\n    TCP_CHECK {\n    }\n  }\n}\n", "TCP_CHECK: connect_port: no port to check"},
	}
	l := mem(nil)
	for _, c := range cases {
		_, err := l.Parse("t.conf", []byte(c.src))
		var pe *Error
		if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("source:\n%s\n got %v\n want …%s…", c.src, err, c.want)
		}
	}
}

// TestTimingDefaults: keepalived's inheritance (checker → real → virtual) and per-kind defaults.
func TestTimingDefaults(t *testing.T) {
	src := `virtual_server 198.18.0.1 80 {
  retry 4
  real_server 198.18.1.2 80 {
    delay_before_retry 7
    TCP_CHECK {
    }
    HTTP_GET {
      url {
        path /
      }
      retry 0
    }
    DNS_CHECK {
    }
    MISC_CHECK {
      misc_path /bin/true
    }
  }
}
virtual_server 198.18.0.2 53 {
  real_server 198.18.1.3 53 {
    DNS_CHECK {
    }
    MISC_CHECK {
      misc_path /bin/true
    }
    HTTP_GET {
      url {
        path /
      }
    }
  }
}
`
	c, err := mem(nil).Parse("t.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	want := []health.Timing{
		{DelayLoop: 60 * s, Timeout: 5 * s, Retry: 4, DelayBeforeRetry: 7 * s, Warmup: 60 * s},
		{DelayLoop: 60 * s, Timeout: 5 * s, Retry: 0, DelayBeforeRetry: 7 * s, Warmup: 60 * s},
		{DelayLoop: 60 * s, Timeout: 5 * s, Retry: 4, DelayBeforeRetry: 7 * s, Warmup: 60 * s},
		{DelayLoop: 60 * s, Timeout: 60 * s, Retry: 4, DelayBeforeRetry: 7 * s, Warmup: 60 * s},
		{DelayLoop: 60 * s, Timeout: 5 * s, Retry: 3, DelayBeforeRetry: 60 * s, Warmup: 60 * s},
		{DelayLoop: 60 * s, Timeout: 60 * s, Retry: 0, DelayBeforeRetry: s, Warmup: 60 * s},
		{DelayLoop: 60 * s, Timeout: 5 * s, Retry: 1, DelayBeforeRetry: 3 * s, Warmup: 60 * s},
	}
	var got []health.Timing
	for _, v := range c.VirtualServers {
		for _, ch := range v.Reals[0].Checks {
			got = append(got, ch.Timing)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("\n got  %v\n want %v", got, want)
	}
}

func TestOneLineBlocksAndComments(t *testing.T) {
	src := "virtual_server 198.18.0.1 80 { real_server 198.18.1.2 80 { weight 2\n TCP_CHECK { connect_timeout 1 } } }\n" +
		"virtual_server 2001:db8::1 443 { # comment { not a block\n real_server 2001:db8::2 443 {\n SSL_GET { url { path /x } } } }\n"
	c, err := mem(nil).Parse("t.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VirtualServers) != 2 || c.VirtualServers[0].Reals[0].Checks[0].Timing.Timeout != time.Second {
		t.Fatalf("%+v", c.VirtualServers)
	}
	h := c.VirtualServers[1].Reals[0].Checks[0].Checker.(*health.HTTP)
	if h.Addr.String() != "[2001:db8::2]:443" || !h.TLS {
		t.Fatalf("%+v", h)
	}
}

// TestHealthBridge: a parsed file becomes services the health engine accepts.
func TestHealthBridge(t *testing.T) {
	for _, f := range []string{"testdata/two-vs.conf", "testdata/all-checkers.conf"} {
		c := mustParse(t, f)
		var svcs []health.Service
		for _, v := range c.VirtualServers {
			svcs = append(svcs, v.Health())
		}
		if _, err := health.New(svcs, nopActions{}, health.Options{}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	c := mustParse(t, "testdata/two-vs.conf")
	s := c.VirtualServers[0].Health()
	vip := service.Key{Proto: service.TCP, Addr: netip.MustParseAddr("198.18.0.10"), Port: 80}
	rs := service.RealKey{Addr: netip.MustParseAddr("198.18.1.2"), Port: 80}
	sorry := service.RealKey{Addr: netip.MustParseAddr("198.18.2.1"), Port: 80}
	if s.Key != vip || s.Name != "TCP 198.18.0.10:80" || s.Reals[0].Key != rs || s.Reals[0].Name != "198.18.1.2:80" ||
		s.Quorum != 2 || s.Sorry == nil || s.Sorry.Key != sorry || s.Sorry.Weight != 1 || !s.Reals[0].Inhibit {
		t.Fatalf("%+v", s)
	}
}

type nopActions struct{}

func (nopActions) AddReal(any, any, int) error   { return nil }
func (nopActions) RemoveReal(any, any) error     { return nil }
func (nopActions) SetWeight(any, any, int) error { return nil }

func TestSorryServerMethodAndUnsupportedLines(t *testing.T) {
	src := "$WEB=198.18.0.1\n@other virtual_server 198.18.0.9 80 {\n}\n" +
		"virtual_server 198.18.0.1 80 {\n lb_kind NAT\n sorry_server 198.18.2.1 8080\n sorry_server_lvs_method DR\n}\n"
	c, err := mem(nil).Parse("t.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VirtualServers) != 1 || c.VirtualServers[0].Sorry.Method != "DR" || c.VirtualServers[0].Sorry.Port != 8080 {
		t.Fatalf("%+v", c.VirtualServers[0].Sorry)
	}
	want := "t.conf:1: parameter definition $WEB=198.18.0.1 is not implemented; line ignored|" +
		"t.conf:2: conditional line @other is not implemented; ignored with its block"
	var ws []string
	for _, w := range c.Warnings {
		ws = append(ws, w.String())
	}
	if len(ws) != 2 || ws[0] != strings.Split(want, "|")[0] || ws[1] != strings.Split(want, "|")[1] {
		t.Fatalf("%q", ws)
	}
}
