package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/internal/testnet"
)

// TestSyncMasterEndToEnd: xvs run becomes an IPVS sync master by ipvsadm's
// command, and a connsync.Backup on the director's segment (in the
// client's namespace: the master's multicast does not loop back into its
// own) receives the connections the client makes through it, with their
// VIP and real server, and a full-table dump when it asks.
//
//	client ns: HTTP client + connsync.Backup on IF ── director ns: xvs run (NAT), sync master on its IF ── reals
func TestSyncMasterEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startLab(t, testnet.NAT, "xdp")
	dif := l.Director.Iface
	l.xvsadm(t, "--start-daemon", "master", "--mcast-interface", dif, "--syncid", "9")
	if out := xvsadmErr(t, l, "--start-daemon", "master", "--mcast-interface", dif); out != "Daemon has already run\n" {
		t.Errorf("second start: %q", out)
	}
	out := l.xvsadm(t, "-L", "--daemon")
	if !strings.HasPrefix(out, "master sync daemon (mcast="+dif+", syncid=9, maxlen=") ||
		!strings.HasSuffix(out, ", group=224.0.0.81, port=8848, ttl=1)\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("-L --daemon:\n%s", out)
	}

	type got struct {
		mu    sync.Mutex
		conns map[netip.AddrPort]connsync.Conn
	}
	rx := &got{conns: map[netip.AddrPort]connsync.Conn{}}
	dc := connsync.DaemonConfig{Interface: l.Client.Iface, SyncID: 9, NetNS: filepath.Join("/run/netns", l.Client.NS)}
	b, err := connsync.NewBackup(dc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- b.Run(ctx, func(c *connsync.Conn) {
			rx.mu.Lock()
			rx.conns[c.Client] = *c
			rx.mu.Unlock()
		})
	}()
	count := func() int {
		rx.mu.Lock()
		defer rx.mu.Unlock()
		return len(rx.conns)
	}
	time.Sleep(100 * time.Millisecond) // the join settles

	const n = 30
	sum, err := l.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(l.VIP4, 80, "/"), N: n, Parallel: 3})
	if err != nil || sum.OK != n {
		t.Fatalf("%+v %v", sum, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	reals := map[netip.AddrPort]bool{}
	for _, r := range l.Reals {
		reals[netip.AddrPortFrom(r.Addr4, uint16(realPort(l.Mode)))] = true
	}
	rx.mu.Lock()
	if len(rx.conns) < n {
		t.Errorf("the backup heard %d connections, want %d", len(rx.conns), n)
	}
	for cl, c := range rx.conns {
		if cl.Addr() != l.Client.Addr4 || c.Virtual != netip.AddrPortFrom(l.VIP4, 80) || !reals[c.Dest] || c.Proto != 6 {
			t.Errorf("entry %+v", c)
		}
	}
	rx.mu.Unlock()

	// A late backup's request: the master dumps its table (the closed
	// connections are still in it, in TIME_WAIT).
	before := b.Stats().Conns
	if err := connsync.RequestDump(dc); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for b.Stats().Conns < before+n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := b.Stats().Conns - before; got < n {
		t.Errorf("the dump carried %d entries, want at least %d", got, n)
	}
	detail := l.xvsadm(t, "--sync")
	if !strings.Contains(detail, "requests heard 1") || strings.Contains(detail, "messages     sent 0,") {
		t.Errorf("--sync:\n%s", detail)
	}
	t.Logf("xvsadm --sync:\n%s", detail)
	metrics := syncMetrics(t, l)
	for _, want := range []string{`xvs_sync_daemon_running{role="master"} 1`, `xvs_sync_dump_requests_total 1`,
		`xvs_sync_conns_sent_total{kind="conn"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}

	l.xvsadm(t, "--stop-daemon", "master")
	if out := xvsadmErr(t, l, "--stop-daemon", "master"); out != "No daemon is running\n" {
		t.Errorf("second stop: %q", out)
	}
	if out := l.xvsadm(t, "-L", "--daemon"); out != "" {
		t.Errorf("-L --daemon after stop: %q", out)
	}
	// The daemon still forwards with no master.
	if sum, err := l.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(l.VIP4, 80, "/"), N: 10, Parallel: 2}); err != nil || sum.OK != 10 {
		t.Errorf("after stop: %+v %v", sum, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// xvsadmErr runs xvsadm expecting it to fail, and returns what it printed.
func xvsadmErr(t *testing.T, l *lab, args ...string) string {
	t.Helper()
	cmd := exec.Command(xvsadmBinary(t), args...)
	cmd.Env = append(os.Environ(), "XVS_SOCKET="+l.sock)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("xvsadm %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// waitDaemon polls xvsadm -L --daemon until it prints want.
func waitDaemon(t *testing.T, l *lab, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		if out = l.xvsadm(t, "-L", "--daemon"); out == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("-L --daemon:\n%s\nwant:\n%s", out, want)
}

// TestSyncFromFile: the daemons a configuration file names start with xvs
// run: YAML's sync: block (both roles, two sync IDs), and keepalived's
// lvs_sync_daemon, master once its VRRP instance is MASTER.
func TestSyncFromFile(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	serve := testnet.ServeOptions{HTTP: []string{":8080"}, UDP: []string{}}
	t.Run("yaml", func(t *testing.T) {
		l := startWith(t, setup{mode: testnet.NAT, backend: "xdp", serve: serve, config: func(tl *testnet.Lab) string {
			return config(tl) + "sync:\n  master: {interface: " + tl.Director.Iface + ", syncid: 3}\n" +
				"  backup: {interface: " + tl.Director.Iface + ", syncid: 4, maxlen: 9000}\n"
		}})
		dif := l.Director.Iface
		waitDaemon(t, l, "master sync daemon (mcast="+dif+", syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"+
			"backup sync daemon (mcast="+dif+", syncid=4, maxlen=9000, group=224.0.0.81, port=8848, ttl=1)\n")
	})
	t.Run("keepalived", func(t *testing.T) {
		l := startWith(t, setup{mode: testnet.NAT, backend: "xdp", serve: serve, config: func(tl *testnet.Lab) string {
			return "global_defs {\n    vrrp_version 3\n    lvs_sync_daemon " + tl.Director.Iface + " VI_1 id 4\n}\n" +
				"vrrp_instance VI_1 {\n    state BACKUP\n    interface " + tl.Director.Iface + "\n    virtual_router_id 51\n" +
				"    priority 150\n    advert_int 0.1\n    virtual_ipaddress {\n        198.19.255.77/32\n    }\n}\n" +
				"virtual_server " + tl.VIP4.String() + " 80 {\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n" +
				"    real_server " + tl.Reals[0].Addr4.String() + " 8080 {\n    }\n}\n"
		}})
		// Alone on its link, the instance becomes MASTER within three
		// adverts and the skew: the sync daemon follows.
		waitDaemon(t, l, "master sync daemon (mcast="+l.Director.Iface+", syncid=4, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n")
		if out := l.xvsadm(t, "--sync"); !strings.Contains(out, "role follows VRRP instance VI_1") {
			t.Errorf("--sync:\n%s", out)
		}
	})
}

// syncMetrics reads the daemon's xvs_sync_ metrics, from inside the
// director's namespace.
func syncMetrics(t *testing.T, l *lab) string {
	t.Helper()
	return grepLines(l.metrics(t), "xvs_sync_")
}

// TestSyncBackupEndToEnd: xvs run becomes a sync backup by ipvsadm's
// command and installs what a master on its segment (a connsync.Master in
// the client's namespace) sends: the entry shows in -Lc with the master's
// state, and --sync counts it.
func TestSyncBackupEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startLab(t, testnet.NAT, "xdp")
	l.xvsadm(t, "--start-daemon", "backup", "--mcast-interface", l.Director.Iface, "--syncid", "5")
	time.Sleep(100 * time.Millisecond) // the join settles
	m, err := connsync.NewMaster(connsync.DaemonConfig{Interface: l.Client.Iface, SyncID: 5, NetNS: filepath.Join("/run/netns", l.Client.NS)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := m.NewWriter()
	client := netip.AddrPortFrom(l.Client.Addr4, 40001)
	c := connsync.Conn{Proto: 6, State: 1, Timeout: 900, Flags: connsync.FwdMasq, Client: client,
		Virtual: netip.AddrPortFrom(l.VIP4, 80), Dest: netip.AddrPortFrom(l.Reals[1].Addr4, uint16(realPort(l.Mode)))}
	if err := w.Add(&c, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.Flush(time.Now(), true)
	deadline := time.Now().Add(5 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out = l.xvsadm(t, "-Lcn")
		if strings.Contains(out, client.String()) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, "ESTABLISHED "+client.String()) || !strings.Contains(out, c.Dest.String()) {
		t.Errorf("-Lcn after the sync message:\n%s", out)
	}
	if d := l.xvsadm(t, "--sync"); !strings.Contains(d, "installed 1,") {
		t.Errorf("--sync:\n%s", d)
	}
}
