package testnet

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestCutDirectors: a cut pair's directors no longer reach each other (on
// NAT over neither bridge) but still reach the client and the real
// servers; healed, they reach each other again.
func TestCutDirectors(t *testing.T) {
	for _, mode := range []Mode{DR, NAT} {
		t.Run(mode.String(), func(t *testing.T) {
			l := NewT(t, Options{Mode: mode, Reals: 1, Directors: 2, Name: t.Name()})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			a, b := l.Directors[0], l.Directors[1]
			peers := func() []netip.Addr {
				var out []netip.Addr
				for _, k := range b.Links {
					out = append(out, k.Addr4.Addr())
				}
				return out
			}
			if err := l.CutDirectors(ctx); err != nil {
				t.Fatal(err)
			}
			for _, p := range peers() {
				pctx, pcancel := context.WithTimeout(ctx, time.Second)
				if err := a.Ping(pctx, p); err == nil {
					t.Errorf("director reaches director2's %s through the cut", p)
				}
				pcancel()
			}
			for _, d := range l.Directors {
				for _, h := range []*Host{l.Client, l.Reals[0]} {
					if err := d.Ping(ctx, h.Addr4); err != nil {
						t.Errorf("cut %s cannot reach %s: %v", d.Name, h.Name, err)
					}
				}
			}
			if err := l.HealDirectors(ctx); err != nil {
				t.Fatal(err)
			}
			for _, p := range peers() {
				if err := a.Ping(ctx, p); err != nil {
					t.Errorf("healed director cannot reach director2's %s: %v", p, err)
				}
			}
		})
	}
}
