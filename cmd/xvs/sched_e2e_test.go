package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/internal/testnet"
	"github.com/xvs-project/xvs/service"
)

// httpConn is one TCP connection from a lab host, kept open for several
// requests (HTTP/1.1 keep-alive).
type httpConn struct {
	c net.Conn
	r *bufio.Reader
}

// dial opens a connection from host h (from src, if valid) to dst.
func dial(h *testnet.Host, src netip.Addr, dst netip.AddrPort) (*httpConn, error) {
	var c net.Conn
	err := h.Do(func() error {
		d := net.Dialer{Timeout: 3 * time.Second}
		if src.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
		var err error
		c, err = d.Dial("tcp", dst.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &httpConn{c: c, r: bufio.NewReader(c)}, nil
}

// get sends GET / and returns the answering real server's name.
func (h *httpConn) get() (string, error) {
	h.c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(h.c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	_ = n
	return resp.Header.Get("X-Real"), nil
}

// once makes one connection, one request, and closes.
func once(t *testing.T, h *testnet.Host, src netip.Addr, dst netip.AddrPort) string {
	t.Helper()
	c, err := dial(h, src, dst)
	if err != nil {
		t.Fatalf("connect %v: %v", dst, err)
	}
	defer c.c.Close()
	name, err := c.get()
	if err != nil {
		t.Fatalf("GET via %v: %v", dst, err)
	}
	return name
}

// reconfigure replaces the daemon's services with yaml, through a reload.
func (l *lab) reconfigure(t *testing.T, yaml string) {
	t.Helper()
	if err := os.WriteFile(l.cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := l.client(t)
	if err := c.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

// apply sends changes to the daemon.
func (l *lab) apply(t *testing.T, changes ...control.Change) {
	t.Helper()
	c := l.client(t)
	if err := c.Apply(changes); err != nil {
		t.Fatal(err)
	}
}

func dr(l *lab, port int) string {
	var b strings.Builder
	for _, r := range l.Reals {
		fmt.Fprintf(&b, "      - {address: %s, port: %d, method: dr}\n", r.Addr4, port)
	}
	return b.String()
}

// webService is a TCP VIP:80 service over every real server (DR) with
// scheduler sched.
func webService(l *lab, sched string) string {
	return fmt.Sprintf("services:\n  - proto: tcp\n    vip: %s\n    port: 80\n    scheduler: %s\n    reals:\n%s",
		l.VIP4, sched, dr(l, 80))
}

// setWeight changes one real server's weight on the TCP VIP:80 service.
func (l *lab) setWeight(t *testing.T, real *testnet.Host, w int32) {
	t.Helper()
	l.apply(t, control.Change{Kind: control.EditReal,
		Key:  service.Service{Proto: service.TCP, Addr: l.VIP4, Port: 80}.Key(),
		Real: &service.Real{Addr: real.Addr4, Port: 80, Weight: w, Method: service.MethodDR}})
}

// TestSchedulingEndToEnd runs the scheduler scenarios of IPVS users through
// the daemon on a DR lab (drawn in e2e_test.go), reconfiguring it between them.
func TestSchedulingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startWith(t, setup{mode: testnet.DR, backend: "xdp",
		config: func(*testnet.Lab) string { return "services: []\n" },
		serve:  testnet.ServeOptions{HTTP: []string{":80", ":443"}, UDP: []string{":53"}}})
	web := netip.AddrPortFrom(l.VIP4, 80)
	tls := netip.AddrPortFrom(l.VIP4, 443)
	// Extra client addresses, to be different clients.
	var clients []netip.Addr
	for i := 101; i <= 106; i++ {
		a := netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})
		if _, err := l.Client.Run(context.Background(), "ip", "addr", "add", a.String()+"/23", "dev", l.Client.Iface); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, a)
	}

	t.Run("persistent group", func(t *testing.T) {
		l.reconfigure(t, fmt.Sprintf(`services:
  - group: web
    match:
      - {proto: tcp, prefix: %s, ports: "80"}
      - {proto: tcp, prefix: %s, ports: "443"}
    scheduler: rr
    persistent: 300
    reals:
%s`, l.VIP4, l.VIP4, dr(l, 0)))
		first := once(t, l.Client, netip.Addr{}, web)
		for i := 1; i < 50; i++ {
			dst := web
			if i%2 == 1 {
				dst = tls
			}
			if got := once(t, l.Client, netip.Addr{}, dst); got != first {
				t.Fatalf("connection %d (to %v) went to %s, the first to %s", i, dst, got, first)
			}
		}
		seen := map[string]bool{}
		for _, c := range clients {
			seen[once(t, l.Client, c, web)] = true
		}
		if len(seen) < 2 {
			t.Errorf("six different clients all went to %v", seen)
		}
	})

	t.Run("quiescent", func(t *testing.T) {
		l.reconfigure(t, webService(l, "rr"))
		held, err := dial(l.Client, netip.Addr{}, web)
		if err != nil {
			t.Fatal(err)
		}
		defer held.c.Close()
		x, err := held.get()
		if err != nil {
			t.Fatal(err)
		}
		l.setWeight(t, l.Lab.Host(x), 0)
		for i := 0; i < 30; i++ {
			if got := once(t, l.Client, netip.Addr{}, web); got == x {
				t.Fatalf("new connection %d went to %s, whose weight is 0", i, x)
			}
		}
		if got, err := held.get(); err != nil || got != x {
			t.Fatalf("the open connection to %s: got %q, %v", x, got, err)
		}
		l.setWeight(t, l.Lab.Host(x), 1)
	})

	t.Run("least connection", func(t *testing.T) {
		l.reconfigure(t, webService(l, "lc"))
		busy := l.Reals[0]
		for _, r := range l.Reals[1:] {
			l.setWeight(t, r, 0)
		}
		for i := 0; i < 5; i++ { // five open connections, all on r1
			c, err := dial(l.Client, netip.Addr{}, web)
			if err != nil {
				t.Fatal(err)
			}
			defer c.c.Close()
			if got, err := c.get(); err != nil || got != busy.Name {
				t.Fatalf("held connection %d: %q, %v", i, got, err)
			}
		}
		for _, r := range l.Reals[1:] {
			l.setWeight(t, r, 1)
		}
		count := map[string]int{}
		for i := 0; i < 20; i++ {
			count[once(t, l.Client, netip.Addr{}, web)]++
		}
		if count[busy.Name] != 0 || len(count) != 2 {
			t.Errorf("with 5 connections open on %s, new ones went %v", busy.Name, count)
		}
	})

	t.Run("one-packet scheduling", func(t *testing.T) {
		var reals strings.Builder
		for _, r := range l.Reals {
			fmt.Fprintf(&reals, "      - {address: %s, method: dr}\n", r.Addr4)
		}
		l.reconfigure(t, fmt.Sprintf("services:\n  - proto: udp\n    vip: %s\n    port: 53\n    scheduler: rr\n    one-packet: true\n    reals:\n%s",
			l.VIP4, reals.String()))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		sum, err := l.Client.UDP(ctx, testnet.UDPOptions{Addr: netip.AddrPortFrom(l.VIP4, 53).String(), N: 300})
		if err != nil {
			t.Fatal(err)
		}
		if sum.OK != 300 {
			t.Fatalf("%d of 300 answered: %v", sum.OK, sum.Errors)
		}
		for _, r := range l.Reals {
			if n := sum.PerServer[r.Name]; n < 80 || n > 120 {
				t.Errorf("%s answered %d of 300 datagrams from one socket, want 100±20%% (%v)", r.Name, n, sum.PerServer)
			}
		}
	})
}
