package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// keepalived runs Debian's keepalived (VRRP only) in n with one instance on
// ifname, and stops it in the test's cleanup. Its log is returned for
// failure messages.
func keepalived(t *testing.T, n *testnet.NetNS, ifname string, prio, version int, advert string, auth string) *testnet.SyncBuffer {
	t.Helper()
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Fatalf("keepalived not installed (scripts/deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	authBlock := ""
	if auth != "" {
		authBlock = "authentication {\n auth_type PASS\n auth_pass " + auth + "\n }"
	}
	conf := fmt.Sprintf(`global_defs {
  router_id xvs_interop
  vrrp_garp_master_repeat 1
  vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
  state BACKUP
  interface %s
  virtual_router_id 51
  priority %d
  advert_int %s
  version %d
  %s
  virtual_ipaddress {
    %s dev %s
  }
}
`, ifname, prio, advert, version, authBlock, vipText, ifname)
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := n.Command(ctx, bin, "--dont-fork", "--log-console", "--log-detail", "--vrrp",
		"--use-file", path, "--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "v.pid"))
	log := &testnet.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait() //nolint:errcheck // stopped by us
		if t.Failed() {
			t.Logf("keepalived log:\n%s", log.String())
		}
	})
	return log
}

// TestKeepalivedInterop: xvs and Debian's keepalived elect one master
// between them, in both directions, for VRRP version 3 (IPv4 checksum with
// the pseudo-header, keepalived's default) and version 2 with PASS
// authentication: the VIP is only ever on one side, and the loser's
// takeover follows the winner's priority-0 advert.
func TestKeepalivedInterop(t *testing.T) {
	vip := netip.MustParsePrefix(vipText)
	for _, tc := range []struct {
		name     string
		version  int
		interval time.Duration
		advert   string
		auth     string
	}{
		{"v3", 3, 100 * time.Millisecond, "0.1", ""},
		{"v2-pass", 2, time.Second, "1", "xvs12345"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			down := 3*tc.interval + tc.interval // generous: 3 intervals + skew + scheduling
			if tc.version == 2 {
				down = 3*tc.interval + time.Second
			}
			p := newPair(t)
			inst := func(prio uint8) Instance {
				return Instance{Name: "VI_1", Interface: "vb", NetNS: nsPath(p.b), VIPs: []netip.Prefix{vip},
					Config:   Config{VRID: 51, Priority: prio, Interval: tc.interval, Version: tc.version},
					AuthPass: tc.auth, GARPRepeat: 1}
			}

			// keepalived at 100, xvs at 150: xvs wins and keepalived agrees.
			klog := keepalived(t, p.a, "va", 100, tc.version, tc.advert, tc.auth)
			x, stopX := run(t, inst(150))
			waitFor(t, 2*down, "xvs master", func() bool { return x.Status().State == Master })
			time.Sleep(2 * down)
			if !hasVIP(t, p.b, vipText) || hasVIP(t, p.a, vipText) {
				t.Fatalf("xvs 150 vs keepalived 100: vip on xvs %v, on keepalived %v (split brain or none)",
					hasVIP(t, p.b, vipText), hasVIP(t, p.a, vipText))
			}
			if !strings.Contains(klog.String(), "Entering BACKUP STATE") || strings.Contains(klog.String(), "Entering MASTER STATE") {
				t.Errorf("keepalived did not stay backup")
			}

			// xvs leaves: keepalived takes over.
			stopX()
			waitFor(t, 2*down, "keepalived master", func() bool { return hasVIP(t, p.a, vipText) })
			if hasVIP(t, p.b, vipText) {
				t.Errorf("xvs kept the VIP after stopping")
			}

			// xvs back at 50: keepalived stays master, xvs backup, and xvs
			// reads keepalived's adverts without discarding any.
			x2, _ := run(t, inst(50))
			time.Sleep(2 * down)
			st := x2.Status()
			if st.State != Backup || hasVIP(t, p.b, vipText) || !hasVIP(t, p.a, vipText) {
				t.Errorf("xvs 50 vs keepalived 100: xvs %v, vip on xvs %v, on keepalived %v",
					st.State, hasVIP(t, p.b, vipText), hasVIP(t, p.a, vipText))
			}
			if st.Received == 0 || len(st.Discarded) != 0 {
				t.Errorf("xvs reading keepalived's adverts: received %d, discarded %v", st.Received, st.Discarded)
			}
		})
	}
}
