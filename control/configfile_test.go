package control

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/service"
)

const goodConfig = `services:
  - proto: tcp
    vip: 198.18.0.10
    port: 80
    scheduler: rr
    reals:
      - {address: 198.18.1.1, port: 8080, weight: 2, method: nat}
      - {address: 198.18.1.2, port: 8080, method: nat}
  - proto: udp
    vip: 2001:db8::10
    port: 53
    one-packet: true
    reals:
      - {address: 2001:db8:1::1, method: dr}
  - group: web
    match:
      - {proto: tcp, prefix: 198.18.0.20, ports: "80"}
      - {proto: tcp, prefix: 198.18.0.20/32, ports: "443-444"}
    persistent: 600
    netmask: 24
    reals:
      - {address: 198.18.1.3, method: tun}
`

func TestParseConfigGood(t *testing.T) {
	cfg, err := ParseConfig("good.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 3 {
		t.Fatalf("%d services", len(cfg.Services))
	}
	s := cfg.Services[0]
	if s.Reals[0].Port != 8080 || s.Reals[0].Weight != 2 || s.Reals[1].Weight != 1 || s.Reals[1].Method != service.MethodNAT {
		t.Errorf("reals: %+v", s.Reals)
	}
	if cfg.Services[1].Scheduler != "wlc" || !cfg.Services[1].OnePacket || cfg.Services[1].Reals[0].Port != 53 {
		t.Errorf("udp service: %+v", cfg.Services[1])
	}
	g := cfg.Services[2]
	if g.Group != "web" || len(g.Matches) != 2 || g.Matches[1].PortHi != 444 ||
		g.Persistence.Timeout != 600*time.Second || g.Persistence.NetmaskBits != 24 {
		t.Errorf("group: %+v", g)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
		field      string
		is         error
	}{
		{"vip not an address", "services:\n  - proto: tcp\n    vip: www\n    port: 80\n", 3, "services[0].vip", nil},
		{"port out of range", "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 70000\n", 4, "services[0].port", nil},
		{"real without method", "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    reals:\n      - address: 198.18.1.1\n", 6, "services[0].reals[0].method", nil},
		{"unknown field", "services:\n  - proto: tcp\n    vipp: 198.18.0.10\n", 3, "services[0].vipp", nil},
		{"unknown scheduler", "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    scheduler: best\n", 5, "services[0].scheduler", service.ErrNoScheduler},
		{"netmask without persistence", "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    netmask: 24\n", 5, "services[0].netmask", service.ErrNetmaskNoPers},
		{"weight out of range", "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    reals:\n      - {address: 198.18.1.1, method: dr, weight: -1}\n", 6, "services[0].reals[0].weight", nil},
		{"duplicate service", "services:\n  - {proto: tcp, vip: 198.18.0.10, port: 80}\n  - {proto: tcp, vip: 198.18.0.10, port: 80}\n", 3, "services[1]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("x.yaml", []byte(tt.yaml))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			if ce.Line != tt.line || ce.Field != tt.field {
				t.Errorf("got %s (line %d field %s), want line %d field %s", err, ce.Line, ce.Field, tt.line, tt.field)
			}
			if !strings.HasPrefix(err.Error(), "x.yaml:") {
				t.Errorf("error does not name the file: %v", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte("services: []\n"))
	f.Add([]byte("services:\n  - {proto: tcp, vip: 198.18.0.10, port: 80, reals: [{address: 198.18.1.1, method: dr}]}\n"))
	f.Add([]byte("services:\n  - {proto: tcp, vip: 198.18.0.10, port: 80, check: {delay_loop: 3, HTTP_GET: {url: [{path: /, digest: 0123456789abcdef0123456789abcdef}]}}, reals: [{address: 198.18.1.1, method: dr, check: {TCP_CHECK: {path-true: false}}}]}\n"))
	f.Add([]byte("vrrp:\n  - {name: VI_1, interface: eth0, virtual_router_id: 51, priority: 150, nopreempt: true, virtual_ipaddress: [198.18.0.10/32], track_interface: [\"eth1 weight -20\"], authentication: {auth_type: PASS, auth_pass: x}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The whole file, VRRP instances included, never panics.
		_, _ = parseYAMLFile("fuzz.yaml", data)
		cfg, err := ParseConfig("fuzz.yaml", data)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("accepted a config that does not validate: %v", verr)
			}
		}
	})
}
