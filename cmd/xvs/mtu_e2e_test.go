package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// Jumbo frames, end to end. The labs of e2e_test.go with every link at
// MTU 3000:
//
//	NAT: client ── [ext  director  int] ── switch ── r1, r2     (MTU 3000 everywhere)
//	DR:  client, director, r1, r2 on one bridge                   (MTU 3000 everywhere)
//
// AF_XDP's 2048-byte chunks hold frames of at most 1792 bytes, so the
// backend must pick 4096-byte chunks here; a 2900-byte UDP datagram is
// echoed whole through the service and a 2 MB download (3000-byte
// segments) arrives intact. At MTU 9000 the daemon must refuse to start
// with a message naming the interface, its MTU and the limit.

const (
	jumboMTU     = 3000
	jumboUDPPort = 7001
	jumboUDPSize = 2900
)

// udpEcho answers every datagram with its own bytes.
const udpEcho = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    b, a = s.recvfrom(65535)
    s.sendto(b, a)
`

// udpJumbo sends n datagrams of size bytes, each from a new socket, and
// prints "ok K of N" counting the echoes that came back whole.
const udpJumbo = `
import socket, sys, os
dst = (sys.argv[1], int(sys.argv[2])); size = int(sys.argv[3]); n = int(sys.argv[4])
ok = 0
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    msg = os.urandom(size)
    s.sendto(msg, dst)
    try:
        b, _ = s.recvfrom(65535)
        if b == msg:
            ok += 1
    except socket.timeout:
        pass
    s.close()
print("ok %d of %d" % (ok, n), flush=True)
`

func jumboConfig(tl *testnet.Lab) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, svc := range []struct {
		proto       string
		port, rport int
	}{{"tcp", 80, realPort(tl.Mode)}, {"udp", jumboUDPPort, jumboUDPPort}} {
		fmt.Fprintf(&b, "  - proto: %s\n    vip: %s\n    port: %d\n    scheduler: rr\n    reals:\n", svc.proto, tl.VIP4, svc.port)
		for _, r := range tl.Reals {
			fmt.Fprintf(&b, "      - {address: %s, port: %d, method: %s}\n", r.Addr4, svc.rport, method(tl.Mode))
		}
	}
	return b.String()
}

func TestJumboMTU(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, backend := range []string{"xdp", "afpacket"} {
		t.Run(backend, func(t *testing.T) {
			for _, mode := range []testnet.Mode{testnet.NAT, testnet.DR} {
				t.Run(mode.String(), func(t *testing.T) { jumbo(t, mode, backend) })
			}
		})
	}
}

func jumbo(t *testing.T, mode testnet.Mode, backend string) {
	tl := testnet.NewT(t, testnet.Options{Mode: mode, Name: t.Name(), Reals: 2, MTU: jumboMTU})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	for _, r := range tl.Reals {
		if _, err := r.Serve(ctx, testnet.ServeOptions{HTTP: []string{fmt.Sprintf(":%d", realPort(mode))}}); err != nil {
			t.Fatal(err)
		}
		echo, err := r.Start(ctx, "python3", "-c", udpEcho, strconv.Itoa(jumboUDPPort))
		if err != nil {
			t.Fatal(err)
		}
		if err := echo.WaitOutput(ctx, "ready"); err != nil {
			t.Fatal(err)
		}
	}
	l := launchOn(ctx, t, tl, tl.DirectorIfaces, backend, jumboConfig(tl))

	out, err := tl.Client.Run(ctx, "python3", "-c", udpJumbo, tl.VIP4.String(), strconv.Itoa(jumboUDPPort), strconv.Itoa(jumboUDPSize), "20")
	if err != nil {
		t.Fatalf("udp client: %v\n%s", err, out)
	}
	// The first datagram to each real server may wait for its neighbour
	// (held, not lost); every one must come back whole.
	if got := strings.TrimSpace(string(out)); got != "ok 20 of 20" {
		t.Errorf("%d-byte UDP datagrams: %s", jumboUDPSize, got)
	}
	blob, err := tl.Client.Blob(ctx, testnet.HTTPURL(tl.VIP4, 80, "/blob?size=2097152"))
	if err != nil {
		t.Fatal(err)
	}
	if !blob.OK || blob.Bytes != 2097152 {
		t.Errorf("2 MB download at MTU %d: %+v", jumboMTU, blob)
	}
	drops := l.xvsadm(t, "-L", "--drops")
	if rep, err := l.client(t).Drops(); err != nil || rep.Total() != 0 || t.Failed() {
		t.Errorf("drops (err %v):\n%s", err, drops)
	}
}

// launchOn starts the daemon on the director's interfaces ifaces with the
// YAML config and stops it when the test ends.
func launchOn(ctx context.Context, t *testing.T, tl *testnet.Lab, ifaces []string, backend, config string) *lab {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "xvs.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "xvs.sock")
	p := launch(ctx, t, tl.Director, "run", "-i", strings.Join(ifaces, ","), "--socket", sock,
		"--backend", backend, "--config", cfg, "--metrics", "127.0.0.1:9100")
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("xvs exit: %v\n%s", err, p.Output())
		}
		if t.Failed() {
			t.Logf("xvs output:\n%s", p.Output())
		}
	})
	return &lab{Lab: tl, xvs: p, sock: sock, cfgPath: cfg}
}

// TestJumboMTURefused: an interface whose MTU no AF_XDP chunk can hold is
// refused at start, naming the interface, its MTU and the limit, and
// nothing stays attached.
func TestJumboMTURefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	tl := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Name: t.Name(), Reals: 1, MTU: 9000})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ifc := tl.DirectorIfaces[0]
	out, err := tl.Director.Run(ctx, xvsBinary(t), "run", "-i", ifc, "--socket", filepath.Join(t.TempDir(), "xvs.sock"), "--backend", "xdp")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("xvs at MTU 9000: %v, want a non-zero exit\n%s", err, out)
	}
	want := fmt.Sprintf("xvs: interface %q: MTU 9000 is larger than the AF_XDP backend can receive (at most 3822 with 4096-byte frames); lower the MTU or use --backend afpacket\n", ifc)
	if string(out) != want {
		t.Errorf("xvs at MTU 9000 said\n%q\nwant\n%q", out, want)
	}
	if got := attached(t, tl); got != "" {
		t.Errorf("XDP attached after the refusal: %s", got)
	}
}
