package main

import (
	"context"
	"fmt"
	"net"
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

// serveDNS answers every query on h's UDP port 53 with rcode (2: SERVFAIL)
// until the test ends.
func serveDNS(t *testing.T, h *testnet.Host, rcode byte) {
	t.Helper()
	var pc net.PacketConn
	if err := h.Do(func() (err error) { pc, err = net.ListenPacket("udp", ":53"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			buf[2] |= 0x80                    // QR
			buf[3] = buf[3]&0xf0 | rcode&0x0f // RCODE
			pc.WriteTo(buf[:n], from)
		}
	}()
}

// TestHealthFailureReasons: HTTP 503, a digest mismatch, DNS SERVFAIL, a UDP
// port unreachable and a MISC_CHECK's exit 1 each take their server out,
// with that reason in xvsadm --checks and in the metrics; a healthy server
// stays in.
func TestHealthFailureReasons(t *testing.T) {
	dir := t.TempDir()
	l := healthLab(t, 6, func(l *testnet.Lab) string {
		r := func(i int) netip.Addr { return l.Reals[i].Addr4 }
		return fmt.Sprintf(`virtual_server %s 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    real_server %s 8080 {
        HTTP_GET {
            url {
                path /status/503
            }
            connect_timeout 1
        }
    }
    real_server %s 8080 {
        HTTP_GET {
            url {
                path /
                digest 0123456789abcdef0123456789abcdef
            }
            connect_timeout 1
        }
    }
    real_server %s 8080 {
        DNS_CHECK {
            connect_port 53
            type A
            name example.org
            connect_timeout 1
            retry 0
        }
    }
    real_server %s 8080 {
        UDP_CHECK {
            connect_port 9999
            connect_timeout 1
        }
    }
    real_server %s 8080 {
        MISC_CHECK {
            misc_path "/bin/sh -c 'exit 1'"
            misc_timeout 2
        }
    }
    real_server %s 8080 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
`, l.VIP4, r(0), r(1), r(2), r(3), r(4), r(5))
	})
	_ = dir
	serveDNS(t, l.Reals[2], 2)
	c := l.client(t)
	want := []string{"HTTP status 503", "digest mismatch", "DNS rcode SERVFAIL", "ICMP port unreachable", "exit status 1"}
	waitFor(t, 15*time.Second, "five servers out", func() bool {
		w := weights(t, c, webKey(l))
		return len(w) == 1
	})
	if _, ok := weights(t, c, webKey(l))[l.Reals[5].Addr4]; !ok {
		t.Errorf("the healthy server is out: %v", weights(t, c, webKey(l)))
	}
	listing := l.xvsadm(t, "--checks")
	t.Logf("xvsadm --checks:\n%s", listing)
	m := l.metrics(t)
	for i, reason := range want {
		st := checkOf(t, c, l.Reals[i].Addr4)
		if st.State() != "down" || !strings.Contains(st.LastReason, reason) {
			t.Errorf("%s: %s %q, want down with %q", l.Reals[i].Addr4, st.State(), st.LastReason, reason)
		}
		if !strings.Contains(listing, reason) {
			t.Errorf("xvsadm --checks lacks %q", reason)
		}
		if !strings.Contains(m, "xvs_health_check_failures_total{") || !strings.Contains(m, reason) {
			t.Errorf("metrics lack a failure with reason %q", reason)
		}
		up := fmt.Sprintf(`xvs_real_server_up{real="%s:8080",service=`, l.Reals[i].Addr4)
		if !strings.Contains(m, up) || !strings.Contains(m[strings.Index(m, up):], "} 0\n") {
			t.Errorf("metrics: %s... is not 0", up)
		}
	}
}

// TestHealthInhibitKeepsConnection: with inhibit_on_failure a failed server
// stays at weight 0 and an established connection to it keeps working.
func TestHealthInhibitKeepsConnection(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "down")
	l := healthLab(t, 1, func(l *testnet.Lab) string {
		return fmt.Sprintf(`virtual_server %s 80 {
    delay_loop 1
    lb_kind NAT
    real_server %s 8080 {
        weight 3
        inhibit_on_failure
        MISC_CHECK {
            misc_path "/bin/sh -c 'test ! -e %s'"
        }
    }
}
`, l.VIP4, l.Reals[0].Addr4, flag)
	})
	c := l.client(t)
	waitChecked(t, c, 1)
	held, err := dial(l.Client, netip.Addr{}, netip.AddrPortFrom(l.VIP4, 80))
	if err != nil {
		t.Fatal(err)
	}
	defer held.c.Close()
	if _, err := held.get(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "weight 0", func() bool {
		w, ok := weights(t, c, webKey(l))[l.Reals[0].Addr4]
		return ok && w == 0
	})
	if name, err := held.get(); err != nil || name == "" {
		t.Errorf("established connection to an inhibited server: %q, %v", name, err)
	}
	os.Remove(flag)
	waitFor(t, 5*time.Second, "weight 3 again", func() bool { return weights(t, c, webKey(l))[l.Reals[0].Addr4] == 3 })
}

// TestHealthQuorum: quorum 2, hysteresis 1, three servers of weight 1 and a
// sorry server. keepalived's rules (update_quorum_state): up at start with
// W=3 ≥ q+h; while up it is lost only at W < q−h = 1, i.e. W=0, when the
// sorry server replaces them; while down it is gained only at W ≥ 3.
func TestHealthQuorum(t *testing.T) {
	dir := t.TempDir()
	flag := func(i int) string { return filepath.Join(dir, fmt.Sprintf("down%d", i)) }
	marks := filepath.Join(dir, "quorum.log")
	l := healthLab(t, 4, func(l *testnet.Lab) string {
		var b strings.Builder
		fmt.Fprintf(&b, "virtual_server %s 80 {\n    delay_loop 1\n    lb_kind NAT\n    quorum 2\n    hysteresis 1\n", l.VIP4)
		fmt.Fprintf(&b, "    quorum_up \"/bin/sh -c 'echo up >> %s'\"\n    quorum_down \"/bin/sh -c 'echo down >> %s'\"\n", marks, marks)
		fmt.Fprintf(&b, "    sorry_server %s 8080\n", l.Reals[3].Addr4)
		for i, r := range l.Reals[:3] {
			fmt.Fprintf(&b, "    real_server %s 8080 {\n        weight 1\n        MISC_CHECK {\n            misc_path \"/bin/sh -c 'test ! -e %s'\"\n        }\n    }\n", r.Addr4, flag(i))
		}
		b.WriteString("}\n")
		return b.String()
	})
	c := l.client(t)
	waitChecked(t, c, 3)
	a := func(i int) netip.Addr { return l.Reals[i].Addr4 }
	steps := []struct {
		what  string
		fail  int // flag to create (>= 0) or remove (< 0: ^i)
		want  []netip.Addr
		quota bool
	}{
		{"R0 down: W=2", 0, []netip.Addr{a(1), a(2)}, true},
		{"R1 down: W=1", 1, []netip.Addr{a(2)}, true},
		{"R2 down: W=0, quorum lost, sorry server in", 2, []netip.Addr{a(3)}, false},
		{"R0 back: W=1 < 3, still down", ^0, []netip.Addr{a(3)}, false},
		{"R1 back: W=2 < 3, still down", ^1, []netip.Addr{a(3)}, false},
		{"R2 back: W=3, quorum gained, sorry server out", ^2, []netip.Addr{a(0), a(1), a(2)}, true},
	}
	for _, s := range steps {
		if s.fail >= 0 {
			os.WriteFile(flag(s.fail), nil, 0o600)
		} else {
			os.Remove(flag(^s.fail))
		}
		// Let the checker see it: one delay_loop and a probe.
		time.Sleep(hcDelayLoop + 500*time.Millisecond)
		waitFor(t, 3*time.Second, s.what, func() bool {
			w := weights(t, c, webKey(l))
			if len(w) != len(s.want) {
				return false
			}
			for _, r := range s.want {
				if w[r] != 1 {
					return false
				}
			}
			return true
		})
		rep, err := c.Checks()
		if err != nil || len(rep.Services) != 1 || rep.Services[0].QuorumUp != s.quota {
			t.Errorf("%s: quorum view %+v, %v; want quorum up %v", s.what, rep.Services, err, s.quota)
		}
	}
	// keepalived announces the quorum it starts with (update_quorum_state
	// with init set), so quorum_up runs at start too.
	got, _ := os.ReadFile(marks)
	if string(got) != "up\ndown\nup\n" {
		t.Errorf("quorum scripts ran %q, want up (at start), down, up", got)
	}
	for _, want := range []string{"health: lost quorum 2-1=1 > 0", "health: gained quorum 2+1=3 <= 3"} {
		if !strings.Contains(strings.ToLower(l.xvs.Output()), strings.ToLower(want)) {
			t.Errorf("no %q line in the daemon's log", want)
		}
	}
}

// checkColumns is xvsadm --checks without the columns that move with time
// (SINCE and the counters): service, real, kind, target, state, weight,
// last result and reason.
func checkColumns(listing string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[0] != "SERVICE" && !strings.Contains(line, "quorum") {
			b.WriteString(strings.Join(f[:len(f)-4], " ") + "\n")
		} else {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestHealthKeepalivedTwin: a keepalived.conf with two virtual servers (an
// HTTP_GET-checked NAT one and a TCP_CHECK-checked DR one) installs exactly
// what its YAML twin does: the same table (xvsadm -Sn), the same checkers in
// the same states, and traffic flows the same. The daemon is started on the
// YAML file and reloaded onto keepalived.conf (the format is told on every
// reload), and back.
func TestHealthKeepalivedTwin(t *testing.T) {
	yamlFile := func(l *testnet.Lab) string {
		return fmt.Sprintf(`services:
  - proto: tcp
    vip: %[1]s
    port: 80
    scheduler: wrr
    check:
      delay_loop: 1
      HTTP_GET:
        url: {path: /, status_code: 200}
        connect_timeout: 1
    reals:
      - {address: %[2]s, port: 8080, method: nat, weight: 2}
      - {address: %[3]s, port: 8080, method: nat, weight: 1}
  - proto: tcp
    vip: %[1]s
    port: 8080
    scheduler: rr
    persistent: 60
    check: {delay_loop: 1, path-true: false}
    reals:
      - address: %[4]s
        method: dr
        check:
          TCP_CHECK: {connect_timeout: 1}
`, l.VIP4, l.Reals[0].Addr4, l.Reals[1].Addr4, l.Reals[2].Addr4)
	}
	l := healthLab(t, 3, yamlFile)
	kaFile := fmt.Sprintf(`virtual_server %[1]s 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    real_server %[2]s 8080 {
        weight 2
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
        }
    }
    real_server %[3]s 8080 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
        }
    }
}
virtual_server %[1]s 8080 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    persistence_timeout 60
    real_server %[4]s 8080 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
`, l.VIP4, l.Reals[0].Addr4, l.Reals[1].Addr4, l.Reals[2].Addr4)
	c := l.client(t)
	waitChecked(t, c, 3)
	web := "http://" + l.VIP4.String() + "/"
	traffic := func(what string) {
		t.Helper()
		sum, err := l.Client.HTTPGet(context.Background(), testnet.GetOptions{URL: web, N: 30, Parallel: 3})
		if err != nil || sum.OK != 30 || len(sum.PerServer) != 2 {
			t.Errorf("%s: %d of 30 answered by %v (%v %v)", what, sum.OK, sum.PerServer, err, sum.Errors)
		}
	}
	traffic("YAML")
	table, checks := l.xvsadm(t, "-Sn"), checkColumns(l.xvsadm(t, "--checks"))

	for i, body := range []string{kaFile, yamlFile(l.Lab)} {
		if err := os.WriteFile(l.cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.Reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		waitChecked(t, c, 3)
		if got := l.xvsadm(t, "-Sn"); got != table {
			t.Errorf("reload %d: table\n%s\nwant (YAML's)\n%s", i, got, table)
		}
		if got := checkColumns(l.xvsadm(t, "--checks")); got != checks {
			t.Errorf("reload %d: checks\n%s\nwant (YAML's)\n%s", i, got, checks)
		}
		traffic(fmt.Sprintf("after reload %d", i))
	}
}

// TestHealthPathTrue: with --probe-address, the checks of DR and TUN real
// servers travel the forwarded packets' way. A DR server whose service
// listens but that lacks the VIP on lo, and a TUN server without
// decapsulation, are down by the path-true check while a plain TCP check of
// RIP:port says up (both shown in xvsadm --checks); the healthy server
// stays and takes every request.
func TestHealthPathTrue(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, tc := range []struct {
		mode   testnet.Mode
		break_ func(t *testing.T, l *lab)
	}{
		{testnet.DR, func(t *testing.T, l *lab) {
			out, err := l.Reals[1].Run(context.Background(), "ip", "addr", "del", l.VIP4.String()+"/32", "dev", "lo")
			if err != nil {
				t.Fatalf("remove the VIP from lo: %v %s", err, out)
			}
		}},
		{testnet.TUN, func(t *testing.T, l *lab) {
			out, err := l.Reals[1].Run(context.Background(), xvsBinary(t), "decap", "-i", l.Reals[1].Iface, "--remove")
			if err != nil {
				t.Fatalf("remove decapsulation: %v %s", err, out)
			}
		}},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			method := strings.ToLower(tc.mode.String())
			l := startWith(t, setup{mode: tc.mode, backend: "xdp", reals: 2,
				serve: testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{}},
				args:  []string{"--probe-address", "198.18.0.50/23"},
				config: func(l *testnet.Lab) string {
					return fmt.Sprintf(`services:
  - proto: tcp
    vip: %s
    port: 80
    scheduler: rr
    check:
      delay_loop: 1
      HTTP_GET: {url: {path: /}, connect_timeout: 1}
    reals:
      - {address: %s, method: %s}
      - address: %s
        method: %s
        check:
          TCP_CHECK:
            - {connect_timeout: 1}
            - {connect_timeout: 1, path-true: false}
`, l.VIP4, l.Reals[0].Addr4, method, l.Reals[1].Addr4, method)
				}})
			c := l.client(t)
			waitChecked(t, c, 3)
			tc.break_(t, l)
			bad := l.Reals[1].Addr4
			waitFor(t, 10*time.Second, "the broken server out", func() bool {
				_, in := weights(t, c, webKey(l))[bad]
				return !in
			})
			listing := l.xvsadm(t, "--checks")
			t.Logf("xvsadm --checks:\n%s", listing)
			rep, err := c.Checks()
			if err != nil {
				t.Fatal(err)
			}
			var states []string
			for _, st := range rep.Checks {
				if strings.HasPrefix(st.Real, bad.String()+":") {
					states = append(states, st.State())
				}
			}
			if strings.Join(states, " ") != "down up" {
				t.Errorf("broken server's checkers (path-true, plain): %v, want down up", states)
			}
			sum, err := l.Client.HTTPGet(context.Background(), testnet.GetOptions{URL: "http://" + l.VIP4.String() + "/", N: 20, Parallel: 2})
			if err != nil || sum.OK != 20 {
				t.Errorf("%d of 20 requests answered (%v %v)", sum.OK, err, sum.Errors)
			}
		})
	}
}
