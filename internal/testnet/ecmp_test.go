package testnet

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestECMPLab builds client — router — three directors — bridge — two real
// servers: the router forwards with an L4 multipath hash and routes each
// VIP over the three directors; the client reaches every director and real
// server through it, the real servers route back through it and hold the
// VIPs on lo; DropNexthop and RestoreNexthop edit the multipath route; Close
// leaves nothing.
func TestECMPLab(t *testing.T) {
	l := NewT(t, Options{Mode: DR, ECMP: true, Directors: 3, Reals: 2, Name: t.Name()})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	t.Log(l)
	if len(l.Directors) != 3 || l.Director != l.Directors[0] || l.Router == nil || len(l.DirectorIfaces) != 2 {
		t.Fatalf("directors %v, router %v, ifaces %v", l.Directors, l.Router, l.DirectorIfaces)
	}
	out, err := l.Router.Run(ctx, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv4.fib_multipath_hash_policy")
	if err != nil || strings.Fields(string(out))[0] != "1" || strings.Fields(string(out))[1] != "1" {
		t.Errorf("router sysctls: %q %v", out, err)
	}
	for fam := 4; fam <= 6; fam += 2 {
		route, err := l.Nexthops(ctx, fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range l.Directors {
			a := d.Addr4
			if fam == 6 {
				a = d.Addr6
			}
			if !strings.Contains(route, "via "+a.String()+" ") {
				t.Errorf("IPv%d route lacks %s: %s", fam, d.Name, route)
			}
		}
	}
	for _, dst := range append(append([]*Host{}, l.Directors...), l.Reals...) {
		for _, a := range []netip.Addr{dst.Addr4, dst.Addr6} {
			if err := l.Client.Ping(ctx, a); err != nil {
				t.Errorf("client cannot reach %s %s: %v", dst.Name, a, err)
			}
		}
	}
	for _, d := range l.Directors {
		for _, r := range l.Reals {
			if err := d.Ping(ctx, r.Addr4); err != nil {
				t.Errorf("%s cannot reach %s: %v", d.Name, r.Name, err)
			}
		}
		r4, r6 := l.RouterAddr(d)
		if !r4.IsValid() || !r6.IsValid() || r4 == d.Addr4 {
			t.Errorf("%s: router %s %s", d.Name, r4, r6)
		}
	}
	if err := l.DropNexthop(ctx, l.Directors[1]); err != nil {
		t.Fatal(err)
	}
	if route, _ := l.Nexthops(ctx, 4); strings.Contains(route, l.Directors[1].Addr4.String()+" ") ||
		!strings.Contains(route, l.Directors[2].Addr4.String()+" ") {
		t.Errorf("after dropping director2: %s", route)
	}
	if err := l.RestoreNexthop(ctx, l.Directors[1]); err != nil {
		t.Fatal(err)
	}
	if route, _ := l.Nexthops(ctx, 6); !strings.Contains(route, l.Directors[1].Addr6.String()+" ") {
		t.Errorf("after restoring director2: %s", route)
	}
	if err := l.DropNexthop(ctx, l.Client); !errors.Is(err, ErrOptions) {
		t.Errorf("DropNexthop(client): %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range labNamespaces(l.ID) {
		t.Errorf("namespace %s left after Close", n)
	}
}

// TestECMPOptions: an ECMP lab is DR with 1..MaxECMPDirectors directors.
func TestECMPOptions(t *testing.T) {
	for _, o := range []Options{{Mode: NAT, ECMP: true}, {Mode: DR, ECMP: true, Directors: MaxECMPDirectors + 1}} {
		if _, err := o.withDefaults(); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	if o, err := (Options{Mode: DR, ECMP: true, Directors: MaxECMPDirectors}).withDefaults(); err != nil || o.Directors != MaxECMPDirectors {
		t.Errorf("%d directors: %v", MaxECMPDirectors, err)
	}
}
