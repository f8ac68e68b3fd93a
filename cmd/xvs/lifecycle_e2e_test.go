package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// attached lists what a daemon may leave on the director: XDP programs on
// its interfaces and nftables tables of the AF_PACKET backend.
func attached(t *testing.T, tl *testnet.Lab) string {
	t.Helper()
	var left []string
	ctx := context.Background()
	for _, ifc := range tl.DirectorIfaces {
		out, _ := tl.Director.Run(ctx, "ip", "-d", "link", "show", "dev", ifc)
		if strings.Contains(string(out), "xdp") {
			left = append(left, "XDP on "+ifc)
		}
	}
	if out, err := tl.Director.Run(ctx, "nft", "list", "tables"); err == nil && strings.Contains(string(out), "xvs") {
		left = append(left, "nftables: "+strings.TrimSpace(string(out)))
	}
	// ss lists sockets through sock_diag: its first line is the header.
	for _, family := range []string{"--xdp", "--packet"} {
		out, err := tl.Director.Run(ctx, "ss", "-a", "-H", family)
		if err == nil && strings.TrimSpace(string(out)) != "" {
			left = append(left, "sockets ("+family+"):\n"+string(out))
		}
	}
	return strings.Join(left, "; ")
}

// TestCrashRestart: a daemon killed with SIGKILL leaves no XDP program, no
// nftables table and no socket behind, and a new one starts and forwards.
func TestCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, backend := range []string{"xdp", "afpacket"} {
		t.Run(backend, func(t *testing.T) {
			tl := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Reals: 1, Name: t.Name()})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := tl.Reals[0].Serve(ctx, testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{}}); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cfg := filepath.Join(dir, "xvs.yaml")
			body := fmt.Sprintf("services:\n  - {proto: tcp, vip: %s, port: 80, scheduler: rr, reals: [{address: %s, method: dr}]}\n",
				tl.VIP4, tl.Reals[0].Addr4)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			start := func() *testnet.Proc {
				return launch(ctx, t, tl.Director, "run", "-i", tl.Director.Iface, "--config", cfg,
					"--socket", filepath.Join(dir, "xvs.sock"), "--backend", backend)
			}
			get := func() {
				sum, err := tl.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(tl.VIP4, 80, "/"), N: 10, Parallel: 2})
				if err != nil || sum.OK != 10 {
					t.Fatalf("%d of 10 answered: %v %v", sum.OK, err, sum.Errors)
				}
			}
			p := start()
			get()
			if live := attached(t, tl); live == "" {
				t.Fatal("the running daemon's programs, tables and sockets are invisible: the checks below would prove nothing")
			} else {
				t.Logf("while running: %s", live)
			}
			if err := p.Cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-p.Done()
			// The kernel tears down what a dead process held; give it a moment.
			deadline := time.Now().Add(3 * time.Second)
			for attached(t, tl) != "" && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if left := attached(t, tl); left != "" {
				t.Fatalf("SIGKILL left: %s", left)
			}
			os.Remove(filepath.Join(dir, "xvs.sock")) // a stale socket file must not stop the restart either
			p = start()
			get()
			if err := p.Stop(); err != nil {
				t.Errorf("SIGTERM: %v\n%s", err, p.Output())
			}
			if left := attached(t, tl); left != "" {
				t.Errorf("SIGTERM left: %s", left)
			}
		})
	}
}

// TestBackendRefusal: forcing native XDP on an interface without it fails
// with the interface, the reason and the way out.
func TestBackendRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a namespace; skipped in -short")
	}
	bin := xvsBinary(t)
	tl := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Reals: 1, Name: t.Name()})
	out, err := tl.Director.Run(context.Background(), bin, "run", "-i", "lo", "--xdp-mode", "native")
	if err == nil {
		t.Fatalf("native XDP on lo was accepted: %s", out)
	}
	msg := strings.TrimSpace(string(out))
	for _, want := range []string{`"lo"`, "--backend afpacket"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	if left := attached(t, tl); left != "" {
		t.Errorf("a refused start left: %s", left)
	}
}
