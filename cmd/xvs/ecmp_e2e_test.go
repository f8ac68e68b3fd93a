package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/sched"
	"github.com/xvs-project/xvs/service"
)

// ECMP tests: three active `xvs run --ecmp` directors behind a router that
// spreads the VIP over them (testnet's Options.ECMP, DR; a static multipath
// route stands in for BGP):
//
//	client ── router ──┬── director  ──┐
//	(5-tuple hash)     ├── director2 ──┼── bridge ── r1, r2, r3 (VIP on lo,
//	                   └── director3 ──┘             gateway = the router)
//
// Every director is given the same services, VIP:80/tcp on both families,
// their real servers listed in another order each (file order must not
// matter), scheduler mh with mh-port so one client's ports spread over the
// real servers.

// ecmpLab is a running ECMP lab: real servers serving HTTP on :80 and one
// daemon per director.
type ecmpLab struct {
	*testnet.Lab
	ctx       context.Context
	directors []*director
}

// ecmpConf is director i's YAML: VIP4:80/tcp and VIP6:80/tcp over every
// real server, the lists rotated by i.
func ecmpConf(l *testnet.Lab, scheduler string, i int) string {
	flags := ""
	if scheduler == "mh" {
		flags = ", flags: [mh-port]"
	}
	var b strings.Builder
	b.WriteString("services:\n")
	for _, vip := range []netip.Addr{l.VIP4, l.VIP6} {
		var reals []string
		for j := range l.Reals {
			r := l.Reals[(i+j)%len(l.Reals)]
			reals = append(reals, fmt.Sprintf("{address: '%s', port: 80, method: dr}", realAddr(r, vip)))
		}
		fmt.Fprintf(&b, "  - {proto: tcp, vip: '%s', port: 80, scheduler: %s%s, reals: [%s]}\n",
			vip, scheduler, flags, strings.Join(reals, ", "))
	}
	return b.String()
}

// realAddr is r's address of vip's family.
func realAddr(r *testnet.Host, vip netip.Addr) netip.Addr {
	if vip.Is6() {
		return r.Addr6
	}
	return r.Addr4
}

// vipKey is the key of the test's service on vip.
func vipKey(vip netip.Addr) service.Key {
	return service.Key{Proto: service.TCP, Addr: vip, Port: 80}
}

// newECMPLab builds the lab and starts a daemon on each director with
// scheduler and `xvs run` args; daemons are stopped (and checked for a
// clean exit, unless killed) when the test ends.
func newECMPLab(t *testing.T, scheduler string, args ...string) *ecmpLab {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	xvsBinary(t)
	tl := testnet.NewT(t, testnet.Options{Mode: testnet.DR, ECMP: true, Directors: 3, Reals: 3, Name: t.Name()})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, r := range tl.Reals {
		if _, err := r.Serve(ctx, testnet.ServeOptions{HTTP: []string{":80"}, UDP: []string{}}); err != nil {
			t.Fatal(err)
		}
	}
	el := &ecmpLab{Lab: tl, ctx: ctx}
	for i, h := range tl.Directors {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "xvs.yaml")
		if err := os.WriteFile(cfg, []byte(ecmpConf(tl, scheduler, i)), 0o600); err != nil {
			t.Fatal(err)
		}
		d := &director{h: h, sock: filepath.Join(dir, "xvs.sock")}
		d.p = launch(ctx, t, h, append([]string{"run", "-i", ifaces(h), "--socket", d.sock, "--backend", "xdp",
			"--config", cfg}, args...)...)
		d.started = time.Now()
		t.Cleanup(func() {
			select {
			case <-d.p.Done(): // killed by the test
			default:
				if err := d.p.Stop(); err != nil {
					t.Errorf("xvs on %s exit: %v\n%s", h.Name, err, d.p.Output())
				}
			}
			if t.Failed() {
				t.Logf("xvs on %s output:\n%s", h.Name, d.p.Output())
			}
		})
		el.directors = append(el.directors, d)
	}
	return el
}

