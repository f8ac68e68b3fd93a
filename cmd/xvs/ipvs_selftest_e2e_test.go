package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestKernelIPVSSelftest runs scripts/ipvs-selftest.sh, our port of the
// kernel's own IPVS selftest (tools/testing/selftests/net/netfilter/ipvs.sh)
// with xvs and xvsadm in place of IPVS and ipvsadm: DR, NAT and TUN, one
// 32-byte TCP transfer each, over veths with the kernel's default offloads,
// on each backend. The script builds and removes its own namespaces; this
// test only supplies the binaries and reads its PASS/FAIL lines.
func TestKernelIPVSSelftest(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	if reason := testnet.Unavailable(); reason != "" {
		t.Skip("testnet: " + reason)
	}
	script, err := filepath.Abs("../../scripts/ipvs-selftest.sh")
	if err != nil {
		t.Fatal(err)
	}
	// The script needs socat (and nft for the AF_PACKET backend); install
	// what is missing rather than skip.
	if _, err := exec.LookPath("socat"); err != nil {
		if out, err := exec.Command("bash", "../../scripts/deps.sh").CombinedOutput(); err != nil {
			t.Fatalf("scripts/deps.sh: %v\n%s", err, out)
		}
	}
	xvs, xvsadm := xvsBinary(t), xvsadmBinary(t)
	for _, backend := range []string{"xdp", "afpacket"} {
		t.Run(backend, func(t *testing.T) {
			// A mode takes about 2 s on an idle machine and a minute under
			// heavy load; every step of the script is bounded (at most
			// about 75 s per mode), so 6 minutes means something hangs.
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", script, xvs, xvsadm, backend)
			// SIGTERM, not SIGKILL, so the script's trap removes its
			// namespaces and stops its daemon.
			cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
			cmd.WaitDelay = 30 * time.Second
			out, err := cmd.CombinedOutput()
			for _, mode := range []string{"DR", "NAT", "TUN"} {
				if !strings.Contains(string(out), "PASS: "+mode+" (--backend "+backend+")") {
					t.Errorf("%s did not pass", mode)
				}
			}
			if err != nil || t.Failed() {
				t.Errorf("%s: %v\n%s", filepath.Base(script), err, out)
			}
		})
	}
}
