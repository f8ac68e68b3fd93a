package control

import (
	"context"
	"log/slog"
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
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// RolesOptions configure StartRoles; every field may be left zero.
type RolesOptions struct {
	// Logger gets a line per transition; nil is slog's default.
	Logger *slog.Logger
	// OnState, if set, is told every instance's new state after its
	// scripts have been started (the daemon switches sync roles there).
	OnState func(instance string, s vrrp.State)
}

// StartRoles opens every instance's sockets and starts speaking; on error
// none runs. Stop ends them.
func StartRoles(insts []VRRPInstance, o RolesOptions) (*Roles, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Roles{}
	for _, in := range insts {
		in := in
		log := o.Logger.With("vrrp_instance", in.Name)
		scripts := in.Scripts.OnState(in.Name, in.Priority, log)
		in.Instance.Log = log
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
	}
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
