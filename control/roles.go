package control

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/xvs-project/xvs/vrrp"
)

// VRRPInstance is one VRRP instance a configuration file asks the daemon
// to run, with its notify scripts.
type VRRPInstance struct {
	vrrp.Instance
	Scripts vrrp.Scripts
}

// Roles runs the daemon's VRRP instances: each one's speaker owns its
// virtual addresses on its interface (added as master, removed otherwise)
// and runs its notify scripts on every change.
type Roles struct {
	speakers []*vrrp.Speaker
	names    []string
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// mu orders the standby reports: states and the report made from
	// them change together.
	mu      sync.Mutex
	vips    [][]netip.Addr // per instance, as speakers
	master  []bool
	standby func([]netip.Addr)
}

// RolesOptions configure StartRoles; every field may be left zero.
type RolesOptions struct {
	// Logger gets a line per transition; nil is slog's default.
	Logger *slog.Logger
	// OnState, if set, is told every instance's new state after its
	// scripts have been started (the daemon switches sync roles there).
	OnState func(instance string, s vrrp.State)
	// Standby, if set, is told the virtual addresses of every instance
	// that is not MASTER, before any instance starts and whenever one
	// becomes or stops being MASTER, before its addresses move
	// (vrrp.Instance.OnMaster): the daemon gates the services on them
	// (forwarder.Engine.SetStandby), so a backup makes no new connection
	// for its instances' VIPs. An address that a MASTER instance holds too
	// is not in it.
	Standby func(vips []netip.Addr)
}

// StartRoles opens every instance's sockets and starts speaking; on error
// none runs. Stop ends them.
func StartRoles(insts []VRRPInstance, o RolesOptions) (*Roles, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Roles{standby: o.Standby}
	for i, in := range insts {
		in := in
		log := o.Logger.With("vrrp_instance", in.Name)
		scripts := in.Scripts.OnState(in.Name, in.Priority, log)
		in.Instance.Log = log
		in.Instance.OnMaster = func(m bool) { r.setMaster(i, m) }
		in.Instance.OnState = func(s vrrp.State) {
			scripts(s)
			if o.OnState != nil {
				o.OnState(in.Name, s)
			}
		}
		sp, err := vrrp.NewSpeaker(in.Instance)
		if err != nil {
			r.closeUnstarted()
			return nil, err
		}
		r.speakers = append(r.speakers, sp)
		r.names = append(r.names, in.Name)
		var vips []netip.Addr
		for _, p := range in.VIPs {
			vips = append(vips, p.Addr())
		}
		r.vips = append(r.vips, vips)
		r.master = append(r.master, false)
	}
	r.report() // every instance starts in INIT: all gated until one is master
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, sp := range r.speakers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := sp.Run(ctx); err != nil {
				o.Logger.Error("vrrp: instance stopped", "err", err)
			}
		}()
	}
	return r, nil
}

// setMaster records whether instance i is MASTER now and reports the
// standby addresses if that changed.
func (r *Roles) setMaster(i int, m bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.master[i] == m {
		return
	}
	r.master[i] = m
	r.reportLocked()
}

func (r *Roles) report() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reportLocked()
}

// reportLocked tells Standby the addresses of the instances not MASTER.
func (r *Roles) reportLocked() {
	if r.standby == nil {
		return
	}
	var held, standby []netip.Addr
	for i, vips := range r.vips {
		if r.master[i] {
			held = append(held, vips...)
		}
	}
	for i, vips := range r.vips {
		for _, a := range vips {
			if !r.master[i] && !slices.Contains(held, a) && !slices.Contains(standby, a) {
				standby = append(standby, a)
			}
		}
	}
	r.standby(standby)
}

// Announce asks every instance's speaker to announce its addresses again
// if it is master (vrrp.Speaker.Announce). The daemon calls it when its
// followed sync master hears a dump request, a director that has just
// become backup: that director may have been master of every instance
// (a split brain), NAT's gateway instance beside the VIP's, and the hosts
// of each link may still point at it.
func (r *Roles) Announce() {
	if r == nil {
		return
	}
	for _, sp := range r.speakers {
		sp.Announce()
	}
}

// closeUnstarted releases the speakers opened before a later one failed.
func (r *Roles) closeUnstarted() {
	for _, sp := range r.speakers {
		sp.Close()
	}
}

// Status returns every instance's status, in configuration order.
func (r *Roles) Status() []vrrp.Status {
	if r == nil {
		return nil
	}
	out := make([]vrrp.Status, 0, len(r.speakers))
	for _, sp := range r.speakers {
		out = append(out, sp.Status())
	}
	return out
}

// Stop ends every instance as keepalived does on shutdown: a master sends
// a priority-0 advertisement, so its backup takes over at once, and drops
// its addresses. It waits for all of them.
func (r *Roles) Stop() {
	if r == nil || r.cancel == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
}

// SameVRRP reports whether two files' VRRP instances are the same
// configuration (scripts and hooks aside).
func SameVRRP(a, b []VRRPInstance) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i].Instance, b[i].Instance
		if x.Name != y.Name || x.Interface != y.Interface || x.Config != y.Config || x.AuthPass != y.AuthPass ||
			x.Primary != y.Primary || !slices.Equal(x.VIPs, y.VIPs) || !slices.Equal(x.UnicastPeers, y.UnicastPeers) {
			return false
		}
	}
	return true
}
