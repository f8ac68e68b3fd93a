package sched

import (
	"fmt"
	"math/bits"
	"time"
)

// Scheduler picks a destination for a new connection. Pick is safe for concurrent use by many goroutines and does
// not allocate. It returns nil when no destination is available (the caller then drops / answers like IPVS).
// The flow must not be nil for the hashing and locality schedulers (sh, dh, mh, lblc, lblcr).
type Scheduler interface {
	Name() string
	Pick(f *Flow) *Dest
	// Update installs a new destination list (the service's real servers after an edit, same *Dest for servers
	// that stayed, in the kernel's list order). Builds any new state off the packet path and publishes it
	// atomically; Picks running concurrently see either the old or the new state.
	Update(dests []*Dest) error
}

// Options tune a scheduler. The zero value is IPVS's defaults.
type Options struct {
	// Flags are the service's scheduler flags; New rejects those that are not the scheduler's (ValidateFlags).
	Flags Flags
	// MHTableSize is the Maglev lookup table size, a prime; 0 means 4093 (IPVS's default). The kernel offers
	// 251..131071; 65537 (Katran's size) also works.
	MHTableSize int
	// LBLCExpiration is the lblc_expiration / lblcr_expiration sysctl: entries (lblc) and replicated set members
	// (lblcr) unused this long are dropped. 0 means the kernel's 24 hours.
	LBLCExpiration time.Duration
	// LBLCMaxEntries bounds the lblc/lblcr table, which is allocated up front so that Pick never allocates. When it
	// is full a Pick still schedules but caches nothing, as the kernel does when kmalloc fails. 0 means 32768 (twice
	// the kernel's garbage-collection threshold of 16384).
	LBLCMaxEntries int
	// Now is the clock for lblc/lblcr expiry; nil means the process's monotonic clock. Tests inject a manual one.
	Now func() time.Time
}

// New returns the named scheduler with dests installed. Unknown names wrap ErrUnknownScheduler; flags that do not
// belong to the scheduler wrap ErrBadFlag.
func New(name string, dests []*Dest, opts Options) (Scheduler, error) {
	if err := ValidateFlags(name, opts.Flags); err != nil {
		return nil, err
	}
	s, err := registry[entry(name)].make(opts)
	if err != nil {
		return nil, err
	}
	if err := s.Update(dests); err != nil {
		return nil, fmt.Errorf("scheduler %s: %w", name, err)
	}
	return s, nil
}

// checkDests rejects nil and repeated destinations and returns the caller's list copied, so that later changes
// to the caller's slice do not reach published state.
func checkDests(dests []*Dest) ([]*Dest, error) {
	seen := make(map[*Dest]struct{}, len(dests))
	for i, d := range dests {
		if d == nil {
			return nil, fmt.Errorf("destination %d: %w", i, ErrNilDest)
		}
		if _, dup := seen[d]; dup {
			return nil, fmt.Errorf("destination %d (id %d): %w", i, d.ID, ErrDuplicateDest)
		}
		seen[d] = struct{}{}
	}
	return append([]*Dest(nil), dests...), nil
}

// unwatch clears the watchers of dests: schedulers that do not track counters call it so that a Dest formerly
// installed in a least-connection scheduler stops reporting there.
func unwatch(dests []*Dest) {
	for _, d := range dests {
		d.watch.Store(nil)
	}
}

// watchAll points every destination at w, with its index.
func watchAll(dests []*Dest, w watcher) {
	for i, d := range dests {
		d.watch.Store(&binding{w: w, idx: int32(i)})
	}
}

// releaseRemoved clears the watcher of old destinations that still point at the old state w; those that stayed
// were re-pointed already.
func releaseRemoved(old []*Dest, w watcher) {
	for _, d := range old {
		if b := d.watch.Load(); b != nil && b.w == w {
			d.watch.CompareAndSwap(b, nil)
		}
	}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// fls is the kernel's fls(): the 1-based index of the highest set bit, 0 for 0.
func fls(x uint32) int { return bits.Len32(x) }
