package health

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type harness struct {
	t      *testing.T
	clock  *fakeClock
	rec    *recorder
	e      *Engine
	checks map[string]*script
	notes  *recorder
	logs   *bytes.Buffer
}

var okR, failR = Result{OK: true}, Result{Reason: "connect: connection refused"}

// newHarness builds reals named r1..rN (weight 1 unless weights says) with one scripted checker each.
func newHarness(t *testing.T, svc Service, tm Timing) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(), rec: &recorder{}, checks: map[string]*script{}, notes: &recorder{}, logs: &bytes.Buffer{}}
	for i := range svc.Reals {
		r := &svc.Reals[i]
		if r.Key == nil {
			r.Key = r.Name
		}
		if len(r.Checks) == 0 {
			s := &script{name: r.Name, next: okR, clock: h.clock}
			h.checks[r.Name] = s
			r.Checks = []Check{{Checker: s, Timing: tm}}
		}
	}
	if svc.Key == nil {
		svc.Key = "vs"
	}
	var mu sync.Mutex
	e, err := New([]Service{svc}, h.rec, Options{
		Clock:  h.clock,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, h.logs}, nil)),
		Notify: func(argv []string) { h.notes.add("%s", strings.Join(argv, " ")) },
		Jitter: func(time.Duration) time.Duration { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (h *harness) expect(what, got, want string) {
	h.t.Helper()
	if got != want {
		h.t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func reals(names ...string) []Real {
	var rs []Real
	for _, n := range names {
		rs = append(rs, Real{Name: n, Weight: 1})
	}
	return rs
}

var tm = Timing{DelayLoop: 10 * time.Second, Timeout: 2 * time.Second, Retry: 2, DelayBeforeRetry: 3 * time.Second}

// TestEngineKillAndRestart: the window from the last pass to removal is delay_loop +
// retry×delay_before_retry (probes here fail at once, so connect_timeout adds nothing), and a
// recovered server is back one delay_loop after its first passing probe is due.
func TestEngineKillAndRestart(t *testing.T) {
	h := newHarness(t, Service{Name: "vs", Quorum: 1, Reals: reals("r1", "r2")}, tm)
	h.e.Start()
	h.expect("start", h.rec.take(), "add vs r1 1; add vs r2 1")
	h.clock.Advance(time.Second) // bootstrap: first probes pass
	h.expect("first pass", h.rec.take(), "")
	start := h.clock.Now()
	h.checks["r1"].set(failR)
	h.clock.Advance(10*time.Second + 2*3*time.Second - time.Millisecond)
	h.expect("before the window ends", h.rec.take(), "")
	h.clock.Advance(time.Millisecond)
	h.expect("at the window's end", h.rec.take(), "remove vs r1")
	if d := h.clock.Now().Sub(start); d != 16*time.Second {
		t.Fatalf("removed after %v", d)
	}
	st := h.e.Status()[0]
	if st.State() != "down" || st.LastReason != "connect: connection refused" || st.Transitions != 1 || st.Failures != 3 || st.RealAlive {
		t.Fatalf("status %+v", st)
	}
	h.checks["r1"].set(okR)
	h.clock.Advance(10 * time.Second)
	h.expect("recovered", h.rec.take(), "add vs r1 1")
	if st := h.e.Status()[0]; st.State() != "up" || st.Weight != 1 || st.Transitions != 2 {
		t.Fatalf("status %+v", st)
	}
	h.e.Stop()
}

func TestEngineInhibitKeepsServerAtWeightZero(t *testing.T) {
	rs := reals("r1")
	rs[0].Inhibit, rs[0].Weight = true, 5
	h := newHarness(t, Service{Name: "vs", Quorum: 1, Reals: rs}, tm)
	h.checks["r1"].set(failR)
	h.e.Start()
	h.expect("start", h.rec.take(), "add vs r1 5")
	h.clock.Advance(time.Second) // dead at start: one failure is enough
	h.expect("down", h.rec.take(), "weight vs r1 0")
	h.checks["r1"].set(okR)
	h.clock.Advance(10 * time.Second)
	h.expect("up", h.rec.take(), "weight vs r1 5")
	h.e.Stop()
}

func TestEngineAlpha(t *testing.T) {
	rs := reals("r1", "r2")
	h := newHarness(t, Service{Name: "vs", Quorum: 1, Reals: rs}, tm)
	// Rebuild with alpha checkers: nothing joins before its first pass.
	for i := range h.e.services[0].reals {
		r := h.e.services[0].reals[i]
		r.checks[0].cfg.Alpha = true
		r.checks[0].m = newMachine(true, tm.Retry)
		r.failed = 1
	}
	h.checks["r2"].set(failR)
	h.e.Start()
	h.expect("start", h.rec.take(), "")
	h.clock.Advance(time.Second)
	h.expect("first probes", h.rec.take(), "add vs r1 1")
	h.expect("notifies", h.notes.take(), "")
	h.e.Stop()
}

// TestEngineQuorumHysteresis walks REFERENCE §1.6 case 4: quorum 2, hysteresis 1, three servers
// of weight 1 and a sorry server.
func TestEngineQuorumHysteresis(t *testing.T) {
	svc := Service{Name: "vs", Quorum: 2, Hysteresis: 1, Reals: reals("r1", "r2", "r3"),
		Sorry: &Real{Key: "sorry", Name: "sorry", Weight: 1}, QuorumUp: []string{"qup"}, QuorumDown: []string{"qdown"}}
	t1 := tm
	t1.Retry = 0
	h := newHarness(t, svc, t1)
	h.e.Start()
	h.expect("start", h.rec.take(), "add vs r1 1; add vs r2 1; add vs r3 1")
	h.expect("start notifies", h.notes.take(), "qup") // keepalived logs "Gained quorum" at start too
	h.clock.Advance(time.Second)

	down := func(name, wantAct, wantNote string, up bool) {
		t.Helper()
		h.checks[name].set(failR)
		h.clock.Advance(10 * time.Second)
		h.expect("down "+name, h.rec.take(), wantAct)
		h.expect("notes "+name, h.notes.take(), wantNote)
		if got := h.e.Services()[0].QuorumUp; got != up {
			t.Fatalf("after %s down: quorum up %v", name, got)
		}
	}
	up := func(name, wantAct, wantNote string, quorum bool) {
		t.Helper()
		h.checks[name].set(okR)
		h.clock.Advance(10 * time.Second)
		h.expect("up "+name, h.rec.take(), wantAct)
		h.expect("notes "+name, h.notes.take(), wantNote)
		if got := h.e.Services()[0].QuorumUp; got != quorum {
			t.Fatalf("after %s up: quorum up %v", name, got)
		}
	}
	down("r1", "remove vs r1", "", true) // W=2 ≥ q−h=1
	down("r2", "remove vs r2", "", true) // W=1
	down("r3", "remove vs r3; add vs sorry 1", "qdown", false)
	up("r1", "", "", false) // W=1 < q+h=3: recorded, not pushed: the sorry server serves
	up("r2", "", "", false)
	up("r3", "remove vs sorry; add vs r1 1; add vs r2 1; add vs r3 1", "qup", true)
	if st := h.e.Services()[0]; st.SorryActive || st.LiveWeight != 3 {
		t.Fatalf("%+v", st)
	}
	if !strings.Contains(h.logs.String(), "lost quorum 2-1=1 > 0") || !strings.Contains(h.logs.String(), "gained quorum 2+1=3 <= 3") {
		t.Fatalf("log lines:\n%s", h.logs)
	}
	h.e.Stop()
}

// TestEngineSorryReplacesAliveServers: without hysteresis, losing quorum with a server still
// alive swaps it out for the sorry server; an inhibited sorry server waits at weight 0.
func TestEngineSorryReplacesAliveServers(t *testing.T) {
	svc := Service{Name: "vs", Quorum: 2, Reals: reals("r1", "r2"), Sorry: &Real{Key: "sorry", Name: "sorry", Weight: 3}, SorryInhibit: true}
	t1 := tm
	t1.Retry = 0
	h := newHarness(t, svc, t1)
	h.e.Start()
	h.expect("start", h.rec.take(), "add vs r1 1; add vs r2 1; add vs sorry 0")
	h.clock.Advance(time.Second)
	h.checks["r1"].set(failR)
	h.clock.Advance(10 * time.Second)
	h.expect("r1 down", h.rec.take(), "remove vs r1; remove vs r2; weight vs sorry 3")
	h.checks["r1"].set(okR)
	h.clock.Advance(10 * time.Second)
	h.expect("r1 up", h.rec.take(), "weight vs sorry 0; add vs r1 1; add vs r2 1")
	h.e.Stop()
}

// TestEngineQuorumDownAtStart: a service that starts without quorum (alpha) brings its sorry
// server in at once, as keepalived's "Starting with quorum down".
func TestEngineQuorumDownAtStart(t *testing.T) {
	svc := Service{Name: "vs", Quorum: 1, Sorry: &Real{Key: "sorry", Name: "sorry", Weight: 1}, Reals: reals("r1")}
	h := newHarness(t, svc, tm)
	h.e.services[0].reals[0].checks[0].cfg.Alpha = true
	h.e.services[0].reals[0].checks[0].m = newMachine(true, tm.Retry)
	h.e.services[0].reals[0].failed = 1
	h.e.Start()
	h.expect("start", h.rec.take(), "add vs sorry 1")
	h.clock.Advance(time.Second)
	h.expect("first pass", h.rec.take(), "remove vs sorry; add vs r1 1")
	h.e.Stop()
}

// TestEngineAllCheckersMustPass: one failing checker of two takes the server out; it comes
// back only when both pass.
func TestEngineAllCheckersMustPass(t *testing.T) {
	clock := newFakeClock()
	a := &script{name: "a", next: okR, clock: clock}
	b := &script{name: "b", next: okR, clock: clock}
	t1 := tm
	t1.Retry = 0
	rec := &recorder{}
	e, err := New([]Service{{Key: "vs", Name: "vs", Quorum: 1, Reals: []Real{{Key: "r1", Name: "r1", Weight: 1,
		Checks: []Check{{Checker: a, Timing: t1}, {Checker: b, Timing: t1}}}}}}, rec, Options{Clock: clock, Jitter: func(time.Duration) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	rec.take()
	clock.Advance(time.Second)
	a.set(failR)
	b.set(failR)
	clock.Advance(10 * time.Second)
	if got := rec.take(); got != "remove vs r1" {
		t.Fatal(got)
	}
	a.set(okR)
	clock.Advance(10 * time.Second)
	if got := rec.take(); got != "" {
		t.Fatalf("one of two passing re-added the server: %q", got)
	}
	b.set(okR)
	clock.Advance(10 * time.Second)
	if got := rec.take(); got != "add vs r1 1" {
		t.Fatal(got)
	}
	e.Stop()
}

// TestEngineDynamicWeight: misc_dynamic exit 7 sets weight 5, exit 0 gives back the configured weight.
func TestEngineDynamicWeight(t *testing.T) {
	rs := reals("r1")
	rs[0].Weight = 10
	h := newHarness(t, Service{Name: "vs", Quorum: 1, Reals: rs}, tm)
	h.e.Start()
	h.rec.take()
	h.checks["r1"].set(Result{OK: true, Dynamic: true, Weight: 5})
	h.clock.Advance(time.Second)
	h.expect("weight 5", h.rec.take(), "weight vs r1 5")
	h.checks["r1"].set(Result{OK: true, Dynamic: true, Weight: -1})
	h.clock.Advance(10 * time.Second)
	h.expect("weight back", h.rec.take(), "weight vs r1 10")
	h.e.Stop()
}

func TestEngineOmegaNotifiesAtStop(t *testing.T) {
	rs := reals("r1", "r2")
	rs[0].NotifyDown = []string{"down", "r1"}
	rs[0].NotifyUp = []string{"up", "r1"}
	h := newHarness(t, Service{Name: "vs", Quorum: 1, Omega: true, QuorumDown: []string{"qdown"}, Reals: rs}, tm)
	h.e.Start()
	h.clock.Advance(time.Second)
	h.checks["r1"].set(failR)
	h.clock.Advance(time.Minute)
	h.expect("notes", h.notes.take(), "down r1")
	h.checks["r1"].set(okR)
	h.clock.Advance(time.Minute)
	h.expect("notes", h.notes.take(), "up r1")
	h.e.Stop()
	h.expect("stop", h.notes.take(), "down r1; qdown")
}

// TestEngineFlapLogIsRateLimited: a server flapping every probe logs at most LogBurst lines a
// window, and the next line let through says how many were swallowed.
func TestEngineFlapLogIsRateLimited(t *testing.T) {
	t1 := tm
	t1.Retry = 0
	h := newHarness(t, Service{Name: "vs", Quorum: 0, Reals: reals("r1")}, t1)
	h.e.Start()
	h.clock.Advance(time.Second)
	for i := 0; i < 20; i++ { // 20 transitions in 200 s: a window of 60 s lets 5 lines through
		if i%2 == 0 {
			h.checks["r1"].set(failR)
		} else {
			h.checks["r1"].set(okR)
		}
		h.clock.Advance(10 * time.Second)
	}
	n := strings.Count(h.logs.String(), "health: checker ")
	if n > 4*5 || n < 5 {
		t.Fatalf("%d checker lines for 20 transitions:\n%s", n, h.logs)
	}
	if !strings.Contains(h.logs.String(), "suppressed=") || strings.Count(h.logs.String(), "suppressed=0") == strings.Count(h.logs.String(), "suppressed=") {
		t.Fatalf("no suppressed count reported:\n%s", h.logs)
	}
	if st := h.e.Status()[0]; st.Transitions != 20 {
		t.Fatalf("transitions %d", st.Transitions)
	}
	h.e.Stop()
}

func TestNewRefusesBadConfig(t *testing.T) {
	cases := []struct {
		svc  Service
		want string
	}{
		{Service{Name: "vs", Reals: []Real{{Name: "r1", Checks: []Check{{Checker: &TCP{}, Timing: Timing{Timeout: time.Second, DelayBeforeRetry: time.Second}}}}}}, "real r1: TCP_CHECK: delay_loop 0s: must be positive"},
		{Service{Name: "vs", Reals: []Real{{Name: "r1", Checks: []Check{{Checker: &TCP{}, Timing: Timing{DelayLoop: -time.Second}}}}}}, "delay_loop -1s"},
		{Service{Name: "vs", Reals: []Real{{Name: "r1", Checks: []Check{{Timing: tm}}}}}, "real r1: check 1: no checker"},
		{Service{Name: "vs", Reals: []Real{{Name: "r1", Weight: -1}}}, "real r1: weight -1"},
		{Service{Name: "vs", Quorum: -1}, "quorum -1"},
	}
	for _, c := range cases {
		_, err := New([]Service{c.svc}, &recorder{}, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

// TestEngineRealClock runs the engine on the wall clock with a real TCP probe against a port
// that refuses, so the goroutine and timer paths are exercised (with -race).
func TestEngineRealClock(t *testing.T) {
	addr := closedPort(t)
	t1 := Timing{DelayLoop: 20 * time.Millisecond, Timeout: time.Second, Retry: 0, DelayBeforeRetry: 10 * time.Millisecond}
	rec := &recorder{}
	seen := make(chan CheckStatus, 16)
	e, err := New([]Service{{Key: "vs", Name: "vs", Quorum: 1, Reals: []Real{{Key: "r1", Name: "r1", Weight: 1,
		Checks: []Check{{Checker: &TCP{Addr: addr}, Timing: t1}}}}}}, rec, Options{
		Jitter: func(time.Duration) time.Duration { return 0 },
		Observe: func(st CheckStatus, _ time.Duration) {
			select {
			case seen <- st:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	defer e.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case st := <-seen:
		if st.LastOK || st.LastReason != "connect: connection refused" || st.RealAlive || st.Weight != 0 || st.State() != "down" {
			t.Fatalf("%+v", st)
		}
	case <-ctx.Done():
		t.Fatal("no probe in 5 s")
	}
}

// TestEngineDynamicWeightResetOnFailure: a dynamic checker that fails for good drops its
// offset, so the server returns at its configured weight.
func TestEngineDynamicWeightResetOnFailure(t *testing.T) {
	rs := reals("r1")
	rs[0].Weight = 10
	t1 := tm
	t1.Retry = 0
	h := newHarness(t, Service{Name: "vs", Quorum: 1, Reals: rs}, t1)
	h.e.Start()
	h.rec.take()
	h.checks["r1"].set(Result{OK: true, Dynamic: true, Weight: 5})
	h.clock.Advance(time.Second)
	h.expect("weight 5", h.rec.take(), "weight vs r1 5")
	h.checks["r1"].set(Result{Reason: "exit status 1"})
	h.clock.Advance(10 * time.Second)
	h.expect("down", h.rec.take(), "remove vs r1")
	h.checks["r1"].set(okR)
	h.clock.Advance(10 * time.Second)
	h.expect("back at its weight", h.rec.take(), "add vs r1 10")
	h.e.Stop()
}

func TestWriteStatus(t *testing.T) {
	now := time.Unix(1000, 0)
	var b bytes.Buffer
	err := WriteStatus(&b, []CheckStatus{
		{Service: "TCP 198.18.0.1:80", Real: "198.18.1.2:80", Kind: KindHTTP, Target: "198.18.1.2:80/health", Up: false,
			LastReason: "HTTP status 503", Runs: 9, Failures: 3, Transitions: 1, LastChange: now.Add(-90 * time.Second)},
		{Service: "TCP 198.18.0.1:80", Real: "198.18.1.3:80", Kind: KindTCP, Target: "198.18.1.3:80", Up: true, LastOK: true, Weight: 1, Runs: 9, LastChange: now.Add(-time.Hour)},
		{Service: "TCP 198.18.0.1:80", Real: "198.18.1.4:80", Kind: KindTCP, Target: "198.18.1.4:80", Up: true},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := `SERVICE            REAL           KIND       TARGET                STATE     WEIGHT  LAST  REASON             SINCE   RUNS  FAILS  TRANS
TCP 198.18.0.1:80  198.18.1.2:80  HTTP_GET   198.18.1.2:80/health  down      0       fail  "HTTP status 503"  1m30s   9     3      1
TCP 198.18.0.1:80  198.18.1.3:80  TCP_CHECK  198.18.1.3:80         up        1       pass  -                  1h0m0s  9     0      0
TCP 198.18.0.1:80  198.18.1.4:80  TCP_CHECK  198.18.1.4:80         starting  0       -     -                  -       0     0      0
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
