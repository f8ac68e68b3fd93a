package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/vrrp"
)

// Failover tests of a master that comes back: preempt_delay and nopreempt,
// and of a split brain healed.

// TestFailoverReturn: the master leaves (SIGTERM), director2 takes over,
// and the master comes back. With preempt_delay 2 it stays backup for two
// seconds, then takes over; with nopreempt it stays backup.
func TestFailoverReturn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
	}{{"preempt_delay", "preempt_delay 2"}, {"nopreempt", "nopreempt"}} {
		t.Run(tc.name, func(t *testing.T) {
			pl := newPairLab(t)
			oa := vrrpOpts{prio: 150, advert: "0.1", extra: []string{tc.extra}}
			ob := vrrpOpts{prio: 100, advert: "0.1"}
			a := pl.startMaster(t, oa)
			b := pl.startXVS(t, pl.Directors[1], pairConf(pl.Lab, pl.Directors[1].Iface, ob))
			time.Sleep(ob.masterDown() + slack)
			pl.checkOnlyMaster(t, a, b)
			if err := a.p.Stop(); err != nil {
				t.Fatal(err)
			}
			waitVIP(t, b.h, pl.VIP4, ob.masterDown()+slack)

			a2 := pl.startXVS(t, pl.Director, pairConf(pl.Lab, pl.Director.Iface, oa))
			const delay = 2 * time.Second
			if tc.name == "nopreempt" {
				time.Sleep(delay + oa.masterDown() + slack)
				pl.checkOnlyMaster(t, b, a2)
				return
			}
			// Still backup shortly before the delay ends.
			time.Sleep(time.Until(a2.started.Add(delay - 300*time.Millisecond)))
			if got := a2.state(t); got != vrrp.Backup || hasVIP(t, a2.h, pl.VIP4) {
				t.Fatalf("returning master is %v (VIP %v) before its preempt_delay ended", got, hasVIP(t, a2.h, pl.VIP4))
			}
			took := waitVIP(t, a2.h, pl.VIP4, delay+oa.masterDown()+2*slack).Sub(a2.started)
			t.Logf("returning master with preempt_delay 2 took the VIP %v after it started", took)
			if took < delay-100*time.Millisecond {
				t.Errorf("took over after %v, before preempt_delay %v", took, delay)
			}
			// b hears a higher priority and gives the VIP up.
			waitFor(t, 3*ob.advertInterval()+slack, "director2 back to backup", func() bool {
				return b.state(t) == vrrp.Backup && !hasVIP(t, b.h, pl.VIP4)
			})
			pl.checkOnlyMaster(t, a2, b)
		})
	}
}

// TestFailoverSplitBrain: the switch drops VRRP between the directors (a
// cut between them that leaves the client's side up): the backup becomes
// master too, both holding the VIP. Restored, exactly one master remains
// within two advertisement intervals (the lower priority yields at the
// first advert it hears), and new connections work through it.
func TestFailoverSplitBrain(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skipf("nft not installed (internal/testnet/deps.sh installs it): %v", err)
	}
	pl := newPairLab(t)
	oa, ob := vrrpOpts{prio: 150, advert: "0.1"}, vrrpOpts{prio: 100, advert: "0.1"}
	a := pl.startMaster(t, oa)
	b := pl.startXVS(t, pl.Directors[1], pairConf(pl.Lab, pl.Directors[1].Iface, ob))
	time.Sleep(ob.masterDown() + slack)
	pl.checkOnlyMaster(t, a, b)

	nft := func(script string) {
		t.Helper()
		cmd := pl.Switch.Command(pl.ctx, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v\n%s", err, out)
		}
	}
	cut := time.Now()
	nft("table bridge xvs_split {\n chain cut {\n  type filter hook forward priority 0; policy accept;\n  ip protocol 112 drop\n }\n}\n")
	took := waitVIPFrom(t, b.h, pl.VIP4, cut, ob.masterDown()+slack).Sub(cut)
	if a.state(t) != vrrp.Master || b.state(t) != vrrp.Master || !hasVIP(t, a.h, pl.VIP4) {
		t.Fatalf("split: director %v (VIP %v), director2 %v", a.state(t), hasVIP(t, a.h, pl.VIP4), b.state(t))
	}
	t.Logf("split: director2 master beside director after %v", took)

	healed := time.Now()
	nft("delete table bridge xvs_split\n")
	one := waitFor(t, 2*oa.advertInterval()+slack, "one master again", func() bool {
		return b.state(t) == vrrp.Backup && !hasVIP(t, b.h, pl.VIP4)
	}).Sub(healed)
	t.Logf("healed: director2 back to backup without the VIP after %v (two intervals: %v)", one, 2*oa.advertInterval())
	if a.state(t) != vrrp.Master || !hasVIP(t, a.h, pl.VIP4) {
		t.Errorf("healed: director %v, VIP %v", a.state(t), hasVIP(t, a.h, pl.VIP4))
	}
	// The client last heard director2's gratuitous ARP. The master
	// answers a lower priority's advert with its own and gratuitous ARPs
	// (keepalived's vrrp_garp_lower_prio_repeat), which brings the client
	// back; director2 advertises once more as it yields, so that happens
	// even when it heard director first. It must: director2, a backup
	// now, makes no new connection for the VIP (the standby gate).
	pl.waitClientMAC(t, a.h, 2*time.Second)
	t.Logf("healed: the client's neighbour entry is director's again %v after the link returned", time.Since(healed))
	pl.checkVIPServes(t, 30)
}
