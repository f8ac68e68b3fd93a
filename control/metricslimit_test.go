package control

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCapListener: floods of connections that hold a slot without a request
// in flight — silent, keep-alive after one scrape, trickling headers — never
// hold more than the cap open, and a real scrape still gets through.
func TestCapListener(t *testing.T) {
	const capN = 4
	tests := []struct {
		name string
		open func(c net.Conn)
	}{
		{"silent", func(net.Conn) {}},
		{"keep-alive after a scrape", func(c net.Conn) {
			io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}},
		{"trickled headers", func(c net.Conn) { io.WriteString(c, "GET /metrics HTTP/1.1\r\nX-A: ") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cl := newCapListener(inner, capN)
			srv := &http.Server{
				Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }),
				ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, ConnState: cl.track,
			}
			go srv.Serve(cl)
			defer srv.Close()
			addr := inner.Addr().String()

			var mu sync.Mutex
			var flood []net.Conn
			defer func() {
				mu.Lock()
				for _, c := range flood {
					c.Close()
				}
				mu.Unlock()
			}()
			var peak int
			for range 10 * capN {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				flood = append(flood, c)
				mu.Unlock()
				tt.open(c)
				peak = max(peak, cl.open())
			}
			client := &http.Client{Timeout: 3 * time.Second}
			start := time.Now()
			resp, err := client.Get("http://" + addr + "/")
			if err != nil {
				t.Fatalf("a scrape during the flood: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) != "ok" {
				t.Errorf("answer %q", b)
			}
			peak = max(peak, cl.open())
			// Evicted connections count until their goroutine closed
			// them: a quarter more (at least one) may be open.
			if bound := capN + max(1, capN/4); peak > bound {
				t.Errorf("%d connections open at once, cap %d (bound %d)", peak, capN, bound)
			}
			t.Logf("scrape answered in %v; at most %d open", time.Since(start).Round(time.Millisecond), peak)
		})
	}
}

// TestCapListenerWaitsForBusy: when every connection has a request in
// flight, accepting waits until one ends (nothing is closed mid-request).
func TestCapListenerWaitsForBusy(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := newCapListener(inner, 1)
	release := make(chan struct{})
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				<-release
			}
			io.WriteString(w, "ok")
		}),
		ConnState: cl.track,
	}
	go srv.Serve(cl)
	defer srv.Close()
	url := "http://" + inner.Addr().String()
	slow := make(chan error, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		slow <- err
	}()
	for cl.open() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the slow request is in flight
	fast := make(chan error, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url + "/fast")
		if err == nil {
			resp.Body.Close()
		}
		fast <- err
	}()
	select {
	case err := <-fast:
		t.Fatalf("second request served past the cap of 1 (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-slow; err != nil {
		t.Errorf("slow request: %v", err)
	}
	if err := <-fast; err != nil {
		t.Errorf("waiting request: %v", err)
	}
}
