package service

import (
	"errors"
	"testing"
)

// TestTunnelValidation: ipvsadm's tunnel_opt_check table and its words, and
// tunnel options on a real server that does not tunnel.
func TestTunnelValidation(t *testing.T) {
	for _, c := range []struct {
		name   string
		method Method
		tun    Tunnel
		msg    string // "" valid
	}{
		{"ipip", MethodTUN, Tunnel{}, ""},
		{"gue", MethodTUN, Tunnel{Type: TunGUE, Port: 6080}, ""},
		{"gue csum", MethodTUN, Tunnel{Type: TunGUE, Port: 6080, Csum: TunCsum}, ""},
		{"gue remcsum", MethodTUN, Tunnel{Type: TunGUE, Port: 6080, Csum: TunRemCsum}, ""},
		{"gre", MethodTUN, Tunnel{Type: TunGRE}, ""},
		{"gre csum", MethodTUN, Tunnel{Type: TunGRE, Csum: TunCsum}, ""},
		{"gue without port", MethodTUN, Tunnel{Type: TunGUE}, "You need to supply the 'tun-port' option for the 'gue' tunnel type"},
		{"ipip port", MethodTUN, Tunnel{Port: 6080}, "Illegal 'tun-port' option with the 'ipip' tunnel type"},
		{"ipip csum", MethodTUN, Tunnel{Csum: TunCsum}, "Illegal 'tun-csum' option with the 'ipip' tunnel type"},
		{"gre port", MethodTUN, Tunnel{Type: TunGRE, Port: 1}, "Illegal 'tun-port' option with the 'gre' tunnel type"},
		{"gre remcsum", MethodTUN, Tunnel{Type: TunGRE, Csum: TunRemCsum}, "Illegal 'tun-remcsum' option with the 'gre' tunnel type"},
		{"unknown type", MethodTUN, Tunnel{Type: 3}, "illegal tunnel type specified"},
		{"dr with gue", MethodDR, Tunnel{Type: TunGUE, Port: 6080}, "Tunnel options conflict with forward method"},
		{"nat with csum", MethodNAT, Tunnel{Csum: TunCsum}, "Tunnel options conflict with forward method"},
	} {
		s := vs("198.18.0.10", 80)
		r := real("198.18.1.1", 80, c.method)
		r.Tunnel = c.tun
		s.Reals = []Real{r}
		err := s.Validate()
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Msg != c.msg || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want %q", c.name, err, c.msg)
		}
	}
	for _, n := range []string{"ipip", "gue", "gre"} {
		if ty, err := ParseTunType(n); err != nil || ty.String() != n {
			t.Errorf("ParseTunType(%q) = %v, %v", n, ty, err)
		}
	}
	for _, n := range []string{"nocsum", "csum", "remcsum"} {
		if c, err := ParseChecksum(n); err != nil || c.String() != n {
			t.Errorf("ParseChecksum(%q) = %v, %v", n, c, err)
		}
	}
	if _, err := ParseTunType("vxlan"); err == nil {
		t.Error("ParseTunType took vxlan")
	}
}
