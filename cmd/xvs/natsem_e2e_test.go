package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestNATSemantics: IPVS's NAT semantics where xvs used to differ, in one
// NAT lab set up with xvsadm:
//
//	client 198.18.0.1 ── [ext  director  int] ── switch ── r1, r2 (:8080)
//	VIP1 198.18.0.10:80 ─┐ rr, NAT
//	VIP2 198.18.0.11:80 ─┴──► r1:8080, r2:8080   (two services, one pool)
//
// two-vips: 10 000 connections to VIP1, then 10 000 to VIP2, from one
// client: its ports come back for VIP2 while VIP1's entries on them are in
// TIME_WAIT, so the real server sees the same tuple again; every request
// must be answered. totals: deleting a real server keeps the service's
// counters. readd: deleting a real server and adding it back keeps a held
// keep-alive connection. route-warning: a real server no served interface
// routes to is warned about by xvsadm and in the log.
func TestNATSemantics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests build namespaces; skipped in -short")
	}
	l := startWith(t, setup{mode: testnet.NAT, backend: "xdp", reals: 2,
		serve: testnet.ServeOptions{HTTP: []string{":8080"}, UDP: []string{}}})
	vip1 := l.VIP4
	vip2 := netip.MustParseAddr("198.18.0.11")
	if out, err := l.Director.Run(context.Background(), "ip", "addr", "add", vip2.String()+"/32", "dev", l.DirectorIfaces[0]); err != nil {
		t.Fatalf("add VIP2: %v\n%s", err, out)
	}
	for _, vip := range []netip.Addr{vip1, vip2} {
		v := netip.AddrPortFrom(vip, 80).String()
		l.xvsadm(t, "-A", "-t", v, "-s", "rr")
		for _, r := range l.Reals {
			l.xvsadm(t, "-a", "-t", v, "-r", netip.AddrPortFrom(r.Addr4, 8080).String(), "-m")
		}
	}

	t.Run("two-vips", func(t *testing.T) {
		const n = 10000
		first := burst(t, l, vip1, n)
		second := burst(t, l, vip2, n)
		// A reused port that the same real server answered both times is a
		// tuple the real server saw twice: the clash this test is about.
		clashes := 0
		for port, real := range second {
			if first[port] == real {
				clashes++
			}
		}
		t.Logf("%d of %d VIP2 connections reused a VIP1 connection's tuple on the real server", clashes, n)
		if clashes == 0 {
			t.Errorf("no client port was reused: the test did not make the clash")
		}
		for _, d := range l.stats(t).Drops {
			if d.Queue != "" && (d.Reason == "table-full" || d.Reason == "reply-clash") {
				t.Errorf("drops %s/%s = %d", d.Queue, d.Reason, d.Count)
			}
		}
	})

	t.Run("totals", func(t *testing.T) {
		v := netip.AddrPortFrom(vip2, 80).String()
		before := statsLine(t, l.xvsadm(t, "-Ln", "--stats"), "TCP "+v)
		l.xvsadm(t, "-d", "-t", v, "-r", netip.AddrPortFrom(l.Reals[1].Addr4, 8080).String())
		after := statsLine(t, l.xvsadm(t, "-Ln", "--stats"), "TCP "+v)
		t.Logf("service %s before -d: %v, after: %v", v, before, after)
		if before[0] == 0 || after[0] != before[0] || after[1] != before[1] || after[3] != before[3] {
			t.Errorf("service totals changed by -d: before %v, after %v (Conns InPkts OutPkts InBytes OutBytes)", before, after)
		}
	})

	t.Run("readd", func(t *testing.T) {
		v := netip.AddrPortFrom(vip1, 80).String()
		var conn net.Conn
		if err := l.Client.Do(func() error {
			var err error
			conn, err = net.DialTimeout("tcp", v, 3*time.Second)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		name, err := get(conn, br, v)
		if err != nil {
			t.Fatal(err)
		}
		var addr netip.Addr
		for _, r := range l.Reals {
			if r.Name == name {
				addr = r.Addr4
			}
		}
		if !addr.IsValid() {
			t.Fatalf("answered by %q, not a real server", name)
		}
		real := netip.AddrPortFrom(addr, 8080).String()
		l.xvsadm(t, "-d", "-t", v, "-r", real)
		l.xvsadm(t, "-a", "-t", v, "-r", real, "-m")
		again, err := get(conn, br, v)
		if err != nil {
			t.Fatalf("the held connection after -d and -a of %s: %v (drops %v)", real, err, l.stats(t).Drops)
		}
		if again != name {
			t.Errorf("held connection answered by %s, then %s", name, again)
		}
	})

	t.Run("route-warning", func(t *testing.T) {
		// A server behind an interface xvs does not serve.
		for _, args := range [][]string{
			{"link", "add", "xvsnr0", "type", "veth", "peer", "name", "xvsnr1"},
			{"addr", "add", "198.19.7.1/24", "dev", "xvsnr0"},
			{"link", "set", "xvsnr0", "up"},
		} {
			if out, err := l.Director.Run(context.Background(), "ip", args...); err != nil {
				t.Fatalf("ip %v: %v\n%s", args, err, out)
			}
		}
		v := netip.AddrPortFrom(vip1, 80).String()
		cmd := exec.Command(xvsadmBinary(t), "-a", "-t", v, "-r", "198.19.7.7:8080", "-m")
		cmd.Env = append(os.Environ(), "XVS_SOCKET="+l.sock)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("xvsadm -a: %v (the command must succeed)\n%s", err, stderr.String())
		}
		t.Logf("xvsadm stderr: %s", stderr.String())
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), "198.19.7.7:8080") || !strings.Contains(stderr.String(), "no route") {
			t.Errorf("xvsadm stdout %q, stderr %q: want a no-route warning on stderr", stdout.String(), stderr.String())
		}
		if !strings.Contains(l.xvsadm(t, "-Ln"), "198.19.7.7:8080") {
			t.Errorf("the real server was not added")
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(l.xvs.Output(), "no route to real server") {
			if time.Now().After(deadline) {
				t.Fatalf("no log line about the unroutable real server:\n%s", l.xvs.Output())
			}
			time.Sleep(50 * time.Millisecond)
		}
		l.xvsadm(t, "-d", "-t", v, "-r", "198.19.7.7:8080")
	})
}

