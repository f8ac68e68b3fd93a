package control

import "github.com/xvs-project/xvs/service"

// Engine is what the control plane drives: the forwarder implements it, and
// tests can use a fake. Every method is safe for concurrent use.
type Engine interface {
	// Config returns a copy of the running configuration.
	Config() *service.Config
	// Apply runs fn on a clone of the running configuration, validates the
	// result and, only if both succeed, installs it atomically. On error the
	// running configuration is untouched.
	Apply(fn func(*service.Config) error) error
	// Stats returns counters and rates of every service and real server.
	Stats() Stats
	// ZeroStats clears the counters of one service, or of all when k is nil (ipvsadm -Z).
	ZeroStats(k *service.Key) error
	// Conns lists connection entries, at most max from cursor; next is 0 when done (ipvsadm -Lc).
	Conns(cursor uint64, max int) (conns []Conn, next uint64)
	// Timeouts returns the TCP, TCP FIN and UDP timeouts (ipvsadm --timeout).
	Timeouts() Timeouts
	// SetTimeouts changes them; a zero field keeps the current value (ipvsadm --set).
	SetTimeouts(t Timeouts) error
	// SetCapacity changes how many entries the connection table may hold,
	// at run time; below the live count it is refused and nothing changes.
	SetCapacity(n int) error
}

// The figures the Engine reports are defined in package service, where the
// forwarder (which implements Engine) can use them too.
type (
	Timeouts     = service.Timeouts
	Counters     = service.Counters
	Rates        = service.Rates
	RealStats    = service.RealStats
	ServiceStats = service.ServiceStats
	Stats        = service.Stats
	TableStats   = service.TableStats
	Conn         = service.Conn
	Drop         = service.Drop
	DropReport   = service.DropReport
	MHTable      = service.MHTable
	MHShare      = service.MHShare
)

// MHReporter is an Engine that describes its mh services' Maglev tables
// (the mh request, xvsadm -L --mh); the forwarder implements it. An Engine
// without it answers the request with no tables.
type MHReporter interface {
	// MaglevTables returns every mh service's table, in configuration
	// order.
	MaglevTables() []MHTable
}

// DropReporter is an Engine that also lists its loss counters as typed
// records (the drops request, xvsadm -L --drops, the xvs_events_total
// metric). The forwarder implements it; an Engine without it answers the
// drops request from Stats.Drops, without events.
type DropReporter interface {
	// Drops returns every loss counter by queue and reason, and the
	// counters that explain where the other traffic went.
	Drops() DropReport
}

// EngineDrops returns engine's drop report: its own when it is a
// DropReporter, else Stats.Drops.
func EngineDrops(engine Engine) DropReport {
	if dr, ok := engine.(DropReporter); ok {
		return dr.Drops()
	}
	return DropReport{Drops: engine.Stats().Drops}
}
