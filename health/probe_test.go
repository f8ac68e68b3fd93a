package health

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func probeCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// closedPort returns a loopback TCP/UDP port nobody listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return ap
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	up := netip.MustParseAddrPort(ln.Addr().String())
	var entered int
	enter := func(fn func() error) error { entered++; return fn() }
	cases := []struct {
		name string
		c    *TCP
		ok   bool
		why  string
	}{
		{"listening", &TCP{Addr: up}, true, ""},
		{"refused", &TCP{Addr: closedPort(t)}, false, "connect: connection refused"},
		{"bound source and Enter hook", &TCP{Addr: up, Net: &Net{Source: netip.MustParseAddr("127.0.0.1"), Enter: enter}}, true, ""},
		{"source not on this host", &TCP{Addr: up, Net: &Net{Source: netip.MustParseAddr("192.0.2.1")}}, false, "connect: cannot assign requested address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.c.Check(probeCtx(t, 2*time.Second))
			if r.OK != c.ok || r.Reason != c.why {
				t.Fatalf("got %+v, want ok=%v %q", r, c.ok, c.why)
			}
		})
	}
	if entered != 1 {
		t.Fatalf("Enter ran %d times", entered)
	}
}

func TestHTTP(t *testing.T) {
	var lastReq *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastReq = r
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "hello world\n")
		case "/503":
			w.WriteHeader(503)
		case "/redirect":
			w.WriteHeader(302)
		}
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	sum := md5.Sum([]byte("hello world\n"))
	good := hex.EncodeToString(sum[:])
	cases := []struct {
		name string
		u    URL
		ok   bool
		why  string
	}{
		{"200", URL{Path: "/ok"}, true, ""},
		{"503", URL{Path: "/503"}, false, "HTTP status 503"},
		{"302 outside the default set", URL{Path: "/redirect"}, false, "HTTP status 302"},
		{"302 in a configured range", URL{Path: "/redirect", Status: []StatusRange{{200, 200}, {300, 399}}}, true, ""},
		{"digest match", URL{Path: "/ok", Digest: good}, true, ""},
		{"digest match, upper case", URL{Path: "/ok", Digest: strings.ToUpper(good)}, true, ""},
		{"digest mismatch", URL{Path: "/ok", Digest: strings.Repeat("0", 32)}, false, "digest mismatch"},
		{"regex", URL{Path: "/ok", Regex: regexp.MustCompile("wor.d")}, true, ""},
		{"regex no match", URL{Path: "/ok", Regex: regexp.MustCompile("bye")}, false, "regex did not match"},
		{"regex_no_match", URL{Path: "/ok", Regex: regexp.MustCompile("hello"), RegexNoMatch: true}, false, "regex matched"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &HTTP{Addr: addr, URLs: []URL{c.u}}
			r := h.Check(probeCtx(t, 2*time.Second))
			if r.OK != c.ok || r.Reason != c.why {
				t.Fatalf("got %+v, want ok=%v %q", r, c.ok, c.why)
			}
		})
	}
	t.Run("every url must pass", func(t *testing.T) {
		h := &HTTP{Addr: addr, URLs: []URL{{Path: "/ok"}, {Path: "/503"}}}
		if r := h.Check(probeCtx(t, 2*time.Second)); r.OK || r.Reason != "/503: HTTP status 503" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("host header and user agent", func(t *testing.T) {
		h := &HTTP{Addr: addr, URLs: []URL{{Path: "/ok"}}, VirtualHost: "www.example.test"}
		if r := h.Check(probeCtx(t, 2*time.Second)); !r.OK {
			t.Fatal(r)
		}
		if lastReq.Host != "www.example.test" || lastReq.UserAgent() != "KeepAliveClient" || lastReq.Proto != "HTTP/1.0" {
			t.Fatalf("host %q agent %q proto %q", lastReq.Host, lastReq.UserAgent(), lastReq.Proto)
		}
		h = &HTTP{Addr: addr, URLs: []URL{{Path: "/ok", VirtualHost: "per-url.test"}}, Protocol: HTTP11}
		h.Check(probeCtx(t, 2*time.Second))
		if lastReq.Host != "per-url.test" || lastReq.Proto != "HTTP/1.1" || !lastReq.Close {
			t.Fatalf("host %q proto %q close %v", lastReq.Host, lastReq.Proto, lastReq.Close)
		}
	})
	t.Run("refused", func(t *testing.T) {
		h := &HTTP{Addr: closedPort(t), URLs: []URL{{Path: "/"}}}
		if r := h.Check(probeCtx(t, 2*time.Second)); r.OK || r.Reason != "connect: connection refused" {
			t.Fatal(r)
		}
	})
	t.Run("silent server times out", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				defer c.Close()
				time.Sleep(time.Second)
			}
		}()
		h := &HTTP{Addr: netip.MustParseAddrPort(ln.Addr().String()), URLs: []URL{{Path: "/"}}}
		if r := h.Check(probeCtx(t, 200*time.Millisecond)); r.OK || r.Reason != "read: timeout" {
			t.Fatal(r)
		}
	})
}

