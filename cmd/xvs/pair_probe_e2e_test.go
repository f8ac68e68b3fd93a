package main

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// The probes the failover tests time a takeover with: who holds an
// address, whom a neighbour entry points at, whether the VIP serves.

// hasVIP reports whether h holds the VIP on its interface.
func hasVIP(t *testing.T, h *testnet.Host, vip netip.Addr) bool {
	t.Helper()
	return hasAddr(t, h, h.Iface, vip)
}

// hasAddr reports whether h holds addr on iface.
func hasAddr(t *testing.T, h *testnet.Host, iface string, addr netip.Addr) bool {
	t.Helper()
	found := false
	err := h.Do(func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == addr {
				found = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// waitVIP polls every 5 ms until h holds the VIP or within passes, and
// returns when it first did.
func waitVIP(t *testing.T, h *testnet.Host, vip netip.Addr, within time.Duration) time.Time {
	t.Helper()
	return waitVIPFrom(t, h, vip, time.Now(), within)
}

// waitVIPFrom is waitVIP with the bound counted from from (the moment a
// master was killed, not when the kill was reaped).
func waitVIPFrom(t *testing.T, h *testnet.Host, vip netip.Addr, from time.Time, within time.Duration) time.Time {
	t.Helper()
	end := from.Add(within)
	for {
		now := time.Now()
		if hasVIP(t, h, vip) {
			return now
		}
		if now.After(end) {
			t.Fatalf("%s did not take the VIP %s within %v", h.Name, vip, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// macOf is the hardware address of h's interface.
func macOf(t *testing.T, h *testnet.Host) string {
	t.Helper()
	return macOfIface(t, h, h.Iface)
}

// macOfIface is the hardware address of h's iface.
func macOfIface(t *testing.T, h *testnet.Host, iface string) string {
	t.Helper()
	var mac string
	if err := h.Do(func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		mac = ifc.HardwareAddr.String()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// clientNeighMAC is the client's neighbour entry for the VIP: the MAC it
// sends VIP traffic to ("" when it has none).
func (pl *pairLab) clientNeighMAC(t *testing.T) string {
	t.Helper()
	return pl.neighMAC(t, pl.Client, pl.VIP4)
}

// neighMAC is h's neighbour entry for addr on its interface ("" when it
// has none).
func (pl *pairLab) neighMAC(t *testing.T, h *testnet.Host, addr netip.Addr) string {
	t.Helper()
	out, err := h.Run(pl.ctx, "ip", "neigh", "show", addr.String(), "dev", h.Iface)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// waitClientMAC waits until the client's neighbour entry for the VIP is
// h's MAC: it followed the new master's gratuitous ARP.
func (pl *pairLab) waitClientMAC(t *testing.T, h *testnet.Host, within time.Duration) {
	t.Helper()
	want := macOf(t, h)
	end := time.Now().Add(within)
	for {
		got := pl.clientNeighMAC(t)
		if got == want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("client's neighbour entry for %s is %q, want %s's %s", pl.VIP4, got, h.Name, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkVIPServes makes n new connections to the VIP from the client; every
// one must be answered (by the real servers, through the master).
func (pl *pairLab) checkVIPServes(t *testing.T, n int) {
	t.Helper()
	pl.checkServes(t, pl.VIP4, n)
}

// checkServes is checkVIPServes for vip (the IPv4 or the IPv6 VIP).
func (pl *pairLab) checkServes(t *testing.T, vip netip.Addr, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(pl.ctx, 30*time.Second)
	defer cancel()
	sum, err := pl.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(vip, 80, "/"), N: n, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != n {
		t.Fatalf("%d of %d requests to the VIP answered: %v", sum.OK, n, sum.Errors)
	}
	if len(sum.PerServer) != len(pl.Reals) {
		t.Errorf("answered by %v, want all %d real servers", sum.PerServer, len(pl.Reals))
	}
}
