package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/service"
)

// startServer runs a server for e on a socket in a fresh directory and
// returns the socket's path; the server stops when the test ends.
func startServer(t *testing.T, e Engine, opts ...Option) (string, *Server) {
	t.Helper()
	// Unix socket paths are short (108 bytes): use a short temp dir.
	dir, err := os.MkdirTemp("", "xvsctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "run", "xvs.sock")
	srv := NewServer(e, append([]Option{WithLogger(quietLog)}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, path) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	waitSocket(t, path)
	return path, srv
}

// withAllow replaces the peer check, so tests can play a foreign user.
func withAllow(allow func(uid uint32) bool) Option {
	return func(s *Server) { s.allow = allow }
}

var quietLog = slog.New(slog.DiscardHandler)

func waitSocket(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("server never listened on %s", path)
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSocketModes(t *testing.T) {
	path, _ := startServer(t, newFakeEngine())
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("socket mode %o, want 600", got)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("created directory mode %o, want 700", got)
	}
}

func TestApplyAndConfig(t *testing.T) {
	e := newFakeEngine()
	path, _ := startServer(t, e)
	c := dial(t, path)
	key := tcpKey("198.18.0.1", 80)
	err := c.Apply([]Change{
		{Kind: AddService, Service: tcpService("198.18.0.1", 80, "rr")},
		{Kind: AddReal, Key: key, Real: natReal("198.18.1.2", 8080, 3)},
		{Kind: AddReal, Key: key, Real: natReal("198.18.1.3", 8080, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 1 || len(cfg.Services[0].Reals) != 2 || cfg.Services[0].Reals[0].Weight != 3 {
		t.Fatalf("config after apply: %+v", cfg)
	}
	if cfg.Services[0].Scheduler != "rr" || cfg.Services[0].Addr != mustAddr("198.18.0.1") {
		t.Errorf("service round trip: %+v", cfg.Services[0])
	}
}

func TestApplyIsAllOrNothing(t *testing.T) {
	e := newFakeEngine()
	path, _ := startServer(t, e)
	c := dial(t, path)
	key := tcpKey("198.18.0.1", 80)
	err := c.Apply([]Change{
		{Kind: AddService, Service: tcpService("198.18.0.1", 80, "rr")},
		{Kind: AddReal, Key: key, Real: natReal("198.18.1.2", 80, 1)},
		{Kind: AddReal, Key: key, Real: natReal("198.18.1.2", 80, 1)}, // duplicate
	})
	var be *BatchError
	if !errors.As(err, &be) || be.Index != 2 {
		t.Fatalf("error %v, want a BatchError at index 2", err)
	}
	if !errors.Is(err, service.ErrDestExists) || err.Error() != "Destination already exists" {
		t.Errorf("error %q does not carry ipvsadm's words", err)
	}
	if cfg := e.Config(); len(cfg.Services) != 0 {
		t.Errorf("failed batch left %d services", len(cfg.Services))
	}
}

func TestErrorsCarryIpvsadmWords(t *testing.T) {
	path, _ := startServer(t, newFakeEngine())
	c := dial(t, path)
	key := tcpKey("198.18.0.9", 80)
	tests := []struct {
		name    string
		changes []Change
		want    error
		msg     string
	}{
		{"delete missing service", []Change{{Kind: DeleteService, Key: key}}, service.ErrNoService, "No such service"},
		{"real of missing service", []Change{{Kind: AddReal, Key: key, Real: natReal("198.18.1.2", 80, 1)}}, service.ErrServiceUndef, "Service not defined"},
		{"edit missing service", []Change{{Kind: EditService, Service: tcpService("198.18.0.9", 80, "rr")}}, service.ErrNoService, "No such service"},
		{"bad change", []Change{{Kind: "frobnicate"}}, ErrBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Apply(tt.changes)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("message %q, want %q", err.Error(), tt.msg)
			}
		})
	}
	if err := c.ZeroStats(&key); !errors.Is(err, service.ErrNoService) {
		t.Errorf("zero of a missing service: %v", err)
	}
}

func TestStatsTimeoutsZero(t *testing.T) {
	e := newFakeEngine()
	e.stats = Stats{
		Services: []ServiceStats{{Key: tcpKey("198.18.0.1", 80), Counters: Counters{Conns: 7, InBytes: 1 << 40}}},
		Table:    TableStats{Conns: 3, Capacity: 4096},
		Drops:    []Drop{{Reason: "no-service", Count: 2}},
	}
	path, _ := startServer(t, e)
	c := dial(t, path)
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Services[0].Counters.InBytes != 1<<40 || st.Table.Capacity != 4096 || service.DropCount(st.Drops, "", "no-service") != 2 {
		t.Errorf("stats round trip: %+v", st)
	}
	to, err := c.Timeouts()
	if err != nil || to.TCP != 900*time.Second {
		t.Fatalf("timeouts %+v, %v", to, err)
	}
	if err := c.SetTimeouts(Timeouts{UDP: 60 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if to, _ := c.Timeouts(); to.UDP != 60*time.Second || to.TCP != 900*time.Second {
		t.Errorf("after set: %+v", to)
	}
	if err := c.SetTimeouts(Timeouts{TCP: -1}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("negative timeout: %v", err)
	}
	if err := c.ZeroStats(nil); err != nil {
		t.Fatal(err)
	}
	if len(e.zeroed) != 1 || e.zeroed[0] != nil {
		t.Errorf("zeroed %v", e.zeroed)
	}
}

func TestConnsPaging(t *testing.T) {
	e := newFakeEngine()
	for i := range 10000 {
		e.conns = append(e.conns, Conn{
			Proto: service.TCP, State: "ESTABLISHED", Expires: 900 * time.Second,
			Client:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i / 250), byte(i % 250)}), uint16(10000+i)),
			Virtual: netip.MustParseAddrPort("198.18.0.1:80"), Real: netip.MustParseAddrPort("198.18.1.2:80"),
		})
	}
	path, _ := startServer(t, e)
	c := dial(t, path)
	page, next, err := c.Conns(0, 100)
	if err != nil || len(page) != 100 || next != 100 {
		t.Fatalf("first page: %d entries, next %d, %v", len(page), next, err)
	}
	all, err := c.AllConns()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(e.conns) || all[9999].Client != e.conns[9999].Client {
		t.Errorf("AllConns returned %d entries", len(all))
	}
}

func TestReload(t *testing.T) {
	path, _ := startServer(t, newFakeEngine())
	if err := dial(t, path).Reload(); !errors.Is(err, ErrNoReload) {
		t.Errorf("reload without hook: %v", err)
	}
	calls := 0
	path2, _ := startServer(t, newFakeEngine(), WithReload(func() error {
		calls++
		if calls == 2 {
			return errors.New("config.yaml:3: services[0].port: bad port")
		}
		return nil
	}))
	c := dial(t, path2)
	if err := c.Reload(); err != nil || calls != 1 {
		t.Fatalf("reload: %v, calls %d", err, calls)
	}
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), "bad port") {
		t.Errorf("failed reload: %v", err)
	}
}

