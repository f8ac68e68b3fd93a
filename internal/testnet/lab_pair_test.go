package testnet

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestTwoDirectors builds DR and NAT labs with an active/standby pair of
// directors: both reach the client and every real server, neither holds
// the VIP (nothing answers ARP for it until VRRP
// puts it on one), and Close removes director2's namespace with the rest.
func TestTwoDirectors(t *testing.T) {
	for _, mode := range []Mode{DR, NAT} {
		t.Run(mode.String(), func(t *testing.T) { testTwoDirectors(t, mode) })
	}
}

// testTwoDirectors is TestTwoDirectors for one mode; on NAT the directors
// also reach the real servers over their internal links and neither holds
// the real servers' gateway.
func testTwoDirectors(t *testing.T, mode Mode) {
	l := NewT(t, Options{Mode: mode, Reals: 2, Directors: 2, Name: t.Name()})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	t.Log(l)
	for _, d := range l.Directors {
		out, err := d.Run(ctx, "ip", "-br", "addr", "show")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []netip.Addr{l.VIP4, l.VIP6, l.Gateway4, l.Gateway6} {
			if a.IsValid() && strings.Contains(string(out), " "+a.String()+"/") {
				t.Errorf("%s holds %s: %s", d.Name, a, out)
			}
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
