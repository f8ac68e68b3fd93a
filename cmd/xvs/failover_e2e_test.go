package main

import (
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/vrrp"
)

// Failover end-to-end tests (issue 13's Must show): two directors on one DR
// segment run VI_1 for the VIP, each an xvs daemon (or Debian's keepalived
// for the other side), and the takeovers are timed from the client's and
// the directors' side: who holds the VIP, whom the client's neighbour entry
// points at, whether new connections are served. Every wait is bounded.

// slack is what the tests allow beyond the RFC's timers: scheduling on a
// busy two-core machine, the poll period, netlink.
const slack = 500 * time.Millisecond

// startMaster starts xvs on the lab's first director with o and waits
// until it is master and holds the VIP (a lone speaker takes over after
// its Master_Down_Interval).
func (pl *pairLab) startMaster(t *testing.T, o vrrpOpts) *director {
	t.Helper()
	a := pl.startXVS(t, pl.Director, pairConf(pl.Lab, pl.Director.Iface, o))
	waitFor(t, o.masterDown()+2*slack, "xvs on director master", func() bool { return a.state(t) == vrrp.Master })
	waitVIP(t, pl.Director, pl.VIP4, slack)
	return a
}

// checkOnlyMaster checks that the VIP and the client's traffic are on
// master only, the other director holding no VIP.
func (pl *pairLab) checkOnlyMaster(t *testing.T, master *director, backup *director) {
	t.Helper()
	if got := master.state(t); got != vrrp.Master {
		t.Fatalf("xvs on %s is %v, want MASTER", master.h.Name, got)
	}
	if got := backup.state(t); got != vrrp.Backup {
		t.Fatalf("xvs on %s is %v, want BACKUP", backup.h.Name, got)
	}
	if hasVIP(t, backup.h, pl.VIP4) {
		t.Fatalf("the backup %s holds the VIP too", backup.h.Name)
	}
	pl.checkVIPServes(t, 30)
	pl.waitClientMAC(t, master.h, slack)
}