func TestPermissionDenied(t *testing.T) {
	path, _ := startServer(t, newFakeEngine(), withAllow(func(uint32) bool { return false }))
	c := dial(t, path)
	_, err := c.Config()
	if !errors.Is(err, ErrPermission) || err.Error() != "Permission denied (you must be root)" {
		t.Fatalf("error %v, want ipvsadm's permission message", err)
	}
}

func TestPeerCheckSeesOwnUID(t *testing.T) {
	var mu sync.Mutex
	var seen []uint32
	path, _ := startServer(t, newFakeEngine(), withAllow(func(uid uint32) bool {
		mu.Lock()
		seen = append(seen, uid)
		mu.Unlock()
		return true
	}))
	if _, err := dial(t, path).Timeouts(); err != nil {
		t.Fatal(err)
	}
	// waitSocket's probe and the client: every peer is this process. Each
	// connection is served by a goroutine of its own, so the probe's check
	// may run after the client's request was answered: wait for it.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= 2 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 {
		t.Fatalf("peer check ran %d times, want one per connection", len(seen))
	}
	for _, uid := range seen {
		if uid != uint32(os.Getuid()) {
			t.Errorf("peer uid %d, want %d", uid, os.Getuid())
		}
	}
}

func TestDialErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Dial(filepath.Join(dir, "nope.sock"))
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("missing socket: %v", err)
	}
	want := "cannot reach the xvs daemon at " + filepath.Join(dir, "nope.sock") + " (is it running? start it with: xvs run -i IFACE)"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	// A stale socket file nobody listens on.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := Dial(stale); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stale socket: %v", err)
	}
}

