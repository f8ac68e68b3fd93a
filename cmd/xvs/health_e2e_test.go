package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/service"
)

// The health checks' timing in these tests, and the windows keepalived's
// rules give for it (issue 12): a dead server is out within
// delay_loop + retry×delay_before_retry + (retry+1)×connect_timeout + 1 s,
// and a restarted one back within delay_loop + 1 s.
const (
	hcDelayLoop = time.Second
	hcTimeout   = time.Second
	hcRetry     = 1
	hcDBR       = time.Second
	hcOutWithin = hcDelayLoop + hcRetry*hcDBR + (hcRetry+1)*hcTimeout + time.Second
	hcBackIn    = hcDelayLoop + time.Second
)

// hcTiming is the keepalived.conf lines of that timing, for a checker block.
var hcTiming = fmt.Sprintf("connect_timeout %d\n            retry %d\n            delay_before_retry %d",
	int(hcTimeout/time.Second), hcRetry, int(hcDBR/time.Second))

// healthLab starts a NAT lab of n real servers (HTTP on 8080) with the
// keepalived.conf conf returns.
func healthLab(t *testing.T, n int, conf func(l *testnet.Lab) string) *lab {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	return startWith(t, setup{mode: testnet.NAT, backend: "xdp", reals: n, config: conf,
		serve: testnet.ServeOptions{HTTP: []string{":8080"}, UDP: []string{}}})
}

// webKey is the NAT lab's TCP VIP:80 service.
func webKey(l *lab) service.Key {
	return service.Key{Proto: service.TCP, Addr: l.VIP4, Port: 80}
}

// weights returns the installed real servers of service k by address, with
// their weights.
func weights(t *testing.T, c *control.Client, k service.Key) map[netip.Addr]int32 {
	t.Helper()
	cfg, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Addr]int32{}
	for _, s := range cfg.Services {
		if s.Key() == k {
			for _, r := range s.Reals {
				out[r.Addr] = r.Weight
			}
		}
	}
	return out
}

// waitFor polls cond every 20 ms until it holds or within passes, and
// returns when it first held.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitChecked waits until every checker has run and is up.
func waitChecked(t *testing.T, c *control.Client, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d checkers up", n), func() bool {
		rep, err := c.Checks()
		if err != nil || len(rep.Checks) != n {
			return false
		}
		for _, st := range rep.Checks {
			if st.State() != "up" {
				return false
			}
		}
		return true
	})
}

// checkOf returns the status of the checker of real server addr.
func checkOf(t *testing.T, c *control.Client, addr netip.Addr) health.CheckStatus {
	t.Helper()
	rep, err := c.Checks()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range rep.Checks {
		if strings.HasPrefix(st.Real, addr.String()+":") {
			return st
		}
	}
	t.Fatalf("no checker of %s in %+v", addr, rep.Checks)
	return health.CheckStatus{}
}

// TestHealthKillDuringLoad: a real server's process is killed while a client
// makes 3000 HTTP requests on new connections, 20 at a time. The server
// leaves the pool within keepalived's window and every request started
// after that window succeeds; restarted, it is back within delay_loop + 1 s
// with its weight.
func TestHealthKillDuringLoad(t *testing.T) {
	l := healthLab(t, 3, func(l *testnet.Lab) string {
		var b strings.Builder
		fmt.Fprintf(&b, "virtual_server %s 80 {\n    delay_loop %d\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n", l.VIP4, int(hcDelayLoop/time.Second))
		for _, r := range l.Reals {
			fmt.Fprintf(&b, "    real_server %s 8080 {\n        weight 2\n        HTTP_GET {\n            url {\n                path /\n                status_code 200\n            }\n            %s\n        }\n    }\n", r.Addr4, hcTiming)
		}
		b.WriteString("}\n")
		return b.String()
	})
	c := l.client(t)
	waitChecked(t, c, 3)
	victim := l.Reals[0].Addr4

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		sum testnet.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := l.Client.HTTPGet(ctx, testnet.GetOptions{URL: "http://" + l.VIP4.String() + "/",
			N: 3000, Parallel: 20, Rate: 250, Timeout: 2 * time.Second})
		done <- result{sum, err}
	}()
	time.Sleep(2 * time.Second)
	if err := l.servers[0].Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	out := waitFor(t, hcOutWithin+2*time.Second, "the killed server out of the pool", func() bool {
		_, in := weights(t, c, webKey(l))[victim]
		return !in
	})
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("killed server out after %v (window %v); %d requests, %d ok, %d failed, p99 %v",
		out.Sub(killed).Round(time.Millisecond), hcOutWithin, r.sum.Requests, r.sum.OK, r.sum.Failures, r.sum.P99)
	if out.Sub(killed) > hcOutWithin {
		t.Errorf("out after %v, want within %v", out.Sub(killed), hcOutWithin)
	}
	if r.sum.Requests != 3000 {
		t.Errorf("%d requests ran, want 3000", r.sum.Requests)
	}
	late := 0
	for _, at := range r.sum.FailedAt {
		if at.After(killed.Add(hcOutWithin)) {
			late++
		}
	}
	if late > 0 {
		t.Errorf("%d requests started after the window failed (%v)", late, r.sum.Errors)
	}
	if st := checkOf(t, c, victim); st.State() != "down" || st.LastReason == "" {
		t.Errorf("killed server's checker: %s %q, want down with a reason", st.State(), st.LastReason)
	}

	p, err := l.Reals[0].Serve(context.Background(), testnet.ServeOptions{HTTP: []string{":8080"}, UDP: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	restarted := time.Now()
	back := waitFor(t, hcBackIn+2*time.Second, "the restarted server back", func() bool {
		return weights(t, c, webKey(l))[victim] == 2
	})
	t.Logf("restarted server back after %v (window %v)", back.Sub(restarted).Round(time.Millisecond), hcBackIn)
	if back.Sub(restarted) > hcBackIn {
		t.Errorf("back after %v, want within %v", back.Sub(restarted), hcBackIn)
	}
	for _, want := range []string{"health: checker down", "health: removing real server", "health: adding real server"} {
		if !strings.Contains(l.xvs.Output(), want) {
			t.Errorf("no %q line in the daemon's log", want)
		}
	}
}

// TestHealthBadReload: a keepalived.conf with a syntax error is refused with
// its file:line over the control socket and SIGHUP, and the running set
// and its checks stay.
func TestHealthBadReload(t *testing.T) {
	conf := func(l *testnet.Lab) string {
		return fmt.Sprintf("virtual_server %s 80 {\n    delay_loop 1\n    lb_kind NAT\n    real_server %s 8080 {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n}\n", l.VIP4, l.Reals[0].Addr4)
	}
	l := healthLab(t, 1, conf)
	c := l.client(t)
	waitChecked(t, c, 1)
	before := l.xvsadm(t, "-Sn")
	bad := strings.Replace(conf(l.Lab), "connect_timeout 1", "connect_timeout 1\n            bogus_block {", 1)
	if err := os.WriteFile(l.cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := c.Reload()
	if err == nil || !strings.Contains(err.Error(), filepath.Base(l.cfgPath)+":") {
		t.Fatalf("bad keepalived.conf reload: %v, want file:line", err)
	}
	t.Logf("refused: %v", err)
	if after := l.xvsadm(t, "-Sn"); after != before {
		t.Errorf("a refused reload changed the table:\n%s\nwas:\n%s", after, before)
	}
	waitChecked(t, c, 1)
}