func TestHTTPRequestBytes(t *testing.T) {
	cases := []struct {
		h    HTTP
		want string
	}{
		{HTTP{Addr: netip.MustParseAddrPort("198.18.1.2:80")}, "GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.18.1.2:80\r\n\r\n"},
		{HTTP{Addr: netip.MustParseAddrPort("[2001:db8::2]:8080"), Protocol: HTTP10C}, "GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [2001:db8::2]:8080\r\n\r\n"},
		{HTTP{Addr: netip.MustParseAddrPort("198.18.1.2:80"), VirtualHost: "web", Protocol: HTTP11}, "GET /x HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: web\r\n\r\n"},
	}
	for _, c := range cases {
		if got := string(c.h.Request(&URL{Path: "/x"})); got != c.want {
			t.Errorf("got %q want %q", got, c.want)
		}
	}
}

// TestHTTPDigestIsOfRawBody: the digest covers the bytes after the header block up to
// Content-Length, undecoded, as keepalived's genhash.
func TestHTTPDigestIsOfRawBody(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			c.Read(buf)
			io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nabcdeEXTRA")
			c.Close()
		}
	}()
	sum := md5.Sum([]byte("abcde"))
	h := &HTTP{Addr: netip.MustParseAddrPort(ln.Addr().String()), URLs: []URL{{Path: "/", Digest: hex.EncodeToString(sum[:])}}}
	if r := h.Check(probeCtx(t, 2*time.Second)); !r.OK {
		t.Fatal(r)
	}
}

func TestHTTPS(t *testing.T) {
	var sni string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(500)
		}
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) { sni = hi.ServerName; return nil, nil }}
	srv.StartTLS()
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	h := &HTTP{Addr: addr, TLS: true, SNI: "www.example.test", URLs: []URL{{Path: "/"}}}
	if r := h.Check(probeCtx(t, 2*time.Second)); !r.OK {
		t.Fatal(r) // a self-signed certificate passes: keepalived does not verify
	}
	if sni != "www.example.test" {
		t.Fatalf("SNI %q", sni)
	}
	h = &HTTP{Addr: addr, TLS: true, URLs: []URL{{Path: "/bad"}}}
	if r := h.Check(probeCtx(t, 2*time.Second)); r.OK || r.Reason != "HTTP status 500" || sni != "" {
		t.Fatal(r, sni)
	}
	if k, _ := h.Describe(); k != KindSSL {
		t.Fatal(k)
	}
}

// udpServer answers each datagram with reply(payload), or stays silent when it returns nil.
func udpServer(t *testing.T, reply func([]byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := reply(buf[:n]); out != nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func closedUDP(t *testing.T) netip.AddrPort {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return ap
}

func TestUDP(t *testing.T) {
	echo := udpServer(t, func(p []byte) []byte { return append([]byte("OK:"), p...) })
	silent := udpServer(t, func([]byte) []byte { return nil })
	cases := []struct {
		name string
		c    *UDP
		ok   bool
		why  string
	}{
		{"port unreachable", &UDP{Addr: closedUDP(t)}, false, "read: connection refused (ICMP port unreachable)"},
		{"silent, no reply required", &UDP{Addr: silent}, true, ""},
		{"silent, reply required", &UDP{Addr: silent, RequireReply: true}, false, "no reply"},
		{"reply matches", &UDP{Addr: echo, Payload: []byte("ping"), RequireReply: true, Reply: []byte("OK:ping")}, true, ""},
		{"reply with wildcard nibbles", &UDP{Addr: echo, Payload: []byte("ping"), RequireReply: true, Reply: []byte("OK\x00"), Mask: []byte{0, 0, 0xff}}, true, ""},
		{"reply mismatch", &UDP{Addr: echo, Payload: []byte("ping"), RequireReply: true, Reply: []byte("NO")}, false, "reply mismatch"},
		{"reply too short", &UDP{Addr: echo, Payload: []byte("p"), RequireReply: true, MinLen: 10}, false, "reply mismatch"},
		{"reply too long", &UDP{Addr: echo, Payload: []byte("ping"), RequireReply: true, MaxLen: 3}, false, "reply mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.c.Check(probeCtx(t, 300*time.Millisecond))
			if r.OK != c.ok || r.Reason != c.why {
				t.Fatalf("got %+v, want ok=%v %q", r, c.ok, c.why)
			}
		})
	}
}

// dnsServer answers a query with the rcode given.
func dnsServer(t *testing.T, rcode byte) netip.AddrPort {
	return udpServer(t, func(q []byte) []byte {
		if len(q) < 12 {
			return nil
		}
		resp := append([]byte(nil), q...)
		resp[2] |= 0x80 // QR
		resp[3] = resp[3]&0xf0 | rcode
		return resp
	})
}

func TestDNS(t *testing.T) {
	cases := []struct {
		name string
		addr netip.AddrPort
		ok   bool
		why  string
	}{
		{"NOERROR", dnsServer(t, 0), true, ""},
		{"SERVFAIL", dnsServer(t, 2), false, "DNS rcode SERVFAIL"},
		{"NXDOMAIN", dnsServer(t, 3), false, "DNS rcode NXDOMAIN"},
		{"silent", udpServer(t, func([]byte) []byte { return nil }), false, "DNS no reply"},
		{"wrong id is ignored", udpServer(t, func(q []byte) []byte {
			r := append([]byte(nil), q...)
			r[0] ^= 0xff
			r[2] |= 0x80
			return r
		}), false, "DNS no reply"},
		{"port unreachable", closedUDP(t), false, "read: connection refused (ICMP port unreachable)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &DNS{Addr: c.addr, Type: "A", Name: "www.example.test"}
			r := d.Check(probeCtx(t, 300*time.Millisecond))
			if r.OK != c.ok || r.Reason != c.why {
				t.Fatalf("got %+v, want ok=%v %q", r, c.ok, c.why)
			}
		})
	}
}