func TestServeReplacesStaleSocketOnly(t *testing.T) {
	dir, err := os.MkdirTemp("", "xvsctl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	// Someone is listening: Serve must refuse.
	if err := NewServer(newFakeEngine()).Serve(context.Background(), path); err == nil || !strings.Contains(err.Error(), "another daemon") {
		t.Errorf("Serve over a live socket: %v", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	// Stale: Serve replaces it.
	startOn(t, path)
	// A regular file is not ours to remove.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if err := NewServer(newFakeEngine()).Serve(context.Background(), file); err == nil {
		t.Error("Serve replaced a regular file")
	}
}

func startOn(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(newFakeEngine()).Serve(ctx, path) }()
	waitSocket(t, path)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err == nil {
		t.Error("socket left behind after shutdown")
	}
}

func TestRawProtocol(t *testing.T) {
	path, _ := startServer(t, newFakeEngine())
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	exchange := func(line string) Response {
		t.Helper()
		if _, err := conn.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		out, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var resp Response
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("answer %q: %v", out, err)
		}
		return resp
	}
	if resp := exchange(`{"op":"timeouts"}`); resp.Timeouts == nil || resp.Timeouts.TCPFin != 120*time.Second {
		t.Errorf("timeouts answer %+v", resp)
	}
	if resp := exchange(`not json`); resp.Error == nil || resp.Error.Code != CodeBadRequest {
		t.Errorf("garbage answer %+v", resp)
	}
	if resp := exchange(`{"op":"launch-missiles"}`); resp.Error == nil || resp.Error.Code != CodeBadRequest {
		t.Errorf("unknown op answer %+v", resp)
	}
	resp := exchange(`{"op":"apply","changes":[{"kind":"add-service","service":{"Proto":6,"Addr":"198.18.0.1","Port":80}},{"kind":"delete-service","key":{"Proto":6,"Addr":"198.18.0.2","Port":80}}]}`)
	if resp.Error == nil || resp.Error.Code != CodeNoService || resp.Error.Change != 2 || resp.Error.Message != "No such service" {
		t.Errorf("failed apply answer %+v", resp.Error)
	}
	// The connection stays usable after errors.
	if resp := exchange(`{"op":"config"}`); resp.Config == nil || len(resp.Config.Services) != 0 {
		t.Errorf("config answer %+v", resp)
	}
}

func TestConcurrentClients(t *testing.T) {
	e := newFakeEngine()
	path, _ := startServer(t, e)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			err = c.Apply([]Change{{Kind: AddService, Service: tcpService(fmt.Sprintf("198.18.0.%d", i+1), 80, "wlc")}})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(e.Config().Services); n != 16 {
		t.Errorf("%d services after 16 concurrent adds", n)
	}
}

func TestShutdownClosesIdleClients(t *testing.T) {
	dir, err := os.MkdirTemp("", "xvsctl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(newFakeEngine()).Serve(ctx, path) }()
	waitSocket(t, path)
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Timeouts(); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve waited for an idle client")
	}
	if _, err := c.Timeouts(); err == nil {
		t.Error("client still served after shutdown")
	}
}
