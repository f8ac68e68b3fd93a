package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/internal/testnet"
)

// End-to-end tests: real clients and servers (labserver) in namespaces, the
// xvs binary on the director, for each of NAT, DR and TUN over IPv4 and IPv6.
// The labs are drawn in internal/testnet's package doc:
//
//	NAT:    client ── [ext  director  int] ── switch ── r1, r2, r3   (reals' gateway = director)
//	DR/TUN: client, director, r1..r3 on one bridge; reals hold the VIP on lo
//	        (TUN: reals run `xvs decap -i IFACE`, our XDP decapsulator)

var (
	buildOnce sync.Once
	xvsBin    string
	buildErr  error
)

// xvsBinary builds the daemon once per test process.
func xvsBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xvs-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		xvsBin = filepath.Join(dir, "xvs")
		out, err := exec.Command("go", "build", "-o", xvsBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return xvsBin
}

// lab is one running set-up: namespaces, real servers, the daemon.
type lab struct {
	*testnet.Lab
	xvs     *testnet.Proc
	sock    string
	cfgPath string
	// servers are the real servers' labserver processes, in l.Reals' order.
	servers []*testnet.Proc
}

// client connects to the lab's daemon over its control socket; the
// connection is closed when the test ends.
func (l *lab) client(t *testing.T) *control.Client {
	t.Helper()
	c, err := control.Dial(l.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stats asks the daemon for its figures over the control socket.
func (l *lab) stats(t *testing.T) control.Stats {
	t.Helper()
	c := l.client(t)
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// metrics scrapes the daemon's /metrics (--metrics 127.0.0.1:9100) over a
// socket made inside the director's namespace: net/http would dial from
// another thread, outside it.
func (l *lab) metrics(t *testing.T) string {
	t.Helper()
	mc, err := dial(l.Director, netip.Addr{}, netip.MustParseAddrPort("127.0.0.1:9100"))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.c.Close()
	fmt.Fprintf(mc.c, "GET /metrics HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(mc.r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// realPort is where real servers listen for HTTP: NAT maps VIP:80 to it.
func realPort(m testnet.Mode) int {
	if m == testnet.NAT {
		return 8080
	}
	return 80
}

func method(m testnet.Mode) string { return m.String() }

// config writes the daemon's config: rr HTTP and UDP services on both VIPs.
func config(l *testnet.Lab) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
		for _, svc := range []struct {
			proto       string
			port, rport int
		}{{"tcp", 80, realPort(l.Mode)}, {"udp", 53, 53}} {
			fmt.Fprintf(&b, "  - proto: %s\n    vip: %s\n    port: %d\n    scheduler: rr\n    reals:\n", svc.proto, vip, svc.port)
			for _, r := range l.Reals {
				addr := r.Addr4
				if vip.Is6() {
					addr = r.Addr6
				}
				fmt.Fprintf(&b, "      - {address: %s, port: %d, method: %s}\n", addr, svc.rport, method(l.Mode))
			}
		}
	}
	return b.String()
}

// setup describes a lab for startWith.
type setup struct {
	mode    testnet.Mode
	backend string
	reals   int
	// config returns the daemon's YAML; nil starts it with no services.
	config func(*testnet.Lab) string
	// serve is what every real server runs.
	serve testnet.ServeOptions
	// args are more `xvs run` flags.
	args []string
}

func startLab(t *testing.T, mode testnet.Mode, backend string) *lab {
	return startWith(t, setup{mode: mode, backend: backend, config: config,
		serve: testnet.ServeOptions{HTTP: []string{fmt.Sprintf(":%d", realPort(mode))}, UDP: []string{":53"}}})
}

// stateDirs holds each test's --state-dir, so a daemon a test restarts
// finds its predecessor's journal.
var stateDirs sync.Map // *testing.T -> string

// launch starts xvs with args on host h and waits until it serves. Unless
// args name one, the daemon's --state-dir is the test's own, so a daemon
// the test kills leaves nothing in the host's /run/xvs.
func launch(ctx context.Context, t *testing.T, h *testnet.Host, args ...string) *testnet.Proc {
	t.Helper()
	if !slices.Contains(args, "--state-dir") {
		dir, ok := stateDirs.Load(t)
		if !ok {
			dir, _ = stateDirs.LoadOrStore(t, t.TempDir())
			t.Cleanup(func() { stateDirs.Delete(t) })
		}
		args = append(args, "--state-dir", dir.(string))
	}
	p, err := h.Start(ctx, xvsBinary(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := p.WaitOutput(wctx, "xvs running"); err != nil {
		t.Fatalf("xvs did not start: %v\n%s", err, p.Output())
	}
	return p
}

func startWith(t *testing.T, su setup) *lab {
	t.Helper()
	bin := xvsBinary(t)
	mode := su.mode
	opts := testnet.Options{Mode: mode, Name: t.Name(), Reals: su.reals}
	if mode == testnet.TUN {
		opts.SetupReal = func(h *testnet.Host) error {
			_, err := h.Run(context.Background(), bin, "decap", "-i", h.Iface)
			return err
		}
	}
	tl := testnet.NewT(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var servers []*testnet.Proc
	for _, r := range tl.Reals {
		p, err := r.Serve(ctx, su.serve)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, p)
	}
	dir := t.TempDir()
	args := []string{"run", "-i", strings.Join(tl.DirectorIfaces, ","), "--socket", filepath.Join(dir, "xvs.sock"),
		"--backend", su.backend, "--metrics", "127.0.0.1:9100"}
	if su.config != nil {
		cfg := filepath.Join(dir, "xvs.yaml")
		if err := os.WriteFile(cfg, []byte(su.config(tl)), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	p := launch(ctx, t, tl.Director, append(args, su.args...)...)
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("xvs exit: %v\n%s", err, p.Output())
		}
		// SIGTERM must leave no XDP program on the director's interfaces.
		for _, ifc := range tl.DirectorIfaces {
			out, _ := tl.Director.Run(context.Background(), "ip", "-d", "link", "show", "dev", ifc)
			if strings.Contains(string(out), "xdp") {
				t.Errorf("XDP still attached to %s after xvs stopped:\n%s", ifc, out)
			}
		}
		if t.Failed() {
			t.Logf("xvs output:\n%s", p.Output())
		}
	})
	return &lab{Lab: tl, xvs: p, sock: filepath.Join(dir, "xvs.sock"), cfgPath: filepath.Join(dir, "xvs.yaml"), servers: servers}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	for _, backend := range []string{"xdp", "afpacket"} {
		t.Run(backend, func(t *testing.T) {
			for _, mode := range []testnet.Mode{testnet.NAT, testnet.DR, testnet.TUN} {
				t.Run(mode.String(), func(t *testing.T) {
					l := startLab(t, mode, backend)
					for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
						fam := "v4"
						if vip.Is6() {
							fam = "v6"
						}
						t.Run(fam, func(t *testing.T) { checkService(t, l, vip) })
					}
				})
			}
		})
	}
}

// checkService runs the checks against one VIP: 300 new connections
// spread by rr, a 2 MB download intact, UDP answered.
func checkService(t *testing.T, l *lab, vip netip.Addr) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sum, err := l.Client.HTTPGet(ctx, testnet.GetOptions{URL: testnet.HTTPURL(vip, 80, "/"), N: 300, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 300 {
		t.Fatalf("%d of 300 requests answered: %v", sum.OK, sum.Errors)
	}
	// A dropped SYN costs the client a 1 s retransmission: the daemon must
	// not drop any (e.g. while resolving a neighbour).
	if sum.P99 > 500*time.Millisecond {
		t.Errorf("p99 latency %v: packets were dropped (drops: %v)", sum.P99, l.stats(t).Drops)
	}
	for _, r := range l.Reals {
		if n := sum.PerServer[r.Name]; n < 80 || n > 120 {
			t.Errorf("%s answered %d of 300, want 100±20%% (all: %v)", r.Name, n, sum.PerServer)
		}
	}
	blob, err := l.Client.Blob(ctx, testnet.HTTPURL(vip, 80, "/blob?size=2097152"))
	if err != nil {
		t.Fatal(err)
	}
	if !blob.OK || blob.Bytes != 2097152 {
		t.Errorf("2 MB download: %+v", blob)
	}
	udp, err := l.Client.UDP(ctx, testnet.UDPOptions{Addr: netip.AddrPortFrom(vip, 53).String(), N: 50})
	if err != nil {
		t.Fatal(err)
	}
	if udp.OK != 50 {
		t.Errorf("UDP: %d of 50 answered: %v", udp.OK, udp.Errors)
	}
}
