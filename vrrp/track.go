package vrrp

import (
	"context"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/internal/netns"
)

// Track is one object an instance tracks: an interface (track_interface)
// or a script (vrrp_script in track_script), with keepalived's weights.
type Track struct {
	// Interface, or Script (argv), is what is tracked.
	Interface string
	Script    []string
	// Interval and Timeout pace a script (vrrp_script's interval, 1 s, and
	// timeout, the interval); Rise and Fall are how many results in a row
	// change its state (1 each). A script starts up (keepalived without
	// init_fail).
	Interval, Timeout time.Duration
	Rise, Fall        int
	// Weight 0 puts the instance in FAULT while the object is down; a
	// positive weight is added to the priority while it is up, a negative
	// one while it is down (keepalived's rule for both kinds).
	Weight int
}

// interfacePoll is how often tracked interfaces are read: a link that
// goes down is seen within it, well inside one advertisement interval of
// a second.
const interfacePoll = 100 * time.Millisecond

// tracker keeps the state of an instance's tracked objects; its loop is
// the only writer.
type tracker struct {
	s *Speaker
	// h reads links in the instance's namespace; the tracker's own, so it
	// never shares a netlink socket with the speaker's address changes.
	h     *netlink.Handle
	up    []bool
	count []int // scripts: results in a row against the state
}

// trackResult is what tracking says now.
type trackResult struct {
	prio  uint8
	fault bool
}

// effective is the priority and fault the objects' states give.
func (t *tracker) effective(base uint8) trackResult {
	p, fault := int(base), false
	for i, tr := range t.s.in.Tracks {
		switch {
		case tr.Weight == 0 && !t.up[i]:
			fault = true
		case tr.Weight > 0 && t.up[i], tr.Weight < 0 && !t.up[i]:
			p += tr.Weight
		}
	}
	return trackResult{prio: uint8(min(max(p, 1), OwnerPriority-1)), fault: fault}
}

// linkUp reports whether interface name is up and running in the
// instance's namespace.
func (t *tracker) linkUp(name string) bool {
	if t.h == nil {
		return false
	}
	l, err := t.h.LinkByName(name)
	if err != nil {
		return false
	}
	f := l.Attrs().RawFlags
	return f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0
}

// runScript runs argv in the instance's namespace within timeout, as a
// MISC_CHECK runs (health.Exec): exit status 0 passes, and a script still
// running then is killed with its process group and fails.
func (t *tracker) runScript(ctx context.Context, argv []string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	e := health.Exec{Command: argv, Enter: health.InNetns(t.s.in.NetNS)}
	return e.Check(ctx).OK
}

// scriptResult is one run of script i.
type scriptResult struct {
	i  int
	ok bool
}

// runScripts runs script i every Interval until ctx ends, each result sent
// to out; a script that is slow delays only itself.
func (t *tracker) runScripts(ctx context.Context, out chan<- scriptResult) {
	for i, tr := range t.s.in.Tracks {
		if len(tr.Script) == 0 {
			continue
		}
		go func() {
			for {
				ok := t.runScript(ctx, tr.Script, tr.Timeout)
				select {
				case out <- scriptResult{i, ok}:
				case <-ctx.Done():
					return
				}
				select {
				case <-time.After(tr.Interval):
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// run watches the tracked objects until ctx ends and posts every change of
// the effective priority or fault to the speaker.
func (t *tracker) run(ctx context.Context) {
	if t.h != nil {
		defer t.h.Close()
	}
	last := t.effective(t.s.in.Priority)
	scripts := make(chan scriptResult)
	t.runScripts(ctx, scripts)
	tick := time.NewTicker(interfacePoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for i, tr := range t.s.in.Tracks {
				if tr.Interface != "" {
					t.up[i] = t.linkUp(tr.Interface)
				}
			}
		case r := <-scripts:
			t.script(r)
		}
		if r := t.effective(t.s.in.Priority); r != last {
			last = r
			t.s.post(r)
		}
	}
}

// script counts one result of a script: Rise passes in a row bring it up,
// Fall failures in a row take it down.
func (t *tracker) script(r scriptResult) {
	tr := t.s.in.Tracks[r.i]
	if r.ok == t.up[r.i] {
		t.count[r.i] = 0
		return
	}
	need := tr.Fall
	if r.ok {
		need = tr.Rise
	}
	if t.count[r.i]++; t.count[r.i] >= max(need, 1) {
		t.up[r.i], t.count[r.i] = r.ok, 0
	}
}

// newTracker starts with every interface as it is now and every script up.
func newTracker(s *Speaker) *tracker {
	t := &tracker{s: s, up: make([]bool, len(s.in.Tracks)), count: make([]int, len(s.in.Tracks))}
	if slices.ContainsFunc(s.in.Tracks, func(tr Track) bool { return tr.Interface != "" }) {
		if err := netns.Do(s.in.NetNS, func() (err error) { t.h, err = netlink.NewHandle(); return err }); err != nil && s.in.Log != nil {
			// Without a handle every tracked interface reads as down:
			// the safe side (a lower priority, or FAULT).
			s.in.Log.Error("vrrp: tracking interfaces", "instance", s.in.Name, "err", err)
		}
	}
	for i, tr := range s.in.Tracks {
		t.up[i] = tr.Interface == "" || t.linkUp(tr.Interface)
	}
	return t
}