// TestFailoverKill: VRRP v3 at advert_int 0.1, director 150 master and
// director2 100 backup, both shown so by xvsadm --vrrp; clients reach the
// VIP through the master. SIGKILL the master: the backup holds the VIP
// within its Master_Down_Interval + slack, the client's neighbour entry
// follows its gratuitous ARP, and new connections work through it; a UDP
// stream across the kill loses only datagrams inside the takeover window.
func TestFailoverKill(t *testing.T) {
	pl := newPairLab(t)
	oa, ob := vrrpOpts{prio: 150, advert: "0.1"}, vrrpOpts{prio: 100, advert: "0.1"}
	a := pl.startMaster(t, oa)
	b := pl.startXVS(t, pl.Directors[1], pairConf(pl.Lab, pl.Directors[1].Iface, ob))
	time.Sleep(ob.masterDown() + slack) // b would have taken over by now if it missed a's adverts
	pl.checkOnlyMaster(t, a, b)
	for _, c := range []struct {
		d    *director
		want string
	}{
		// Both name the master's address.
		{a, `VI_1\s+MASTER\s+150\s+` + regexp.QuoteMeta(a.h.Addr4.String()) + `\s`},
		{b, `VI_1\s+BACKUP\s+100\s+` + regexp.QuoteMeta(a.h.Addr4.String()) + `\s`},
	} {
		out := c.d.xvsadmVRRP(t)
		if !regexp.MustCompile(c.want).MatchString(out) {
			t.Errorf("xvsadm --vrrp on %s, want %s:\n%s", c.d.h.Name, c.want, out)
		}
	}

	// A UDP stream, a datagram every 10 ms for 3 s (one socket: one flow),
	// spans the kill.
	const udpEvery, udpN, udpWait = 10 * time.Millisecond, 300, 20 * time.Millisecond
	udpc := make(chan testnet.Summary, 1)
	go func() {
		sum, err := pl.Client.UDP(pl.ctx, testnet.UDPOptions{Addr: netip.AddrPortFrom(pl.VIP4, 53).String(),
			N: udpN, Timeout: udpWait, Interval: udpEvery})
		if err != nil {
			sum.Errors = append(sum.Errors, err.Error())
		}
		udpc <- sum
	}()
	time.Sleep(time.Second)

	killed := time.Now()
	a.kill(t)
	tookAt := waitVIPFrom(t, b.h, pl.VIP4, killed, ob.masterDown()+slack)
	took := tookAt.Sub(killed)
	t.Logf("SIGKILL of the master: director2 holds the VIP after %v (Master_Down_Interval %v)", took, ob.masterDown())
	if got := b.state(t); got != vrrp.Master {
		t.Errorf("director2 holds the VIP but is %v", got)
	}
	pl.waitClientMAC(t, b.h, slack)
	pl.checkVIPServes(t, 30)
	out := b.xvsadmVRRP(t)
	if want := `VI_1\s+MASTER\s+100\s+` + regexp.QuoteMeta(b.h.Addr4.String()) + `\s`; !regexp.MustCompile(want).MatchString(out) {
		t.Errorf("xvsadm --vrrp on director2 after the takeover, want %s:\n%s", want, out)
	}
	t.Logf("director2 after the takeover, xvsadm --vrrp:\n%s", out)

	// UDP loses only datagrams sent inside the takeover window (from the
	// last advert before the kill to the first GARP after it).
	var udp testnet.Summary
	select {
	case udp = <-udpc:
	case <-time.After(30 * time.Second):
		t.Fatal("UDP stream did not end")
	}
	lost := udpN - udp.OK
	var first, last time.Time
	for _, at := range udp.FailedAt {
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
		if at.Before(killed.Add(-udpWait-oa.advertInterval())) || at.After(tookAt.Add(slack)) {
			t.Errorf("UDP datagram sent %v after the kill lost, outside the takeover window (VIP on director2 %v after it)",
				at.Sub(killed).Round(time.Millisecond), took.Round(time.Millisecond))
		}
	}
	if lost > 0 && len(udp.FailedAt) > 0 {
		t.Logf("UDP: %d of %d datagrams (every %v) lost, sent from %v to %v after the kill", lost, udpN, udpEvery,
			first.Sub(killed).Round(time.Millisecond), last.Sub(killed).Round(time.Millisecond))
	} else {
		t.Logf("UDP: %d of %d datagrams lost", lost, udpN)
	}
	if lost != len(udp.FailedAt) && len(udp.FailedAt) < 10000 {
		t.Errorf("UDP: %d lost but %d dated: %v", lost, len(udp.FailedAt), udp.Errors)
	}
}

// TestFailoverStop: SIGTERM makes the master send a priority-0 advert, so
// the backup takes over after its skew time instead of the whole
// Master_Down_Interval. advert_int 1 keeps the two apart (0.61 s against
// 3.61 s at priority 100), whatever the machine's load.
func TestFailoverStop(t *testing.T) {
	pl := newPairLab(t)
	oa, ob := vrrpOpts{prio: 150, advert: "1"}, vrrpOpts{prio: 100, advert: "1"}
	a := pl.startMaster(t, oa)
	b := pl.startXVS(t, pl.Directors[1], pairConf(pl.Lab, pl.Directors[1].Iface, ob))
	time.Sleep(2 * oa.advertInterval())
	pl.checkOnlyMaster(t, a, b)

	stopped := time.Now()
	if err := a.p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	took := waitVIPFrom(t, b.h, pl.VIP4, stopped, ob.skew()+slack).Sub(stopped)
	t.Logf("SIGTERM of the master: director2 holds the VIP after %v (skew %v, Master_Down_Interval %v)",
		took, ob.skew(), ob.masterDown())
	select {
	case <-a.p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("xvs did not exit after SIGTERM")
	}
	if hasVIP(t, a.h, pl.VIP4) {
		t.Errorf("the stopped master left the VIP on its interface")
	}
	pl.waitClientMAC(t, b.h, slack)
	pl.checkVIPServes(t, 30)
}

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
		pl.checkVIPServes(t, 30)
		pl.waitClientMAC(t, pl.Director, slack)

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
	// The client last heard director2's gratuitous ARP. keepalived's
	// master answers a lower priority's advert with its own and a burst
	// of gratuitous ARPs (vrrp_garp_lower_prio_repeat), which brings the
	// client back at once; xvs's speaker does not yet, so the entry
	// comes back only when the client's kernel re-resolves it. That is
	// logged, not failed, until package vrrp does what keepalived does.
	start := time.Now()
	back := false
	for time.Since(start) < 2*time.Second && !back {
		back = pl.clientNeighMAC(t) == macOf(t, a.h)
		time.Sleep(20 * time.Millisecond)
	}
	if back {
		t.Logf("healed: the client's neighbour entry is director's again %v later", time.Since(start))
	} else {
		t.Logf("healed: the client's neighbour entry still points at director2 after %v (no gratuitous ARP on a lower priority's advert)", time.Since(start))
	}
	pl.checkVIPServes(t, 30)
}

