package main

import (
	"testing"
	"time"

	"github.com/xvs-project/xvs/vrrp"
)

// Failover tests with Debian's keepalived as the other director.

// TestFailoverKeepalived: Debian's keepalived (VRRP only; it has no IPVS
// here, so only the xvs side serves) is the other director, both ways
// round. Each crashes (SIGKILL) and the other takes over within its
// Master_Down_Interval, the client's neighbour entry following; the
// crashed one returns at its higher priority and preempts.
func TestFailoverKeepalived(t *testing.T) {
	hi, lo := vrrpOpts{prio: 150, advert: "0.1"}, vrrpOpts{prio: 100, advert: "0.1"}
	t.Run("xvs-master", func(t *testing.T) {
		pl := newPairLab(t)
		kd := pl.Directors[1]
		pl.startKeepalived(t, kd, lo)
		a := pl.startMaster(t, hi)
		time.Sleep(lo.masterDown() + slack)
		if hasVIP(t, kd, pl.VIP4) {
			t.Fatal("keepalived (100) holds the VIP beside xvs (150)")
		}
		// The client resolves the VIP first: its entry must be xvs's.
		_ = pl.Client.Ping(pl.ctx, pl.VIP4)
		pl.waitClientMAC(t, pl.Director, slack)
		pl.checkVIPServes(t, 30)

		killed := time.Now()
		a.kill(t)
		took := waitVIPFrom(t, kd, pl.VIP4, killed, lo.masterDown()+slack).Sub(killed)
		t.Logf("SIGKILL of xvs (master): keepalived holds the VIP after %v (Master_Down_Interval %v)", took, lo.masterDown())
		pl.waitClientMAC(t, kd, slack)

		// xvs returns at 150 and takes the VIP back from keepalived.
		// (The crash left the VIP on its interface: the state says when
		// it is master again.)
		back := pl.startXVS(t, pl.Director, pairConf(pl.Lab, pl.Director.Iface, hi))
		took = waitFor(t, hi.masterDown()+2*slack, "returned xvs master", func() bool {
			return back.state(t) == vrrp.Master
		}).Sub(back.started)
		waitFor(t, 3*lo.advertInterval()+slack, "keepalived gives the VIP up", func() bool { return !hasVIP(t, kd, pl.VIP4) })
		t.Logf("xvs (150) back: master %v after it started, keepalived dropped the VIP", took)
		if !hasVIP(t, pl.Director, pl.VIP4) {
			t.Errorf("returned xvs is master without the VIP")
		}
		pl.waitClientMAC(t, pl.Director, slack)
		pl.checkVIPServes(t, 30)
	})
	t.Run("keepalived-master", func(t *testing.T) {
		pl := newPairLab(t)
		kd, xd := pl.Director, pl.Directors[1]
		k := pl.startKeepalived(t, kd, hi)
		waitVIP(t, kd, pl.VIP4, hi.masterDown()+2*slack)
		b := pl.startXVS(t, xd, pairConf(pl.Lab, xd.Iface, lo))
		time.Sleep(lo.masterDown() + slack)
		if got := b.state(t); got != vrrp.Backup || hasVIP(t, xd, pl.VIP4) {
			t.Fatalf("xvs (100) beside keepalived (150) is %v, VIP %v", got, hasVIP(t, xd, pl.VIP4))
		}
		// The client learns keepalived's MAC (it answers ARP for the VIP;
		// the connection itself is refused there: no IPVS).
		_ = pl.Client.Ping(pl.ctx, pl.VIP4)
		pl.waitClientMAC(t, kd, slack)

		killed := time.Now()
		k.kill()
		took := waitVIPFrom(t, xd, pl.VIP4, killed, lo.masterDown()+slack).Sub(killed)
		t.Logf("SIGKILL of keepalived (master): xvs holds the VIP after %v (Master_Down_Interval %v)", took, lo.masterDown())
		if got := b.state(t); got != vrrp.Master {
			t.Errorf("xvs holds the VIP but is %v", got)
		}
		pl.waitClientMAC(t, xd, slack)
		pl.checkVIPServes(t, 30)

		// keepalived returns at 150 and takes the VIP back from xvs.
		// (The crash left the VIP on kd: xvs giving it up says when
		// keepalived is master again.)
		k2 := pl.startKeepalived(t, kd, hi)
		took = waitFor(t, hi.masterDown()+2*slack, "xvs gives the VIP up", func() bool {
			return b.state(t) == vrrp.Backup && !hasVIP(t, xd, pl.VIP4)
		}).Sub(k2.started)
		if !hasVIP(t, kd, pl.VIP4) {
			t.Errorf("keepalived back without the VIP")
		}
		t.Logf("keepalived (150) back: xvs backup and without the VIP %v after keepalived started", took)
		pl.waitClientMAC(t, kd, slack)
	})
}