// burst makes n connections from the lab's client to vip:80, four at a time,
// each sending one GET and closing first (so the client, not the real
// server, holds TIME_WAIT, and a reused port is a new connection to the
// server: with the server in TIME_WAIT its own PAWS check would refuse about
// half of the reused tuples, under IPVS and nftables alike). Every request
// must be answered, and the run must end within 120 s. It returns which
// real server answered on each client port (last use).
func burst(t *testing.T, l *lab, vip netip.Addr, n int) map[uint16]string {
	t.Helper()
	const parallel = 4
	addr := netip.AddrPortFrom(vip, 80).String()
	start := time.Now()
	deadline := start.Add(120 * time.Second)
	var mu sync.Mutex
	answered := make(map[uint16]string, n)
	var fails, ok int
	var firstErr error
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		share := n / parallel
		if w < n%parallel {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Sockets made inside Do belong to the client's namespace;
			// Do's thread makes them one after the other.
			err := l.Client.Do(func() error {
				for i := 0; i < share; i++ {
					if time.Now().After(deadline) {
						return fmt.Errorf("%d requests left at the deadline", share-i)
					}
					port, name, err := oneRequest(addr)
					mu.Lock()
					if err != nil {
						fails++
						if firstErr == nil {
							firstErr = err
						}
					} else {
						ok++
						answered[port] = name
					}
					tooMany := fails > 20
					mu.Unlock()
					if tooMany {
						return errors.New("more than 20 failures")
					}
				}
				return nil
			})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				fails++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%s: %d requests in %v, %d failed", addr, n, time.Since(start).Round(time.Millisecond), fails)
	if fails > 0 || ok != n {
		t.Fatalf("%s: %d of %d requests answered (%d failures; first: %v; drops %v)",
			addr, ok, n, fails, firstErr, l.stats(t).Drops)
	}
	return answered
}

// oneRequest opens a connection to addr, sends a GET and reads the answer,
// then closes; it returns the client port and the answering server's name.
func oneRequest(addr string) (uint16, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	name, err := get(c, bufio.NewReader(c), addr)
	if err != nil {
		return port, "", fmt.Errorf("port %d: %w", port, err)
	}
	return port, name, nil
}

// get sends one keep-alive GET / on c and returns the X-Real header of the
// answer; br is c's reader, kept across requests.
func get(c net.Conn, br *bufio.Reader, host string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return resp.Header.Get("X-Real"), nil
}
