package main

// These tests run labserver's server and clients in-process on loopback:
// no namespaces, no root.

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// startServer runs a server called name on loopback and returns it.
func startServer(t *testing.T, name string, httpAddrs, udpAddrs []string) *server {
	t.Helper()
	s, err := listen(name, httpAddrs, udpAddrs)
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.close)
	return s
}

func TestGet(t *testing.T) {
	s := startServer(t, "r7", []string{"127.0.0.1:0", "127.0.0.1:0"}, nil)
	for _, a := range s.httpAddrs() {
		sum := get(t.Context(), "http://"+a+"/", 20, 4, 0, 5*time.Second)
		if sum.Requests != 20 || sum.OK != 20 || sum.Failures != 0 || sum.PerServer["r7"] != 20 {
			t.Errorf("%s: %+v", a, sum)
		}
		if sum.P50 <= 0 || sum.P99 < sum.P50 {
			t.Errorf("%s: latencies p50 %v p99 %v", a, sum.P50, sum.P99)
		}
	}
}

func TestGetFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	sum := get(t.Context(), "http://"+addr+"/", 5, 2, 0, time.Second)
	if sum.Failures != 5 || sum.OK != 0 || len(sum.Errors) == 0 || len(sum.PerServer) != 0 {
		t.Errorf("closed port: %+v", sum)
	}

	// A non-200 answer is a failure too.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	sum = get(t.Context(), srv.URL, 3, 1, 0, time.Second)
	if sum.Failures != 3 || len(sum.Errors) != 1 || !strings.Contains(sum.Errors[0], "503") {
		t.Errorf("503: %+v", sum)
	}
}

func TestBlob(t *testing.T) {
	s := startServer(t, "r2", []string{"127.0.0.1:0"}, nil)
	base := "http://" + s.httpAddrs()[0]
	for _, n := range []int64{0, 1, 300_001} {
		r := blob(t.Context(), base+"/blob?size="+strconv.FormatInt(n, 10), 10*time.Second)
		if !r.OK || r.Bytes != n || r.Server != "r2" || r.SHA256 != testnet.BlobSHA256(n) || r.Error != "" {
			t.Errorf("size %d: %+v", n, r)
		}
	}
	for _, q := range []string{"size=-1", "size=x", "size=" + strconv.Itoa(testnet.MaxBlob+1)} {
		resp, err := http.Get(base + "/blob?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/blob?%s: status %d, want 400", q, resp.StatusCode)
		}
	}

	// A server sending other bytes, or too few, is caught.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if r.URL.Path == "/short" {
			n--
		}
		_, _ = io.WriteString(w, strings.Repeat("x", n))
	}))
	defer bad.Close()
	for _, path := range []string{"/blob", "/short"} {
		r := blob(t.Context(), bad.URL+path+"?size=1000", 5*time.Second)
		if r.OK || r.Error == "" {
			t.Errorf("%s from a bad server: %+v", path, r)
		}
	}
}

func TestSleep(t *testing.T) {
	s := startServer(t, "r3", []string{"127.0.0.1:0"}, nil)
	start := time.Now()
	sum := get(t.Context(), "http://"+s.httpAddrs()[0]+"/sleep?d=100ms", 1, 1, 0, 5*time.Second)
	if sum.PerServer["r3"] != 1 || time.Since(start) < 100*time.Millisecond {
		t.Errorf("sleep: %+v after %v", sum, time.Since(start))
	}
}

// TestUDPAnswersFromDestination sends to 127.0.0.2 while the server socket
// is bound to the wildcard: the answer must come from 127.0.0.2 (the
// connected client drops anything else), as a DR real server must answer
// from the VIP on lo.
func TestUDPAnswersFromDestination(t *testing.T) {
	s := startServer(t, "r4", nil, []string{"0.0.0.0:0"})
	_, port, err := net.SplitHostPort(s.udpAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, each := range []bool{false, true} {
		sum := udpClient("127.0.0.2:"+port, 10, time.Second, each)
		if sum.OK != 10 || sum.PerServer["r4"] != 10 {
			t.Errorf("new-socket-each=%v: %+v", each, sum)
		}
	}
}

func TestUDPWildcardBothFamilies(t *testing.T) {
	conns, err := listenUDP(":0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if len(conns) != 2 {
		t.Fatalf("wildcard gave %d sockets, want 2", len(conns))
	}
	for i, want := range []bool{false, true} {
		if got := conns[i].LocalAddr().(*net.UDPAddr).IP.To4() == nil; got != want {
			t.Errorf("socket %d (%s): ipv6 %v, want %v", i, conns[i].LocalAddr(), got, want)
		}
	}
}

func TestUDPTimeout(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // a socket that never answers
	sum := udpClient(c.LocalAddr().String(), 2, 50*time.Millisecond, false)
	if sum.Failures != 2 || sum.OK != 0 {
		t.Errorf("silent server: %+v", sum)
	}
}

func TestPercentile(t *testing.T) {
	d := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		in   []time.Duration
		p    int
		want time.Duration
	}{
		{nil, 50, 0},
		{d(5), 50, 5 * time.Millisecond},
		{d(5), 99, 5 * time.Millisecond},
		{d(1, 2), 50, time.Millisecond},
		{d(1, 2, 3), 50, 2 * time.Millisecond},
		{d(hundred...), 50, 50 * time.Millisecond},
		{d(hundred...), 99, 99 * time.Millisecond},
		{d(hundred...), 100, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("p%d of %v: %v, want %v", tc.p, tc.in, got, tc.want)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := splitList(" :80, ,:8080,")
	if strings.Join(got, "|") != ":80|:8080" {
		t.Errorf("splitList: %q", got)
	}
	if len(splitList("")) != 0 {
		t.Error("empty list not empty")
	}
}

// TestBlobs: downloads at once, each paced by -rate, all intact; a paced
// download lasts size/rate and its longest wait for data is noted.
func TestBlobs(t *testing.T) {
	s := startServer(t, "r1", []string{"127.0.0.1:0"}, nil)
	u := "http://" + s.httpAddrs()[0] + "/blob?size=300000"
	start := time.Now()
	rs := blobs(t.Context(), u, 3, 1_000_000, 10*time.Second)
	took := time.Since(start)
	if len(rs) != 3 {
		t.Fatalf("%d results, want 3", len(rs))
	}
	for i, r := range rs {
		if !r.OK || r.Bytes != 300000 || r.SHA256 != testnet.BlobSHA256(300000) || r.Server != "r1" {
			t.Errorf("download %d: %+v", i, r)
		}
		if r.MaxGap <= 0 || r.MaxGap > took || r.GapAt.Before(start) {
			t.Errorf("download %d: max gap %v at %v (ran %v from %v)", i, r.MaxGap, r.GapAt, took, start)
		}
	}
	// 300 kB at 1 MB/s: 0.3 s at least, however fast the loopback is.
	if took < 250*time.Millisecond {
		t.Errorf("3 paced downloads took %v, want about 0.3 s", took)
	}
}

// TestUDPPaced: -interval spaces the sends, so n datagrams take at least
// (n-1) intervals, all answered.
func TestUDPPaced(t *testing.T) {
	s := startServer(t, "r5", nil, []string{"127.0.0.1:0"})
	start := time.Now()
	sum := udpPaced(s.udpAddrs()[0], 5, time.Second, false, 20*time.Millisecond)
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Errorf("5 datagrams 20 ms apart took %v", took)
	}
	if sum.OK != 5 || sum.PerServer["r5"] != 5 {
		t.Errorf("paced: %+v", sum)
	}
}
