package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/vrrp"
)

// Split brain and the standby gate (issue 13): a backup director makes no
// new connection for its VRRP instance's VIP but forwards the ones it
// holds, and a pair whose link between the directors failed (both master)
// and came back has one master again within two advertisement intervals
// while every connection made on either side meanwhile survives.

// steerClient points the client's neighbour entry for the VIP at h, as
// h's gratuitous ARP would (the client's own cache, an ordinary entry the
// next announcement overrides); on NAT the real servers' entries for
// their gateway too, so the replies come back through h.
func (pl *pairLab) steerClient(t *testing.T, h *testnet.Host) {
	t.Helper()
	neigh := func(on *testnet.Host, addr, mac string) {
		if out, err := on.Run(pl.ctx, "ip", "neigh", "replace", addr, "lladdr", mac, "dev", on.Iface, "nud", "reachable"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	neigh(pl.Client, pl.VIP4.String(), macOf(t, h))
	if pl.Mode == testnet.NAT {
		for _, r := range pl.Reals {
			neigh(r, pl.Gateway4.String(), macOfIface(t, h, h.Links[1].Iface))
		}
	}
}

// stats reads the daemon's figures over a control connection of its own.
func (d *director) stats(t *testing.T) control.Stats {
	t.Helper()
	c, err := control.Dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return (&counters{c: c}).stats(t)
}

// inPkts is the packets d forwarded toward its real servers, all services.
func (d *director) inPkts(t *testing.T) uint64 {
	t.Helper()
	var n uint64
	for _, s := range d.stats(t).Services {
		n += s.Counters.InPkts
	}
	return n
}

// dropCount is the daemon's drop counter for reason, summed over queues.
func (d *director) dropCount(t *testing.T, reason string) uint64 {
	t.Helper()
	c, err := control.Dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return (&counters{c: c}).drop(t, reason)
}

// logTime is the time= of a daemon's log line (zero if none).
func logTime(line string) time.Time {
	f := strings.Fields(line)
	if len(f) == 0 || !strings.HasPrefix(f[0], "time=") {
		return time.Time{}
	}
	at, _ := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time="))
	return at
}

// established counts the ESTABLISHED connections in d's table.
func (d *director) established(t *testing.T) int {
	t.Helper()
	return strings.Count(d.xvsadmOut(t, "-Lnc"), "ESTABLISHED")
}

// startSyncPair starts xvs on both directors with lvs_sync_daemon
// following VI_1, director (priority 150) master and director2 (100)
// backup, and waits until their sync roles follow.
func (pl *pairLab) startSyncPair(t *testing.T, oa, ob vrrpOpts) (a, b *director) {
	t.Helper()
	a = pl.startXVS(t, pl.Director, syncConf(pl.Lab, pl.Director.Iface, oa))
	waitFor(t, oa.masterDown()+2*slack, "xvs on director master", func() bool { return a.state(t) == vrrp.Master })
	b = pl.startXVS(t, pl.Directors[1], syncConf(pl.Lab, pl.Directors[1].Iface, ob))
	time.Sleep(ob.masterDown() + slack)
	pl.checkOnlyMaster(t, a, b)
	waitFor(t, 2*time.Second, "the sync roles", func() bool {
		return strings.Contains(a.xvsadmDaemon(t), "master sync daemon (") && strings.Contains(b.xvsadmDaemon(t), "backup sync daemon (")
	})
	return a, b
}

// blobs runs n paced downloads of size bytes to the VIP in the background.
func (pl *pairLab) blobs(ctx context.Context, n, size int, rate int64) <-chan []testnet.BlobResult {
	out := make(chan []testnet.BlobResult, 1)
	go func() {
		rs, err := pl.Client.Blobs(ctx, testnet.BlobsOptions{URL: testnet.HTTPURL(pl.VIP4, 80, fmt.Sprintf("/blob?size=%d", size)),
			N: n, Rate: rate, Timeout: 60 * time.Second})
		if err != nil {
			rs = append(rs, testnet.BlobResult{Error: err.Error()})
		}
		out <- rs
	}()
	return out
}

// checkBlobs checks that every one of n transfers of size bytes arrived
// whole, with no error (a reset would be one), and logs their gaps.
func checkBlobs(t *testing.T, what string, rs []testnet.BlobResult, n, size int) {
	t.Helper()
	if len(rs) != n {
		t.Errorf("%s: %d results, want %d: %+v", what, len(rs), n, rs)
		return
	}
	var gaps []time.Duration
	failed := 0
	for i, x := range rs {
		if !x.OK || x.Bytes != int64(size) || x.SHA256 != testnet.BlobSHA256(int64(size)) || x.Error != "" {
			failed++
			if failed <= 5 {
				t.Errorf("%s: transfer %d: %d bytes from %s: %s", what, i, x.Bytes, x.Server, x.Error)
			}
		}
		gaps = append(gaps, x.MaxGap)
	}
	if failed > 0 {
		t.Errorf("%s: %d of %d transfers failed", what, failed, n)
	}
	slices.Sort(gaps)
	t.Logf("%s: %d transfers of %d MB, longest wait for data per flow: min %v, median %v, max %v",
		what, n, size>>20, gaps[0], gaps[len(gaps)/2], gaps[len(gaps)-1])
}

// TestStandbyGate: with the master up, the client's neighbour entry
// steered to the backup: a connection the master made (and synced) keeps
// working through the backup, while a new connection there is refused,
// its SYNs dropped and counted as "standby"; steered back, new
// connections work. DR and NAT.
func TestStandbyGate(t *testing.T) {
	for _, mode := range []testnet.Mode{testnet.DR, testnet.NAT} {
		t.Run(mode.String(), func(t *testing.T) { testStandbyGate(t, mode) })
	}
}

func testStandbyGate(t *testing.T, mode testnet.Mode) {
	const size, rate = 6 << 20, 1 << 20
	pl := newPairLabMode(t, mode)
	oa, ob := vrrpOpts{prio: 150, advert: "0.1"}, vrrpOpts{prio: 100, advert: "0.1"}
	a, b := pl.startSyncPair(t, oa, ob)

	ctx, cancel := context.WithTimeout(pl.ctx, 60*time.Second)
	defer cancel()
	done := pl.blobs(ctx, 1, size, rate)
	waitFor(t, 5*time.Second, "the transfer synced to the backup", func() bool { return b.established(t) >= 1 })

	pl.steerClient(t, b.h)
	before, fwd := b.dropCount(t, "standby"), b.inPkts(t)
	gctx, gcancel := context.WithTimeout(pl.ctx, 10*time.Second)
	sum, err := pl.Client.HTTPGet(gctx, testnet.GetOptions{URL: testnet.HTTPURL(pl.VIP4, 80, "/"), N: 1, Parallel: 1, Timeout: 2 * time.Second})
	gcancel()
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 0 {
		t.Errorf("a new connection through the backup was answered: %+v", sum)
	}
	gated := b.dropCount(t, "standby") - before
	if gated == 0 {
		t.Errorf("the backup counted no standby drop; drops:\n%s", b.xvsadmOut(t, "-L", "--drops"))
	}
	t.Logf("backup refused a new connection: %d standby drops (%v)", gated, sum.Errors)
	time.Sleep(2 * time.Second) // the synced transfer runs through the backup meanwhile
	fwd = b.inPkts(t) - fwd
	if fwd < 20 {
		t.Errorf("the backup forwarded %d packets of the synced transfer, want its ACKs of two seconds", fwd)
	}
	t.Logf("the backup forwarded %d packets of the synced transfer", fwd)

	pl.steerClient(t, a.h)
	pl.checkVIPServes(t, 10)
	rs := <-done
	checkBlobs(t, "the master's transfer, two seconds through the backup", rs, 1, size)
}

// TestSplitBrain: the link between the directors fails (CutDirectors:
// VRRP and sync between them dropped, both still reach the client and
// the real servers), so both become master. Ten paced transfers start
// through each (the client's neighbour entry for the VIP steered to each
// in turn, as each one's gratuitous ARP would). Then the link comes back:
// exactly one master (the higher priority) within two advertisement
// intervals, the client's entry follows the winner's announcement, and
// every transfer of both sides completes with the right sha256 and no
// reset: the loser handed its connections over before it yielded, and
// forwarded them meanwhile as the backup it became. DR and NAT.
func TestSplitBrain(t *testing.T) {
	for _, mode := range []testnet.Mode{testnet.DR, testnet.NAT} {
		t.Run(mode.String(), func(t *testing.T) { testSplitBrain(t, mode) })
	}
}

func testSplitBrain(t *testing.T, mode testnet.Mode) {
	const (
		flows = 10
		size  = 8 << 20
		rate  = 1 << 20
	)
	pl := newPairLabMode(t, mode)
	oa, ob := vrrpOpts{prio: 150, advert: "1"}, vrrpOpts{prio: 100, advert: "1"}
	a, b := pl.startSyncPair(t, oa, ob)

	if err := pl.CutDirectors(pl.ctx); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	waitFor(t, ob.masterDown()+2*slack, "director2 master too (split brain)", func() bool { return b.state(t) == vrrp.Master })
	if a.state(t) != vrrp.Master {
		t.Fatalf("director is %v during the split", a.state(t))
	}
	t.Logf("split brain: both master %v after the cut", time.Since(cut).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(pl.ctx, 90*time.Second)
	defer cancel()
	pl.steerClient(t, a.h)
	viaA := pl.blobs(ctx, flows, size, rate)
	waitFor(t, 5*time.Second, "the first transfers on director", func() bool { return a.established(t) >= flows })
	pl.steerClient(t, b.h)
	viaB := pl.blobs(ctx, flows, size, rate)
	waitFor(t, 5*time.Second, "the second transfers on director2", func() bool { return b.established(t) >= flows })
	t.Logf("during the split: director has %d connections ESTABLISHED, director2 %d", a.established(t), b.established(t))

	if err := pl.HealDirectors(pl.ctx); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	// Exactly one master: polled as fast as the sockets answer.
	var one time.Duration
	for {
		sa, sb := a.state(t), b.state(t)
		if (sa == vrrp.Master) != (sb == vrrp.Master) {
			one = time.Since(healed)
			if sa != vrrp.Master {
				t.Fatalf("director2 (priority 100) won: director is %v", sa)
			}
			break
		}
		if time.Since(healed) > 4*oa.advertInterval() {
			t.Fatalf("director %v, director2 %v %v after the link came back", sa, sb, time.Since(healed))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("link back: exactly one master after %v (two advert intervals: %v)", one.Round(time.Millisecond), 2*oa.advertInterval())
	if one > 2*oa.advertInterval() {
		t.Errorf("one master only after %v, more than two advertisement intervals", one)
	}
	pl.waitClientMAC(t, a.h, 2*oa.advertInterval())
	t.Logf("client's neighbour entry on director %v after the link came back", time.Since(healed).Round(time.Millisecond))
	waitFor(t, 5*time.Second, "director learns director2's connections", func() bool { return a.established(t) >= 2*flows })
	t.Logf("after the heal: director has %d connections ESTABLISHED, director2 %d; sync on director:\n%s",
		a.established(t), b.established(t), a.xvsadmDaemon(t))
	if hasVIP(t, b.h, pl.VIP4) {
		t.Error("director2 still holds the VIP")
	}
	// Which announcement moved the client (a lower priority heard, or
	// director2's dump request), and director2's hand-over.
	for _, d := range []*director{a, b} {
		for _, line := range strings.Split(d.p.Output(), "\n") {
			if strings.Contains(line, "announcing the addresses again") || strings.Contains(line, "handed its table over") ||
				strings.Contains(line, "vrrp transition") && strings.Contains(line, "VI_1") && healed.Before(logTime(line)) {
				t.Logf("%s: %s", d.h.Name, line)
			}
		}
	}

	var ra, rb []testnet.BlobResult
	for range 2 {
		select {
		case ra = <-viaA:
		case rb = <-viaB:
		case <-ctx.Done():
			t.Fatal("transfers did not end")
		}
	}
	checkBlobs(t, "made on director during the split", ra, flows, size)
	checkBlobs(t, "made on director2 during the split", rb, flows, size)
	t.Logf("director2's drops after the heal:\n%s", b.xvsadmOut(t, "-L", "--drops"))
	pl.checkVIPServes(t, 10)
}
