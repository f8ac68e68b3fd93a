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
	"github.com/xvs-project/xvs/internal/testnet"
)

// bgpVIP is outside the lab's segment: the client reaches it only by the
// route BIRD learns from the director.
var bgpVIP = netip.MustParseAddr("198.19.0.10")

// TestBGPAnnounceBIRD: a DR lab whose client namespace runs Debian's BIRD
// 2 as the router (the client stands behind it: its kernel table is the
// one BIRD writes). The director announces the VIP of its healthy service;
// BIRD installs it and the client's connections go through the director
// to the real server. All reals down → the route goes within 1 s of the
// quorum loss; back → it returns; SIGKILL → it goes within the hold time
// + 1 s; SIGTERM → BIRD gets the withdrawal (an UPDATE) before the
// session closes, and the route goes before the daemon exits.
func TestBGPAnnounceBIRD(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	tl := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Name: t.Name(), Reals: 1})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := tl.Reals[0]
	if _, err := r.Run(ctx, "ip", "addr", "add", bgpVIP.String()+"/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	serve := func() *testnet.Proc {
		p, err := r.Serve(ctx, testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	srv := serve()
	dir := t.TempDir()
	bird, err := testnet.RunBIRD(ctx, tl.Client, testnet.BIRDOptions{RouterID: tl.Client.Addr4, ASN: 65000, HoldTime: 3 * time.Second,
		Neighbors: []testnet.BIRDNeighbor{{Name: "d1", Address: tl.Director.Addr4, ASN: 65001}}, Dir: dir})
	if err != nil {
		t.Skip(err) // BIRD missing (scripts/deps.sh installs bird2)
	}
	defer func() {
		if t.Failed() {
			t.Logf("bird output:\n%s", bird.Proc.Output())
		}
	}()
	cfg := filepath.Join(dir, "xvs.yaml")
	// 198.18.0.99 is nobody: the daemon serves on with that peer down.
	const unreachable = "198.18.0.99"
	yml := fmt.Sprintf(`bgp:
  asn: 65001
  router-id: %s
  neighbors:
    - {address: %s, asn: 65000, hold-time: 3}
    - {address: `+unreachable+`, asn: 65000, hold-time: 3}
services:
  - proto: tcp
    vip: %s
    port: 80
    scheduler: rr
    check:
      delay_loop: 1
      connect_timeout: 1
      retry: 0
      TCP_CHECK: {}
    reals:
      - {address: %s, port: 80, method: dr}
`, tl.Director.Addr4, tl.Client.Addr4, bgpVIP, r.Addr4)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "xvs.sock")
	start := func() *testnet.Proc {
		return launch(ctx, t, tl.Director, "run", "-i", tl.DirectorIfaces[0], "--socket", sock, "--backend", "xdp",
			"--pin-dir", "", "--config", cfg, "--metrics", "127.0.0.1:9100")
	}
	xvs := start()
	defer func() {
		_ = xvs.Stop()
		if t.Failed() {
			t.Logf("xvs output:\n%s", xvs.Output())
		}
	}()
	vipPfx := netip.PrefixFrom(bgpVIP, 32)
	routed := func() bool {
		out, err := bird.KernelRoute(ctx, vipPfx)
		return err == nil && strings.Contains(out, "via "+tl.Director.Addr4.String())
	}
	gone := func() bool {
		out, err := bird.KernelRoute(ctx, vipPfx)
		return err == nil && out == ""
	}
	waitFor(t, 15*time.Second, "BIRD installs the VIP route", routed)
	if out, _ := bird.Routes(ctx, vipPfx); !strings.Contains(out, "BGP.as_path: 65001") {
		t.Errorf("birdc show route: want the path from AS 65001:\n%s", out)
	}
	hc, err := dial(tl.Client, netip.Addr{}, netip.AddrPortFrom(bgpVIP, 80))
	if err != nil {
		t.Fatalf("client -> VIP through the director: %v", err)
	}
	if name, err := hc.get(); err != nil || name != r.Name {
		t.Fatalf("client -> VIP: %q, %v; want %s", name, err, r.Name)
	}
	hc.c.Close()
	c, err := control.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bst, err := c.BGP()
	if err != nil || len(bst.Announced) != 1 || len(bst.Peers) != 2 || bst.Peers[0].State != "established" ||
		bst.Peers[1].State == "established" || bst.Peers[0].PrefixesSent != 1 {
		t.Fatalf("bgp status: %+v, %v", bst, err)
	}
	m := (&lab{Lab: tl}).metrics(t)
	for _, want := range []string{`xvs_bgp_peer_up{peer="` + tl.Client.Addr4.String() + `"} 1`,
		`xvs_bgp_peer_up{peer="` + unreachable + `"} 0`, "xvs_bgp_prefixes_announced 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A reload drops the unreachable neighbor in place; a change of the
	// rest asks for a restart and changes nothing.
	reload := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	yml = strings.Replace(yml, "    - {address: "+unreachable+", asn: 65000, hold-time: 3}\n", "", 1)
	reload(yml)
	if bst, err = c.BGP(); err != nil || len(bst.Peers) != 1 || bst.Peers[0].State != "established" {
		t.Fatalf("bgp status after dropping a neighbor: %+v, %v", bst, err)
	}
	reload(strings.Replace(yml, "  asn: 65001\n", "  asn: 65001\n  med: 5\n", 1))
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	if err := xvs.WaitOutput(wctx, "restart needed"); err != nil {
		t.Errorf("a reload changing med did not say a restart is needed: %v", err)
	}
	wcancel()
	reload(yml)
	if !routed() {
		t.Fatal("the reloads withdrew the VIP")
	}

	// All reals down: quorum lost → withdrawn within 1 s.
	_ = srv.Stop()
	quorum := func(up bool) func() bool {
		return func() bool {
			rep, err := c.Checks()
			return err == nil && len(rep.Services) == 1 && rep.Services[0].QuorumUp == up
		}
	}
	lost := waitFor(t, 10*time.Second, "quorum lost", quorum(false))
	if at := waitFor(t, 3*time.Second, "route withdrawn", gone); at.Sub(lost) > time.Second {
		t.Errorf("route withdrawn %v after the quorum loss, want ≤ 1 s", at.Sub(lost))
	}
	serve() // ended with the test's context
	back := waitFor(t, 10*time.Second, "quorum back", quorum(true))
	if at := waitFor(t, 3*time.Second, "route announced again", routed); at.Sub(back) > time.Second {
		t.Errorf("route back %v after the quorum, want ≤ 1 s", at.Sub(back))
	}

	// Drain withdraws and keeps forwarding; undrain announces again.
	if _, err := c.Drain(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "route withdrawn on drain", gone)
	// A router that still sends (here a static route) is served.
	static := []string{vipPfx.String(), "via", tl.Director.Addr4.String()}
	if _, err := tl.Client.Run(ctx, "ip", append([]string{"route", "add"}, static...)...); err != nil {
		t.Fatal(err)
	}
	hc, err = dial(tl.Client, netip.Addr{}, netip.AddrPortFrom(bgpVIP, 80))
	if err == nil {
		var name string
		name, err = hc.get()
		hc.c.Close()
		if err == nil && name != r.Name {
			err = fmt.Errorf("answered by %q", name)
		}
	}
	if err != nil {
		t.Errorf("drained director does not forward: %v", err)
	}
	if _, err := tl.Client.Run(ctx, "ip", append([]string{"route", "del"}, static...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Drain(false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "route back on undrain", routed)

	// SIGKILL: nothing is withdrawn; BIRD drops the path after the hold time.
	c.Close()
	killed := time.Now()
	_ = xvs.Cmd.Process.Signal(syscall.SIGKILL)
	<-xvs.Done()
	if at := waitFor(t, 6*time.Second, "route gone after SIGKILL", gone); at.Sub(killed) > 4*time.Second {
		t.Errorf("route gone %v after SIGKILL, want ≤ hold time + 1 s", at.Sub(killed))
	}

	// SIGTERM: the route goes before the daemon exits.
	xvs = start()
	waitFor(t, 15*time.Second, "route back after restart", routed)
	birdMark := len(bird.Proc.Output())
	_ = xvs.Cmd.Process.Signal(syscall.SIGTERM)
	var goneAt time.Time
	for goneAt.IsZero() {
		select {
		case <-xvs.Done():
			t.Fatalf("xvs exited with the route still in BIRD's table\n%s", xvs.Output())
		default:
		}
		if gone() {
			goneAt = time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-xvs.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("xvs did not exit after SIGTERM")
	}
	// BIRD traces an UPDATE's withdrawal as "removed"; the routes a closed
	// session flushes are not traced so.
	bo := bird.Proc.Output()[birdMark:]
	rm, closed := strings.Index(bo, "removed [sole] "+vipPfx.String()), strings.Index(bo, "BGP session closed")
	if rm < 0 || closed < 0 || rm > closed {
		t.Errorf("BIRD after SIGTERM: want the VIP's withdrawal before the session closed:\n%s", bo)
	}
	out := xvs.Output()
	w, s := strings.Index(out, "bgp withdraw"), strings.Index(out, "xvs stopped")
	if w < 0 || s < 0 || w > s {
		t.Errorf("xvs log: want the withdrawal before the stop:\n%s", out)
	}
}
