package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testLimits are small enough that a test reaches every limit quickly.
var testLimits = limits{
	maxConns:         8,
	evictAfter:       50 * time.Millisecond,
	maxActive:        2,
	queueWait:        5 * time.Second,
	smallLine:        1 << 10,
	maxLine:          64 << 10,
	lineTimeout:      300 * time.Millisecond,
	largeLineTimeout: 2 * time.Second,
	idleTimeout:      2 * time.Second,
	writeTimeout:     2 * time.Second,
	largeKeep:        100 * time.Millisecond,
}

// slowEngine makes every timeouts request take a while, so requests pile up.
type slowEngine struct {
	*fakeEngine
	delay time.Duration
}

func (e slowEngine) Timeouts() Timeouts {
	time.Sleep(e.delay)
	return e.fakeEngine.Timeouts()
}

// rawConn is a client that speaks the protocol by hand.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func rawDial(t *testing.T, path string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c, bufio.NewReader(c)}
}

// answer reads one answer line within 5 s.
func (c *rawConn) answer() (Response, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return Response{}, err
	}
	var resp Response
	err = json.Unmarshal(line, &resp)
	return resp, err
}

// closed reports whether the server closed c within d.
func (c *rawConn) closed(d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.r)
	// EOF (nil from io.Copy), or ECONNRESET when the server closed with
	// some of what the client sent still unread.
	return err == nil || errors.Is(err, syscall.ECONNRESET)
}

// TestLineLimits: lines up to the limit are read (also across the small
// buffer and pipelined), longer ones are refused and the connection closed,
// and every buffer is given back once the client is idle.
func TestLineLimits(t *testing.T) {
	pad := func(n int) string {
		// {"op":"timeouts","pad":"xx…x"} of exactly n bytes: the
		// server ignores fields it does not know.
		base := `{"op":"timeouts","pad":""}`
		return base[:len(base)-2] + strings.Repeat("x", n-len(base)) + `"}`
	}
	tests := []struct {
		name    string
		send    string
		answers int
		refused bool
	}{
		{"short", `{"op":"timeouts"}` + "\n", 1, false},
		{"exactly the small buffer", pad(testLimits.smallLine) + "\n", 1, false},
		{"long", pad(40<<10) + "\n", 1, false},
		{"exactly the limit", pad(testLimits.maxLine) + "\n", 1, false},
		{"one over the limit", pad(testLimits.maxLine+1) + "\n", 0, true},
		{"endless line", strings.Repeat("x", 4*testLimits.maxLine), 0, true},
		{"pipelined across buffers", strings.Repeat(`{"op":"timeouts"}`+"\n"+pad(3000)+"\n", 20), 40, false},
		{"long then short in one write", pad(10<<10) + "\n" + `{"op":"timeouts"}` + "\n", 2, false},
		{"last line without newline", `{"op":"timeouts"}`, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, srv := startServer(t, newFakeEngine(), withLimits(testLimits))
			c := rawDial(t, path)
			go func() {
				c.Write([]byte(tt.send))
				if !strings.HasSuffix(tt.send, "\n") {
					c.Conn.(*net.UnixConn).CloseWrite()
				}
			}()
			for i := range tt.answers {
				resp, err := c.answer()
				if err != nil {
					t.Fatalf("answer %d: %v", i+1, err)
				}
				if resp.Error != nil || resp.Timeouts == nil {
					t.Fatalf("answer %d: %+v", i+1, resp.Error)
				}
			}
			if tt.refused {
				resp, err := c.answer()
				if err != nil || resp.Error == nil || resp.Error.Code != CodeBadRequest || !strings.Contains(resp.Error.Message, "longer than") {
					t.Fatalf("want a bad-request answer, got %+v, %v", resp.Error, err)
				}
				if !c.closed(time.Second) {
					t.Error("connection still open after an over-long line")
				}
			}
			waitFor(t, "line buffers given back", func() bool { return srv.lineBytes.Load() == 0 })
		})
	}
}

