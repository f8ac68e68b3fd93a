package health

import (
	"fmt"
	"testing"
	"time"
)

// svcWith builds the service a reload test uses: reals with the given checkers.
func svcWith(rs ...Real) Service { return Service{Key: "vs", Name: "vs", Quorum: 1, Reals: rs} }

func realWith(name string, w int, inhibit bool, checks ...Checker) Real {
	t1 := tm
	t1.Retry = 0
	r := Real{Key: name, Name: name, Weight: w, Inhibit: inhibit}
	for _, c := range checks {
		r.Checks = append(r.Checks, Check{Checker: c, Timing: t1})
	}
	return r
}

func pool(e *Engine) string { return fmt.Sprint(e.Pool("vs")) }

func TestReloadKeepsState(t *testing.T) {
	clock := newFakeClock()
	a := &script{name: "a", next: okR, clock: clock}
	b := &script{name: "b", next: failR, clock: clock}
	rec := &recorder{}
	e, err := New([]Service{svcWith(realWith("r1", 1, false, a), realWith("r2", 1, true, b))}, rec,
		Options{Clock: clock, Jitter: func(time.Duration) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	clock.Advance(time.Second)
	if got := rec.take(); got != "add vs r1 1; add vs r2 1; weight vs r2 0" {
		t.Fatal(got)
	}
	if got := pool(e); got != "[{r1 1} {r2 0}]" {
		t.Fatal(got)
	}

	// The same set again: nothing moves, the failed server stays out, no probe is re-armed early.
	runs := len(a.runs)
	if err := e.Reload([]Service{svcWith(realWith("r1", 1, false, a), realWith("r2", 1, true, b))}); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); got != "" {
		t.Fatalf("same config moved the pool: %q", got)
	}
	clock.Advance(time.Second)
	if len(a.runs) != runs {
		t.Fatal("a kept checker was re-armed by the reload")
	}
	if st := e.Status(); st[1].State() != "down" || st[1].Transitions != 1 || st[0].Runs != 1 {
		t.Fatalf("status lost: %+v", st)
	}

	// r1's weight changes, r2 goes (removed although inhibited), r3 comes.
	c := &script{name: "c", next: okR, clock: clock}
	if err := e.Reload([]Service{svcWith(realWith("r1", 4, false, a), realWith("r3", 2, false, c))}); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); got != "weight vs r1 4; add vs r3 2; remove vs r2" {
		t.Fatal(got)
	}
	if got := pool(e); got != "[{r1 4} {r3 2}]" {
		t.Fatal(got)
	}
	bRuns := len(b.runs)
	clock.Advance(30 * time.Second)
	if len(b.runs) != bRuns {
		t.Fatal("a dropped checker still runs")
	}
	if len(c.runs) == 0 {
		t.Fatal("a new checker never ran")
	}

	// A bad set is refused and changes nothing.
	bad := svcWith(realWith("r1", -1, false, a))
	if err := e.Reload([]Service{bad}); err == nil {
		t.Fatal("bad config accepted")
	}
	if got := pool(e); got != "[{r1 4} {r3 2}]" {
		t.Fatal(got)
	}
	e.Stop()
}

// TestReloadNewAlphaCheckerOnFailingServer: a checker added to a server that is failing starts
// down under alpha, so the server does not come back before it passed.
func TestReloadNewAlphaCheckerOnFailingServer(t *testing.T) {
	clock := newFakeClock()
	a := &script{name: "a", next: failR, clock: clock}
	rec := &recorder{}
	e, _ := New([]Service{svcWith(realWith("r1", 1, false, a))}, rec, Options{Clock: clock, Jitter: func(time.Duration) time.Duration { return 0 }})
	e.Start()
	clock.Advance(time.Second)
	rec.take()
	a.set(okR)
	n := &script{name: "n", next: failR, clock: clock}
	r := realWith("r1", 1, false, a, n)
	r.Checks[1].Alpha = true
	if err := e.Reload([]Service{svcWith(r)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	if got := rec.take(); got != "" {
		t.Fatalf("server back before its new alpha checker passed: %q", got)
	}
	n.set(okR)
	clock.Advance(10 * time.Second)
	if got := rec.take(); got != "add vs r1 1" {
		t.Fatal(got)
	}
	e.Stop()
}
