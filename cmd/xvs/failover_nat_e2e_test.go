package main

import (
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/vrrp"
)

// Failover tests on a NAT pair.

// TestFailoverNAT: a NAT pair, each director running VI_1 for the VIP on
// its external link and VI_GW for the real servers' gateway on its
// internal one. SIGKILL the master: the backup holds both addresses within
// its Master_Down_Interval, the client's neighbour entry for the VIP and a
// real server's for the gateway follow its gratuitous ARPs, and new
// connections work through it (replies come back through it too).
func TestFailoverNAT(t *testing.T) {
	pl := newPairLabMode(t, testnet.NAT)
	oa, ob := vrrpOpts{prio: 150, advert: "0.1"}, vrrpOpts{prio: 100, advert: "0.1"}
	a := pl.startMaster(t, oa)
	waitFor(t, oa.masterDown()+2*slack, "director master of VI_GW", func() bool { return a.stateOf(t, "VI_GW") == vrrp.Master })
	b := pl.startXVS(t, pl.Directors[1], pairConf(pl.Lab, pl.Directors[1].Iface, ob))
	time.Sleep(ob.masterDown() + slack)
	pl.checkOnlyMaster(t, a, b)
	r1 := pl.Reals[0]
	gwMAC := func(d *testnet.Host) string { return macOfIface(t, d, d.Links[1].Iface) }
	if got, want := pl.neighMAC(t, r1, pl.Gateway4), gwMAC(pl.Director); got != want {
		t.Errorf("r1's gateway entry %q, want director's internal %s", got, want)
	}

	killed := time.Now()
	a.kill(t)
	took := waitVIPFrom(t, b.h, pl.VIP4, killed, ob.masterDown()+slack).Sub(killed)
	gwTook := waitFor(t, ob.masterDown()+slack, "director2 holds the gateway", func() bool {
		return hasAddr(t, b.h, b.h.Links[1].Iface, pl.Gateway4)
	}).Sub(killed)
	t.Logf("SIGKILL of the NAT master: director2 holds the VIP after %v, the gateway after %v (Master_Down_Interval %v)",
		took, gwTook, ob.masterDown())
	if b.state(t) != vrrp.Master || b.stateOf(t, "VI_GW") != vrrp.Master {
		t.Errorf("director2: VI_1 %v, VI_GW %v", b.state(t), b.stateOf(t, "VI_GW"))
	}
	pl.waitClientMAC(t, b.h, slack)
	waitFor(t, slack, "r1's gateway entry follows", func() bool { return pl.neighMAC(t, r1, pl.Gateway4) == gwMAC(b.h) })
	pl.checkVIPServes(t, 30)
}
