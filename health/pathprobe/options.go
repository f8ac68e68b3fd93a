package pathprobe

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// Options configure Open.
type Options struct {
	// Interface is the served interface the probes leave by: the DR/TUN
	// segment the real servers are on (or reach their gateway by).
	Interface string
	// Addresses are the probe addresses with their prefix length, at most
	// one per family (e.g. 198.18.0.50/23 and 2001:db8::50/64): unused
	// addresses of the director's subnet, which real servers answer
	// directly, so they must reach them on-link or through their gateway.
	// A probe of a VIP whose family has no address is refused by Route.
	Addresses []netip.Prefix
	// Netns is the network namespace that holds Interface
	// (/run/netns/NAME, /proc/PID/ns/net); empty means the calling thread's.
	Netns string
	// Logger receives warnings (a route of the interface that could not be
	// copied); nil discards them.
	Logger *slog.Logger
}

// validate checks the options and returns the address of each family.
func (o *Options) validate() (v4, v6 netip.Prefix, err error) {
	if o.Interface == "" {
		return v4, v6, errors.New("no interface")
	}
	if len(o.Addresses) == 0 {
		return v4, v6, errors.New("no probe address")
	}
	for _, a := range o.Addresses {
		if !a.IsValid() || a.Addr().Is4In6() || a.Addr().IsUnspecified() || a.Addr().IsMulticast() ||
			a.Addr().IsLoopback() || a.Addr().IsLinkLocalUnicast() {
			return v4, v6, fmt.Errorf("probe address %s is not a unicast address with a prefix length", a)
		}
		slot := &v6
		if a.Addr().Is4() {
			slot = &v4
		}
		if slot.IsValid() {
			return v4, v6, fmt.Errorf("two probe addresses of one family: %s and %s", *slot, a)
		}
		*slot = a
	}
	return v4, v6, nil
}

// Error is a probe namespace that could not be made or changed: it names
// the interface and the step that failed.
type Error struct {
	Interface string
	Step      string // "create the probe namespace", "add the macvlan", ...
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("path-true probes on %s: %s: %v", e.Interface, e.Step, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Sentinels Route wraps.
var (
	// ErrMethod: only DR and TUN real servers have a path to be true to.
	ErrMethod = errors.New("path-true probes are for DR and TUN real servers")
	// ErrFamily: the VIP has no probe address of its family, or the real
	// server's family differs from the VIP's.
	ErrFamily = errors.New("no probe address of the VIP's family")
	// ErrClosed: the Prober was closed.
	ErrClosed = errors.New("prober closed")
	// ErrFull: every mark of the probe namespace is in use.
	ErrFull = errors.New("too many path-true paths")
)
