package testnet

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestTwoDirectors builds a DR lab with an active/standby pair of
// directors: both reach the client and every real server on the one
// segment, neither holds the VIP (nothing answers ARP for it until VRRP
// puts it on one), and Close removes director2's namespace with the rest.
func TestTwoDirectors(t *testing.T) {
	l := NewT(t, Options{Mode: DR, Reals: 2, Directors: 2, Name: t.Name()})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	t.Log(l)
	for _, d := range l.Directors {
		out, err := d.Run(ctx, "ip", "-br", "addr", "show", "dev", d.Iface)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), l.VIP4.String()+"/") || strings.Contains(string(out), l.VIP6.String()+"/") {
			t.Errorf("%s holds the VIP: %s", d.Name, out)
		}
		for _, dst := range append([]*Host{l.Client}, l.Reals...) {
			for _, a := range []netip.Addr{dst.Addr4, dst.Addr6} {
				if err := d.Ping(ctx, a); err != nil {
					t.Errorf("%s cannot reach %s %s: %v", d.Name, dst.Name, a, err)
				}
			}
		}
	}
	if err := l.Directors[0].Ping(ctx, l.Directors[1].Addr4); err != nil {
		t.Errorf("director cannot reach director2: %v", err)
	}
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	defer pcancel()
	if err := l.Client.Ping(pctx, l.VIP4); err == nil {
		t.Errorf("the VIP answers before any director owns it")
	}
	ns := l.Directors[1].NS
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range labNamespaces(l.ID) {
		t.Errorf("namespace %s left after Close (director2 is %s)", n, ns)
	}
}
