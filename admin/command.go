package admin

import (
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// Format selects what a listing shows: ipvsadm -L's display options.
type Format struct {
	Numeric        bool // -n: numbers instead of host and service names
	Stats          bool // --stats: counters
	Rate           bool // --rate: rate estimates
	Thresholds     bool // --thresholds: upper and lower connection thresholds
	PersistentConn bool // --persistent-conn: persistent connection counts
	TunInfo        bool // --tun-info: tunnel type of each real server
	Exact          bool // --exact: no K/M/G scaling of large numbers
	NoSort         bool // --nosort: configuration order instead of sorted
}

// Command is one parsed ipvsadm command line.
type Command struct {
	Op Op
	// HasService is true when the command line names a service (-t, -u
	// or -f).
	HasService bool
	// Service is the whole new definition for -A and -E; for the other
	// commands only its key (Proto, Addr, Port or Group) is set.
	Service service.Service
	// HasReal is true when the command line names a real server (-r).
	HasReal bool
	// Real is the real server of -a, -e and -d (weight 1 and direct routing
	// unless -w and -m/-i say otherwise, as in ipvsadm).
	Real service.Real
	// Timeouts are the values of --set; zero keeps a timeout unchanged.
	Timeouts service.Timeouts
	// Capacity is the value of --set-capacity.
	Capacity int
	// Format holds the display options of -L, -S (-n) and -c.
	Format Format
	// Connections lists connection entries (-L -c).
	Connections bool
	// ShowTimeouts lists the timeouts (-L --timeout).
	ShowTimeouts bool
	// Daemon lists the sync daemons (-L --daemon).
	Daemon bool
	// SyncRole and Sync are the daemon of --start-daemon and
	// --stop-daemon (master or backup) and its options: --mcast-interface
	// (ipvsadm's default eth0), --syncid, --sync-maxlen, --mcast-group,
	// --mcast-port, --mcast-ttl; zero values are the kernel's defaults.
	SyncRole control.SyncRole
	Sync     control.SyncDaemon
	// Drops lists the daemon's loss counters by reason and queue (-L
	// --drops, xvs only).
	Drops bool
	// MH lists the Maglev table (size, flags, digest, slots per real
	// server) of every mh service (-L --mh, xvs only).
	MH bool
	// BGP lists the BGP peers and announced prefixes (-L --bgp, xvs
	// only).
	BGP bool
}

// Key returns the key of the service the command names.
func (c *Command) Key() service.Key { return c.Service.Key() }

// IsConfigChange reports whether the command edits the configuration
// (-A -E -D -C -a -e -d): the commands Change and a rules file accept.
func (c *Command) IsConfigChange() bool {
	switch c.Op {
	case OpAddService, OpEditService, OpDeleteService, OpClear, OpAddReal, OpEditReal, OpDeleteReal:
		return true
	}
	return false
}

// Change returns the configuration edit of a config-changing command, in
// the control protocol's terms; ok is false for other commands.
func (c *Command) Change() (ch control.Change, ok bool) {
	key := c.Key()
	switch c.Op {
	case OpAddService, OpEditService:
		kind := control.AddService
		if c.Op == OpEditService {
			kind = control.EditService
		}
		s := c.Service
		s.Matches = append([]service.Match(nil), s.Matches...)
		s.SchedFlags = append([]string(nil), s.SchedFlags...)
		if s.Persistence != nil {
			p := *s.Persistence
			s.Persistence = &p
		}
		return control.Change{Kind: kind, Service: &s, Key: key}, true
	case OpDeleteService:
		return control.Change{Kind: control.DeleteService, Key: key}, true
	case OpClear:
		return control.Change{Kind: control.Clear}, true
	case OpAddReal, OpEditReal:
		kind := control.AddReal
		if c.Op == OpEditReal {
			kind = control.EditReal
		}
		r := c.Real
		return control.Change{Kind: kind, Key: key, Real: &r}, true
	case OpDeleteReal:
		return control.Change{Kind: control.DeleteReal, Key: key, RealKey: c.Real.Key()}, true
	}
	return control.Change{}, false
}

// Apply makes a config-changing command's edit on cfg, with the service
// package's checks; other commands return an error matching ErrNotConfig.
func Apply(cmd *Command, cfg *service.Config) error {
	ch, ok := cmd.Change()
	if !ok {
		return syntaxf(ErrNotConfig, "the '%s' command does not change the configuration", cmd.Op)
	}
	return ch.Apply(cfg)
}
