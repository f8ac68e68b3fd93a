package control

import (
	"errors"
	"strings"
	"testing"

	"github.com/xvs-project/xvs/service"
)

// TestParseConfigTunnels: tun-type, tun-port and tun-csum of a TUN real
// server, and ipvsadm's words when they do not fit together.
func TestParseConfigTunnels(t *testing.T) {
	const yml = `services:
  - proto: tcp
    vip: 198.18.0.10
    port: 80
    reals:
      - {address: 198.18.1.1, method: tun}
      - {address: 198.18.1.2, method: tun, tun-type: gue, tun-port: 6080, tun-csum: remcsum}
      - {address: 198.18.1.3, method: tun, tun-type: gre, tun-csum: csum}
      - {address: 198.18.1.4, method: tun, tun-type: ipip, tun-csum: nocsum}
`
	cfg, err := ParseConfig("tun.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	want := []service.Tunnel{{}, {Type: service.TunGUE, Port: 6080, Csum: service.TunRemCsum}, {Type: service.TunGRE, Csum: service.TunCsum}, {}}
	for i, r := range cfg.Services[0].Reals {
		if r.Tunnel != want[i] {
			t.Errorf("real %d: tunnel %+v, want %+v", i, r.Tunnel, want[i])
		}
	}
	for _, tt := range []struct {
		name, real string
		field      string
		msg        string
	}{
		{"gue without port", "{address: 198.18.1.1, method: tun, tun-type: gue}", "services[0].reals[0].tun-port",
			"You need to supply the 'tun-port' option for the 'gue' tunnel type"},
		{"gre remcsum", "{address: 198.18.1.1, method: tun, tun-type: gre, tun-csum: remcsum}", "services[0].reals[0].tun-csum",
			"Illegal 'tun-remcsum' option with the 'gre' tunnel type"},
		{"dr with tunnel", "{address: 198.18.1.1, method: dr, tun-type: gre}", "services[0].reals[0].tun-type",
			"Tunnel options conflict with forward method"},
		{"unknown type", "{address: 198.18.1.1, method: tun, tun-type: vxlan}", "services[0].reals[0].tun-type", ""},
		{"port out of range", "{address: 198.18.1.1, method: tun, tun-type: gue, tun-port: 0}", "services[0].reals[0].tun-port", ""},
		{"unknown csum", "{address: 198.18.1.1, method: tun, tun-type: gue, tun-port: 1, tun-csum: yes}", "services[0].reals[0].tun-csum", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("x.yaml", []byte("services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n    reals:\n      - "+tt.real+"\n"))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			// Validation errors of a real server are reported at the
			// service (services[0].FIELD); parse errors at the real.
			if ce.Field != tt.field && ce.Field != strings.Replace(tt.field, ".reals[0]", "", 1) {
				t.Errorf("got %v (field %s), want field %s", err, ce.Field, tt.field)
			}
			var fe *service.FieldError
			if tt.msg != "" && (!errors.As(err, &fe) || fe.Msg != tt.msg) {
				t.Errorf("got %v, want %q", err, tt.msg)
			}
		})
	}
}