// control dials d's daemon; the connection closes when the test ends.
func (d *director) control(t *testing.T) *control.Client {
	t.Helper()
	c, err := control.Dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// conns is how many connections d's daemon has scheduled for service k.
func (d *director) conns(t *testing.T, k service.Key) uint64 {
	t.Helper()
	st, err := d.control(t).Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Services {
		if s.Key == k {
			return s.Counters.Conns
		}
	}
	t.Fatalf("%s has no service %s", d.h.Name, k)
	return 0
}

// digest is d's Maglev digest of mh service k.
func (d *director) digest(t *testing.T, k service.Key) string {
	t.Helper()
	tabs, err := d.control(t).MaglevTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tab := range tabs {
		if tab.Service == k {
			return tab.Digest
		}
	}
	t.Fatalf("%s lists no Maglev table for %s", d.h.Name, k)
	return ""
}

// expectedMH is the Maglev table the directors should have built, made here
// from the real servers alone: it names the real server of each client
// port, and its digest is theirs.
func expectedMH(t *testing.T, l *testnet.Lab, vip netip.Addr) (pick func(sport uint16) string, digest string) {
	t.Helper()
	var dests []*sched.Dest
	names := map[*sched.Dest]string{}
	for i, r := range l.Reals {
		d := sched.NewDest(uint32(i), flow.Addr16(realAddr(r, vip)), 80, 1)
		dests = append(dests, d)
		names[d] = r.Name
	}
	s, err := sched.New("mh", dests, sched.Options{Flags: sched.FlagMHPort})
	if err != nil {
		t.Fatal(err)
	}
	tab, _ := sched.MaglevTable(s)
	src, dst, fam := flow.Addr16(realAddr(l.Client, vip)), flow.Addr16(vip), uint8(4)
	if vip.Is6() {
		fam = 6
	}
	return func(sport uint16) string {
		f := sched.Flow{Tuple: flow.Tuple{Proto: flow.TCP, Src: src, Dst: dst, SrcPort: sport, DstPort: 80}, Family: fam}
		return names[s.Pick(&f)]
	}, tab.Digest
}

// TestECMPSpread: per family, 300 new connections from distinct client
// ports reach all three directors (each scheduled some, 300 in all), each
// lands on the real server the Maglev table names for its port whichever
// director carried it, and the three directors' digests equal the table's.
func TestECMPSpread(t *testing.T) {
	el := newECMPLab(t, "mh", "--ecmp")
	t.Logf("director's xvsadm -L -n --mh:\n%s", el.directors[0].xvsadmOut(t, "-L", "-n", "--mh"))
	for _, vip := range []netip.Addr{el.VIP4, el.VIP6} {
		t.Run(famName(vip), func(t *testing.T) { ecmpSpread(t, el, vip) })
	}
}

// ecmpSpread is TestECMPSpread for the service on vip.
func ecmpSpread(t *testing.T, el *ecmpLab, vip netip.Addr) {
	// Each family its own ports: the other's are in TIME_WAIT.
	n, firstPort := 300, 20000
	if vip.Is6() {
		firstPort = 30000
	}
	pick, want := expectedMH(t, el.Lab, vip)
	for _, d := range el.directors {
		if got := d.digest(t, vipKey(vip)); got != want {
			t.Errorf("%s: digest %s, want %s", d.h.Name, got, want)
		}
	}
	addr := netip.AddrPortFrom(vip, 80).String()
	var mu sync.Mutex
	got := map[uint16]string{}
	var errs []error
	var wg sync.WaitGroup
	const parallel = 4
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Sockets made inside Do belong to the client's namespace.
			_ = el.Client.Do(func() error {
				for i := w; i < n; i += parallel {
					sport := uint16(firstPort + i)
					name, err := requestFrom(addr, sport)
					mu.Lock()
					if err != nil {
						errs = append(errs, fmt.Errorf("port %d: %w", sport, err))
					} else {
						got[sport] = name
					}
					mu.Unlock()
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i < 5 {
			t.Error(err)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed", len(errs), n)
	}
	wrong, per := 0, map[string]int{}
	for sport, name := range got {
		per[name]++
		if w := pick(sport); name != w {
			wrong++
			if wrong <= 5 {
				t.Errorf("port %d answered by %s, the Maglev table says %s", sport, name, w)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d flows on another real server than the table's", wrong, n)
	}
	var sum uint64
	var spread []string
	for _, d := range el.directors {
		c := d.conns(t, vipKey(vip))
		sum += c
		spread = append(spread, fmt.Sprintf("%s %d", d.h.Name, c))
		if c == 0 {
			t.Errorf("%s scheduled no connection", d.h.Name)
		}
	}
	t.Logf("connections per director: %s; per real server: %v", strings.Join(spread, ", "), per)
	if sum != uint64(n) {
		t.Errorf("the directors scheduled %d connections, want %d", sum, n)
	}
}

// requestFrom sends one GET / to addr from client port sport and returns the
// answering real server's name (labserver's X-Real).
func requestFrom(addr string, sport uint16) (string, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{Port: int(sport)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return get(c, bufio.NewReader(c), addr)
}