func TestDNSQueryBytes(t *testing.T) {
	q, err := DNSQuery(0xbeef, "soa", ".")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1}
	if string(q) != string(want) {
		t.Fatalf("% x", q)
	}
	q, _ = DNSQuery(1, "AAAA", "a.bc.")
	if got := q[12:]; string(got) != "\x01a\x02bc\x00\x00\x1c\x00\x01" {
		t.Fatalf("% x", got)
	}
	if binary.BigEndian.Uint16(q[4:]) != 1 {
		t.Fatal("qdcount")
	}
	for _, bad := range [][2]string{{"PTR", "x"}, {"A", "a..b"}, {"A", strings.Repeat("x", 64)}} {
		if _, err := DNSQuery(1, bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestExec(t *testing.T) {
	cases := []struct {
		name    string
		argv    []string
		dynamic bool
		want    Result
	}{
		{"exit 0", []string{"/bin/sh", "-c", "exit 0"}, false, Result{OK: true}},
		{"exit 1", []string{"/bin/sh", "-c", "exit 1"}, false, Result{Reason: "exit status 1"}},
		{"exit 7 without misc_dynamic", []string{"/bin/sh", "-c", "exit 7"}, false, Result{Reason: "exit status 7"}},
		{"misc_dynamic exit 7 → weight 5", []string{"/bin/sh", "-c", "exit 7"}, true, Result{OK: true, Dynamic: true, Weight: 5, Reason: "exit status 7"}},
		{"misc_dynamic exit 255 → weight 253", []string{"/bin/sh", "-c", "exit 255"}, true, Result{OK: true, Dynamic: true, Weight: 253, Reason: "exit status 255"}},
		{"misc_dynamic exit 0 → configured weight", []string{"/bin/sh", "-c", "exit 0"}, true, Result{OK: true, Dynamic: true, Weight: -1}},
		{"misc_dynamic exit 1 → down", []string{"/bin/sh", "-c", "exit 1"}, true, Result{Reason: "exit status 1"}},
		{"missing", []string{"/nonexistent/check"}, false, Result{Reason: "exec: no such file or directory"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &Exec{Command: c.argv, Dynamic: c.dynamic}
			if got := e.Check(probeCtx(t, 5*time.Second)); got != c.want {
				t.Fatalf("got %+v want %+v", got, c.want)
			}
		})
	}
}

// TestExecHangIsKilledWithItsGroup: a check that hangs, with a child of its own, is killed at
// the deadline, counts as a failure, and leaves no process behind.
func TestExecHangIsKilledWithItsGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	e := &Exec{Command: []string{"/bin/sh", "-c", fmt.Sprintf("sleep 30 & echo $! > %s; wait", pidfile)}}
	began := time.Now()
	r := e.Check(probeCtx(t, 300*time.Millisecond))
	if r.OK || r.Reason != "timeout, killed" {
		t.Fatal(r)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		// The grandchild is reparented and reaped by init; give it a moment to go.
		if time.Now().After(deadline) {
			t.Fatalf("child %d still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSplitCommand(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"/bin/check 1 2", []string{"/bin/check", "1", "2"}},
		{`/bin/check "a b" 'c d' e\ f`, []string{"/bin/check", "a b", "c d", "e f"}},
		{`  x  `, []string{"x"}},
		{`x ""`, []string{"x", ""}},
	}
	for _, c := range cases {
		got, err := SplitCommand(c.in)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("%q: %q %v", c.in, got, err)
		}
	}
	if _, err := SplitCommand(`x "y`); err == nil {
		t.Error("unterminated quote accepted")
	}
}