// TestSlowClients: a client that starts a line and stalls, or never sends
// anything, is closed after its timeout; others are served meanwhile.
func TestSlowClients(t *testing.T) {
	tests := []struct {
		name  string
		send  string
		after time.Duration // when the server must have closed it
	}{
		{"half a line", `{"op":"time`, testLimits.lineTimeout},
		{"half a long line", strings.Repeat(" ", 3*testLimits.smallLine), testLimits.largeLineTimeout},
		{"nothing at all", "", testLimits.idleTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, srv := startServer(t, newFakeEngine(), withLimits(testLimits))
			c := rawDial(t, path)
			if _, err := c.Write([]byte(tt.send)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := dial(t, path).Timeouts(); err != nil {
				t.Fatalf("another client not served: %v", err)
			}
			if !c.closed(tt.after + 2*time.Second) {
				t.Fatalf("stalled client still open after %v", time.Since(start))
			}
			if d := time.Since(start); d < tt.after-50*time.Millisecond {
				t.Errorf("closed after %v, before its timeout %v", d, tt.after)
			}
			waitFor(t, "line buffers given back", func() bool { return srv.lineBytes.Load() == 0 })
		})
	}
}

// TestBurstQueues: far more clients than handler slots and open
// connections, each with a slow request: every one is answered.
func TestBurstQueues(t *testing.T) {
	lim := testLimits
	lim.maxConns = 4
	lim.evictAfter = time.Hour // only the queue and the client's retry help
	// A loaded machine (-race, two cores) may starve a client between its
	// dial and its request for longer than the test's short idle timeout.
	lim.idleTimeout = time.Minute
	path, _ := startServer(t, slowEngine{newFakeEngine(), 20 * time.Millisecond}, withLimits(lim))
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(path)
			if err != nil {
				t.Error(err)
				failed.Add(1)
				return
			}
			defer c.Close()
			for range 3 {
				if _, err := c.Timeouts(); err != nil {
					t.Error(err)
					failed.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of 50 clients failed", n)
	}
}

// TestConnectionCap: at the cap the longest-idle connection makes room; when
// none has been idle long enough, the newcomer is told busy (and its client
// gives up after its bound).
func TestConnectionCap(t *testing.T) {
	tests := []struct {
		name       string
		evictAfter time.Duration
		wantBusy   bool
	}{
		{"idle ones are closed for room", 50 * time.Millisecond, false},
		{"young ones are kept, newcomer busy", time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := testLimits
			lim.evictAfter = tt.evictAfter
			path, srv := startServer(t, newFakeEngine(), withLimits(lim))
			// startServer's probe is accepted before a first client
			// is answered (accept is in order); wait until both are
			// gone so the count below is the idle clients' alone.
			first := rawDial(t, path)
			first.Write([]byte(`{"op":"timeouts"}` + "\n"))
			if _, err := first.answer(); err != nil {
				t.Fatal(err)
			}
			first.Close()
			waitFor(t, "probe and first client gone", func() bool {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				return len(srv.conns) == 0
			})
			// Each idle client is answered once, so it is surely
			// admitted.
			idle := make([]*rawConn, lim.maxConns)
			for i := range idle {
				idle[i] = rawDial(t, path)
				idle[i].Write([]byte(`{"op":"timeouts"}` + "\n"))
				if _, err := idle[i].answer(); err != nil {
					t.Fatal(err)
				}
				// Its connection waits for it again before the next
				// one starts, so idle[0] has surely waited longest.
				waitFor(t, "connection idle again", func() bool {
					srv.mu.Lock()
					defer srv.mu.Unlock()
					n := 0
					for cc := range srv.conns {
						if cc.waiting {
							n++
						}
					}
					return n == i+1
				})
			}
			waitFor(t, "all connections admitted", func() bool {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				return len(srv.conns) == lim.maxConns
			})
			time.Sleep(100 * time.Millisecond) // past evictAfter in the first case
			c := dial(t, path)
			c.busyWait = 300 * time.Millisecond
			_, err := c.Timeouts()
			if tt.wantBusy {
				if !errors.Is(err, ErrBusy) {
					t.Fatalf("got %v, want ErrBusy", err)
				}
				// Once one leaves, the retrying client gets in.
				idle[0].Close()
				c2 := dial(t, path)
				if _, err := c2.Timeouts(); err != nil {
					t.Fatalf("after one left: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !idle[0].closed(time.Second) {
				t.Error("the longest-idle connection was not the one closed")
			}
		})
	}
}

// TestQueueWaitBound: a request that waits longer than queueWait for a
// handler is answered busy, not run, on a connection that stays usable.
func TestQueueWaitBound(t *testing.T) {
	lim := testLimits
	lim.maxActive = 1
	lim.queueWait = 100 * time.Millisecond
	e := slowEngine{newFakeEngine(), 500 * time.Millisecond}
	path, _ := startServer(t, e, withLimits(lim))
	slow := rawDial(t, path)
	slow.Write([]byte(`{"op":"timeouts"}` + "\n"))
	time.Sleep(50 * time.Millisecond)
	c := rawDial(t, path)
	c.Write([]byte(`{"op":"apply","changes":[{"kind":"add-service","service":{"Proto":6,"Addr":"198.18.0.1","Port":80}}]}` + "\n"))
	resp, err := c.answer()
	if err != nil || resp.Error == nil || resp.Error.Code != CodeBusy {
		t.Fatalf("got %+v, %v; want busy", resp.Error, err)
	}
	if n := len(e.Config().Services); n != 0 {
		t.Fatalf("a request answered busy was run: %d services", n)
	}
	if resp, err := slow.answer(); err != nil || resp.Timeouts == nil {
		t.Fatalf("the slow request: %+v, %v", resp, err)
	}
	c.Write([]byte(`{"op":"config"}` + "\n"))
	if resp, err := c.answer(); err != nil || resp.Error != nil {
		t.Fatalf("after busy: %+v, %v", resp.Error, err)
	}
}

// flakyListener fails its first accepts with errs, then accepts for real.
type flakyListener struct {
	*net.UnixListener
	mu   sync.Mutex
	errs []error
}

func (l *flakyListener) AcceptUnix() (*net.UnixConn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", err)}
	}
	l.mu.Unlock()
	return l.UnixListener.AcceptUnix()
}

// countHandler counts log records at or above Warn.
type countHandler struct {
	slog.Handler
	n *atomic.Int32
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}

// TestAcceptErrorsRetried: running out of descriptors and the like is logged
// (once, not per failure) and retried; the server keeps serving.
func TestAcceptErrorsRetried(t *testing.T) {
	dir, err := os.MkdirTemp("", "xvsctl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")
	ul, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for range 2 {
		errs = append(errs, syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS)
	}
	l := &flakyListener{UnixListener: ul, errs: errs}
	var warns atomic.Int32
	srv := NewServer(newFakeEngine(), WithLogger(slog.New(countHandler{slog.DiscardHandler, &warns})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.serveListener(ctx, l) }()
	start := time.Now()
	if _, err := dial(t, path).Timeouts(); err != nil {
		t.Fatalf("not served after accept errors: %v", err)
	}
	// Eight failures back off 5+10+…+640 ms.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("served only after %v", d)
	}
	if n := warns.Load(); n < 1 || n > 1+int32(time.Since(start)/rateLogEvery) {
		t.Errorf("%d warnings for 8 accept errors in %v", n, time.Since(start).Round(time.Millisecond))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestHostileClientsBounded: many clients sending long lines slowly, others
// idle, while a legitimate client is served: the line buffers held never
// exceed the documented bound and drop to zero when they leave.
func TestHostileClientsBounded(t *testing.T) {
	lim := testLimits
	lim.lineTimeout = 2 * time.Second
	path, srv := startServer(t, newFakeEngine(), withLimits(lim))
	bound := int64(lim.maxConns*lim.smallLine) + int64(lim.maxLine+1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 3 * lim.maxConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", path)
			if err != nil {
				return
			}
			defer c.Close()
			chunk := []byte(strings.Repeat("y", 512))
			if i%2 == 0 {
				chunk = []byte(fmt.Sprintf(`{"op":"timeouts","pad":"%s`, strings.Repeat("z", 2000)))
			}
			for ctx.Err() == nil {
				c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := c.Write(chunk); err != nil && !isTimeout(err) {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	var peak int64
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		peak = max(peak, srv.lineBytes.Load())
		if n := srv.lineBytes.Load(); n > bound {
			t.Fatalf("%d bytes of line buffers held, bound %d", n, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := dial(t, path)
	c.busyWait = 5 * time.Second
	if _, err := c.Timeouts(); err != nil {
		t.Errorf("legitimate client during the flood: %v", err)
	}
	cancel()
	wg.Wait()
	waitFor(t, "line buffers given back", func() bool { return srv.lineBytes.Load() == 0 })
	t.Logf("peak line buffers %d bytes (bound %d)", peak, bound)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting: %s", what)
}
