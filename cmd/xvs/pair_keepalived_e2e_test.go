package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// Debian's keepalived (VRRP only) as one director of a pair.

// keepalivedProc is Debian's keepalived running VRRP only on a director.
type keepalivedProc struct {
	p        *testnet.Proc
	dir      string
	started  time.Time
	hostName string
}

// startKeepalived runs `keepalived --vrrp --dont-fork --log-console` on h
// with VI_1 of o; it is stopped when the test ends.
func (pl *pairLab) startKeepalived(t *testing.T, h *testnet.Host, o vrrpOpts) *keepalivedProc {
	t.Helper()
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skipf("keepalived not installed (scripts/deps.sh installs it): %v", err)
	}
	dir, err := os.MkdirTemp("", "xvs-pair-ka-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := "global_defs {\n    router_id xvs_pair\n    vrrp_garp_master_repeat 2\n    vrrp_garp_master_delay 1\n}\n" +
		vrrpBlock(pl.Lab, h.Iface, o)
	cfg := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := h.Start(pl.ctx, bin, "--vrrp", "--dont-fork", "--log-console", "--log-detail",
		"-f", cfg, "--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "v.pid"))
	if err != nil {
		t.Fatal(err)
	}
	k := &keepalivedProc{p: p, dir: dir, started: time.Now(), hostName: h.Name}
	wctx, cancel := context.WithTimeout(pl.ctx, 10*time.Second)
	defer cancel()
	if err := p.WaitOutput(wctx, "Entering BACKUP STATE"); err != nil {
		t.Fatalf("keepalived did not start: %v\n%s", err, p.Output())
	}
	t.Cleanup(func() {
		k.kill() // the VRRP child too, whatever state the test left
		_ = p.Stop()
		if t.Failed() {
			t.Logf("keepalived on %s output:\n%s", h.Name, p.Output())
		}
	})
	return k
}

// kill SIGKILLs keepalived's VRRP child and its parent (a crash of the
// whole director: no priority-0 advert), and waits for the parent.
func (k *keepalivedProc) kill() {
	for _, f := range []string{"v.pid", "k.pid"} {
		b, err := os.ReadFile(filepath.Join(k.dir, f))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case <-k.p.Done():
	case <-time.After(5 * time.Second):
	}
}
