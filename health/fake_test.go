package health

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// fakeClock fires timers only inside Advance, in due order, on the caller's goroutine, so an
// engine test is a deterministic transcript.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	when    time.Time
	seq     int
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves time forward by d, firing every timer that comes due on the way.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.SliceStable(c.timers, func(i, j int) bool {
			if !c.timers[i].when.Equal(c.timers[j].when) {
				return c.timers[i].when.Before(c.timers[j].when)
			}
			return c.timers[i].seq < c.timers[j].seq
		})
		var next *fakeTimer
		for len(c.timers) > 0 && c.timers[0].stopped {
			c.timers = c.timers[1:]
		}
		if len(c.timers) > 0 && !c.timers[0].when.After(end) {
			next = c.timers[0]
			c.timers = c.timers[1:]
			c.now = next.when
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		next.f()
	}
}

// script is a checker whose results the test sets; it records when it ran.
type script struct {
	mu    sync.Mutex
	name  string
	next  Result
	clock *fakeClock
	runs  []time.Time
}

func (s *script) set(r Result) {
	s.mu.Lock()
	s.next = r
	s.mu.Unlock()
}

func (s *script) Check(context.Context) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, s.clock.Now())
	return s.next
}

func (s *script) Describe() (Kind, string) { return KindTCP, s.name }

// recorder is an Actions that writes a transcript.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(f string, a ...any) {
	r.mu.Lock()
	r.log = append(r.log, fmt.Sprintf(f, a...))
	r.mu.Unlock()
}

func (r *recorder) AddReal(svc, real any, w int) error {
	r.add("add %v %v %d", svc, real, w)
	return nil
}
func (r *recorder) RemoveReal(svc, real any) error { r.add("remove %v %v", svc, real); return nil }
func (r *recorder) SetWeight(svc, real any, w int) error {
	r.add("weight %v %v %d", svc, real, w)
	return nil
}

// take returns the transcript since the last take.
func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.log, "; ")
	r.log = nil
	return s
}
