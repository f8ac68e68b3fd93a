package health

import (
	"errors"
	"fmt"
)

// Actions is what the engine asks of whoever owns the real servers (the daemon, or a library
// user's forwarder). svc and real are the Key values of the Service and Real concerned,
// handed back untouched. The engine calls them with its own lock held and in the order the
// decisions are made, so an implementation must not call back into the Engine; an error is
// logged and does not change the engine's view (keepalived ignores failed IPVS commands too).
type Actions interface {
	// AddReal puts a real server into the service's pool at weight w.
	AddReal(svc, real any, weight int) error
	// RemoveReal takes it out; its established connections go with it, as with ipvsadm -d.
	RemoveReal(svc, real any) error
	// SetWeight changes the weight of a real server in the pool; weight 0 takes no new
	// connections and keeps the established ones (inhibit_on_failure).
	SetWeight(svc, real any, weight int) error
}

// Service is one virtual service as the health engine sees it.
type Service struct {
	// Key identifies the service to Actions; Name is how logs and the status listing show it.
	Key  any
	Name string
	// Quorum is the live weight the service needs (keepalived's default is 1); Hysteresis
	// widens the band around it so a service does not flap between the two states.
	Quorum, Hysteresis int
	// QuorumUp and QuorumDown are run (argv, no arguments added, as keepalived) when quorum
	// is gained and lost.
	QuorumUp, QuorumDown []string
	// Omega runs notify_down and quorum_down when the engine stops.
	Omega bool
	// Sorry replaces every real server while quorum is lost; its Checks are not used.
	// SorryInhibit keeps it in the pool at weight 0 while it is not needed (sorry_server_inhibit).
	Sorry        *Real
	SorryInhibit bool
	Reals        []Real
}

// Real is one real server with its checkers.
type Real struct {
	Key  any
	Name string
	// Weight is the configured weight, given back on recovery.
	Weight int
	// Inhibit keeps a failed server in the pool at weight 0 instead of removing it
	// (inhibit_on_failure), so its established connections keep working.
	Inhibit bool
	// NotifyUp and NotifyDown run when the server becomes alive or dead.
	NotifyUp, NotifyDown []string
	// Checks must all pass for the server to be alive; a server without checks is always alive.
	Checks []Check
}

// Check is one checker of a real server.
type Check struct {
	Checker Checker
	Timing  Timing
	// Alpha starts the checker failed, so the server joins only after a first pass.
	Alpha bool
}

// ErrConfig is wrapped by every validation error of New.
var ErrConfig = errors.New("health config")

func (s *Service) validate() error {
	where := "service " + s.Name
	if s.Quorum < 0 {
		return fmt.Errorf("%w: %s: quorum %d: must not be negative", ErrConfig, where, s.Quorum)
	}
	if s.Hysteresis < 0 {
		return fmt.Errorf("%w: %s: hysteresis %d: must not be negative", ErrConfig, where, s.Hysteresis)
	}
	for i := range s.Reals {
		r := &s.Reals[i]
		rw := where + ": real " + r.Name
		if r.Weight < 0 {
			return fmt.Errorf("%w: %s: weight %d: must not be negative", ErrConfig, rw, r.Weight)
		}
		for j, c := range r.Checks {
			if c.Checker == nil {
				return fmt.Errorf("%w: %s: check %d: no checker", ErrConfig, rw, j+1)
			}
			if err := c.Timing.Validate(); err != nil {
				k, _ := c.Checker.Describe()
				return fmt.Errorf("%w: %s: %s: %v", ErrConfig, rw, k, err)
			}
		}
	}
	if s.Sorry != nil && s.Sorry.Weight < 0 {
		return fmt.Errorf("%w: %s: sorry_server weight %d: must not be negative", ErrConfig, where, s.Sorry.Weight)
	}
	return nil
}
