package sched

import "sync/atomic"

// MaxWeight is the largest weight IPVS accepts (INT_MAX).
const MaxWeight = 2147483647

// Dest is one real server as the scheduler sees it. Safe for concurrent use.
//
// The caller owns it and keeps the same pointer while the real server stays in its service. The connection table
// keeps the counters (AddConn, RemoveConn, SetActive, AddPersist); the control plane changes weight and thresholds and
// then calls Scheduler.Update. The overload flag follows the kernel's IP_VS_DEST_F_OVERLOAD rules (ip_vs_bind_dest,
// ip_vs_unbind_dest, __ip_vs_update_dest).
//
// A Dest reports counter changes to the last Scheduler that installed it (New or Update), which is how the
// least-connection family answers in O(1). A Dest therefore belongs to one Scheduler at a time, as an ip_vs_dest
// belongs to one service.
type Dest struct {
	ID   uint32   // caller's stable identifier (opaque to sched)
	Addr [16]byte // IPv4 as v4-mapped (::ffff:a.b.c.d)
	Port uint16

	weight     atomic.Int32
	lastWeight atomic.Int32 // kernel last_weight: weight when added, then the latest non-zero weight (mh uses it)
	upper      atomic.Uint32
	lower      atomic.Uint32
	active     atomic.Int32
	inactive   atomic.Int32
	persist    atomic.Int32
	overload   atomic.Bool
	watch      atomic.Pointer[binding] // scheduler state told about changes; nil when none watches
}

// binding ties a Dest to the scheduler state that watches it and to its index there.
type binding struct {
	w   watcher
	idx int32
}

// watcher is told after a destination's counters, weight or overload flag changed.
type watcher interface {
	changed(idx int32)
}

// NewDest returns a destination with the given weight; a negative weight is stored as 0 (quiescent). Validate
// user input with ValidateWeight first.
func NewDest(id uint32, addr [16]byte, port uint16, weight int32) *Dest {
	d := &Dest{ID: id, Addr: addr, Port: port}
	w := clampWeight(weight)
	d.weight.Store(w)
	d.lastWeight.Store(w) // the kernel sets last_weight on add even when it is 0
	return d
}

// ValidateWeight reports whether w is a weight IPVS accepts (0..MaxWeight); otherwise it returns ErrBadWeight.
func ValidateWeight(w int64) error {
	if w < 0 || w > MaxWeight {
		return ErrBadWeight
	}
	return nil
}

func clampWeight(w int32) int32 {
	if w < 0 {
		return 0
	}
	return w
}

// Weight returns the current weight.
func (d *Dest) Weight() int32 { return d.weight.Load() }

// SetWeight sets the weight, 0..MaxWeight; 0 makes the server quiescent (no new connections). A negative value is
// stored as 0. Call Scheduler.Update afterwards, as IPVS calls the scheduler's upd_dest.
func (d *Dest) SetWeight(w int32) {
	w = clampWeight(w)
	d.weight.Store(w)
	if w != 0 {
		d.lastWeight.Store(w)
	}
	d.notify()
}

// SetThresholds sets the upper (-x) and lower (-y) connection thresholds; 0 means none. As in the kernel, the
// overload flag is cleared when the upper threshold is removed or raised.
func (d *Dest) SetThresholds(upper, lower uint32) {
	if upper == 0 || upper > d.upper.Load() {
		d.overload.Store(false)
	}
	d.upper.Store(upper)
	d.lower.Store(lower)
	d.notify()
}

// Thresholds returns the upper and lower connection thresholds.
func (d *Dest) Thresholds() (upper, lower uint32) { return d.upper.Load(), d.lower.Load() }

// AddConn records that a connection was bound to d; active means ESTABLISHED-like (the kernel's connection without
// IP_VS_CONN_F_INACTIVE).
func (d *Dest) AddConn(active bool) {
	if active {
		d.active.Add(1)
	} else {
		d.inactive.Add(1)
	}
	d.bindCheck()
	d.notify()
}

// RemoveConn records that a connection bound to d went away; active tells which counter it was in.
func (d *Dest) RemoveConn(active bool) {
	if active {
		d.active.Add(-1)
	} else {
		d.inactive.Add(-1)
	}
	d.unbindCheck()
	d.notify()
}

// SetActive moves one bound connection from inactive to active (true) or back (false). The kernel does not
// re-evaluate the overload flag on state changes, and neither does this.
func (d *Dest) SetActive(active bool) {
	if active {
		d.inactive.Add(-1)
		d.active.Add(1)
	} else {
		d.active.Add(-1)
		d.inactive.Add(1)
	}
	d.notify()
}

// AddPersist adds delta to the count of persistence templates bound to d. Templates do not count towards the
// thresholds, but binding or unbinding one re-evaluates the overload flag, as in the kernel.
func (d *Dest) AddPersist(delta int32) {
	d.persist.Add(delta)
	switch {
	case delta > 0:
		d.bindCheck()
	case delta < 0:
		d.unbindCheck()
	}
	d.notify()
}

// ActiveConns returns the number of active connections.
func (d *Dest) ActiveConns() int32 { return d.active.Load() }

// InactiveConns returns the number of inactive connections.
func (d *Dest) InactiveConns() int32 { return d.inactive.Load() }

// PersistConns returns the number of persistence templates.
func (d *Dest) PersistConns() int32 { return d.persist.Load() }

// Overloaded reports the IP_VS_DEST_F_OVERLOAD flag: set when active+inactive reaches the upper threshold, cleared
// when the total falls below the lower threshold, or below 3/4 of the upper one when there is no lower threshold.
func (d *Dest) Overloaded() bool { return d.overload.Load() }

// Available reports whether d may take new connections: weight > 0 and not overloaded.
func (d *Dest) Available() bool { return d.weight.Load() > 0 && !d.overload.Load() }

// totalConns is ip_vs_dest_totalconns: active + inactive, persistence templates excluded.
func (d *Dest) totalConns() int32 { return d.active.Load() + d.inactive.Load() }

// bindCheck is the tail of ip_vs_bind_dest. The kernel compares int with u32, so the comparison is unsigned.
func (d *Dest) bindCheck() {
	if u := d.upper.Load(); u != 0 && uint32(d.totalConns()) >= u {
		d.overload.Store(true)
	}
}

// unbindCheck is the tail of ip_vs_unbind_dest, with the kernel's unsigned 32-bit arithmetic.
func (d *Dest) unbindCheck() {
	l, u := d.lower.Load(), d.upper.Load()
	t := uint32(d.totalConns())
	switch {
	case l != 0:
		if t < l {
			d.overload.Store(false)
		}
	case u != 0:
		if t*4 < u*3 {
			d.overload.Store(false)
		}
	default:
		d.overload.Store(false)
	}
}

func (d *Dest) notify() {
	if b := d.watch.Load(); b != nil {
		b.w.changed(b.idx)
	}
}

// connOverhead is ip_vs_dest_conn_overhead, (activeconns << 8) + inactconns, in the kernel's 32-bit int.
func (d *Dest) connOverhead() int32 {
	return d.active.Load()<<8 + d.inactive.Load()
}