// TestFailoverIPv6: TestFailoverKill's takeover for the IPv6 VIP (VRRP v3
// over IPv6): the backup holds the VIP within its Master_Down_Interval,
// the client's neighbour entry follows its unsolicited NA, and new
// connections work through it.
func TestFailoverIPv6(t *testing.T) {
	pl := newPairLab(t)
	oa, ob := vrrpOpts{prio: 150, advert: "0.1"}, vrrpOpts{prio: 100, advert: "0.1"}
	a := pl.startXVS(t, pl.Director, pairConf6(pl.Lab, pl.Director.Iface, oa))
	waitFor(t, oa.masterDown()+2*slack, "director master of VI_6", func() bool { return a.stateOf(t, "VI_6") == vrrp.Master })
	b := pl.startXVS(t, pl.Directors[1], pairConf6(pl.Lab, pl.Directors[1].Iface, ob))
	time.Sleep(ob.masterDown() + slack)
	if b.stateOf(t, "VI_6") != vrrp.Backup || hasVIP(t, b.h, pl.VIP6) || !hasVIP(t, a.h, pl.VIP6) {
		t.Fatalf("director2 is %v, VIP6 on director %v, on director2 %v", b.stateOf(t, "VI_6"), hasVIP(t, a.h, pl.VIP6), hasVIP(t, b.h, pl.VIP6))
	}
	pl.checkServes(t, pl.VIP6, 30)
	if got, want := pl.neighMAC(t, pl.Client, pl.VIP6), macOf(t, a.h); got != want {
		t.Errorf("client's neighbour entry for %s is %q, want director's %s", pl.VIP6, got, want)
	}

	killed := time.Now()
	a.kill(t)
	took := waitVIPFrom(t, b.h, pl.VIP6, killed, ob.masterDown()+slack).Sub(killed)
	t.Logf("SIGKILL of the IPv6 master: director2 holds %s after %v (Master_Down_Interval %v)", pl.VIP6, took, ob.masterDown())
	want := macOf(t, b.h)
	waitFor(t, slack, "client's IPv6 neighbour entry follows the NA", func() bool { return pl.neighMAC(t, pl.Client, pl.VIP6) == want })
	pl.checkServes(t, pl.VIP6, 30)
}

// TestFailoverKillV2: the takeover with VRRP version 2 at advert_int 1, the
// issue's ≈ 3.6 s case (Master_Down_Interval at priority 100).
func TestFailoverKillV2(t *testing.T) {
	pl := newPairLab(t)
	oa := vrrpOpts{prio: 150, advert: "1", version: 2}
	ob := vrrpOpts{prio: 100, advert: "1", version: 2}
	a := pl.startMaster(t, oa)
	b := pl.startXVS(t, pl.Directors[1], pairConf(pl.Lab, pl.Directors[1].Iface, ob))
	time.Sleep(2 * oa.advertInterval())
	pl.checkOnlyMaster(t, a, b)
	killed := time.Now()
	a.kill(t)
	tookAt := waitVIPFrom(t, b.h, pl.VIP4, killed, ob.masterDown()+slack)
	t.Logf("SIGKILL of the v2 master: director2 holds the VIP after %v (Master_Down_Interval %v)", tookAt.Sub(killed), ob.masterDown())
	// The master's last advert came up to one interval before the kill.
	if took := tookAt.Sub(killed); took < ob.masterDown()-oa.advertInterval()-slack {
		t.Errorf("took over after %v, before the Master_Down_Interval %v could pass", took, ob.masterDown())
	}
	pl.waitClientMAC(t, b.h, slack)
	pl.checkVIPServes(t, 30)
}
