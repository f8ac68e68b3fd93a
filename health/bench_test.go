package health

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkProbe measures one probe of each network kind against a local server: the cost the
// daemon pays per check (1000 servers checked every second = 1000 of these a second).
func BenchmarkProbe(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			buf[2] |= 0x80 // a NOERROR reply to whatever was asked
			pc.WriteTo(buf[:n], from)
		}
	}()
	dns := netip.MustParseAddrPort(pc.LocalAddr().String())
	sum := md5.Sum([]byte("ok\n"))
	for _, c := range []struct {
		name string
		c    Checker
	}{
		{"TCP", &TCP{Addr: addr}},
		{"HTTP", &HTTP{Addr: addr, URLs: []URL{{Path: "/"}}}},
		{"HTTP+digest", &HTTP{Addr: addr, URLs: []URL{{Path: "/", Digest: hex.EncodeToString(sum[:])}}}},
		{"DNS", &DNS{Addr: dns}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				r := c.c.Check(ctx)
				cancel()
				if !r.OK {
					b.Fatal(r)
				}
			}
		})
	}
}
