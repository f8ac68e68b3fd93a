package forwarder

import (
	"context"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
)

// DefaultDumpRate is the entries per second DumpSync writes when given no
// rate: a million entries in 20 s, about 1300 full 1472-byte messages a
// second (15 Mbit/s), which a backup's socket buffer and install rate keep
// up with.
const DefaultDumpRate = 50000

// dumpPage is how many entries DumpSync reads between pauses.
const dumpPage = 256

// DumpOptions shape a full-table dump.
type DumpOptions struct {
	// Rate is the most entries a second (0: DefaultDumpRate).
	Rate int
	// Learnt includes the entries learnt from another director's sync and
	// not forwarded here since. A director that took over from a master
	// sets it, so the master, back as a backup, learns the idle
	// connections it left; one that is also a backup for another
	// director's VIPs (both roles, two sync IDs) leaves it unset, so it
	// does not echo that director's connections back with older state.
	Learnt bool
}

// DumpSync writes every live connection and persistence template of the
// table to w as version 1 sync entries, each with the time it has left, at
// a bounded rate, and flushes w at the end. It is the full-table sync IPVS
// lacks, for a backup that joined late or restarted: the entries are
// ordinary sync messages, so any backup, a kernel's included, installs
// them as it installs the rest. Connections still opening are left out,
// as the packet path leaves them out, and so are learnt ones unless
// opts.Learnt.
//
// w must not be a worker's writer (give it its own: connsync's
// Master.NewWriter). DumpSync stops early when ctx ends and returns the
// number of entries written.
func (e *Engine) DumpSync(ctx context.Context, w SyncWriter, opts DumpOptions) (int, error) {
	rate := opts.Rate
	if rate <= 0 {
		rate = DefaultDumpRate
	}
	pause := time.Duration(int64(time.Second) * dumpPage / int64(rate))
	var out connsync.Conn
	n := 0
	cursor := conntrack.Cursor(0)
	for {
		start := time.Now()
		snap := e.snap.Load()
		next, done := e.table.Walk(cursor, dumpPage, func(ci conntrack.ConnInfo) bool {
			if e.dumpEntry(snap, &ci, opts.Learnt, &out) && w.Add(&out, time.Now()) == nil {
				n++
			}
			return true
		})
		if done {
			break
		}
		cursor = next
		if wait := pause - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
				w.Flush(time.Now(), true)
				return n, ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	w.Flush(time.Now(), true)
	c := &e.syncCtr
	c.dumps.Add(1)
	c.dumpEntries.Add(uint64(n))
	c.lastDump.Store(time.Now().UnixNano())
	return n, nil
}

// dumpEntry fills out with entry ci; false for one not to send.
func (e *Engine) dumpEntry(snap *snapshot, ci *conntrack.ConnInfo, learnt bool, out *connsync.Conn) bool {
	r := snap.real(ci.Dest, ci.DestGen)
	if r == nil || ci.Expires <= 0 {
		return false
	}
	if ci.Template {
		proto, vip := ci.Key.Proto, addrPort(r.svc.vip, r.svc.port)
		if g := snap.firstMatch(r.svc); g != nil {
			// A group's template stands for all its VIPs: name the
			// first, which a backup maps back to the group.
			proto, vip = g.proto, addrPort(flow.Addr16(g.prefix.Addr()), g.portLo)
		}
		fillTemplate(out, &ci.Key, r, vip, proto, ci.Expires)
		return true
	}
	if ci.Key.Proto == flow.TCP && synced&(1<<ci.State) == 0 {
		return false
	}
	if c := e.table.Lookup(&ci.Key); c == nil || (!learnt && c.LearntFromSync()) {
		return false
	}
	fillConn(out, &ci.Key, ci.State, r, ci.Expires)
	return true
}

// firstMatch is a service group's first match, nil for an address service.
func (s *snapshot) firstMatch(svc *serviceState) *groupMatch {
	if svc.key.Group == "" {
		return nil
	}
	for i := range s.groups {
		if s.groups[i].svc == svc {
			return &s.groups[i]
		}
	}
	return nil
}

// SyncDumper runs DumpSync for dump requests (connsync's Master.
// ServeRequests), one dump at a time: requests that arrive while a dump
// runs are folded into one more dump after it, since that one dump
// serves every backup that asked. A dump never holds a worker up: it
// reads the table without locks and writes through its own writer.
type SyncDumper struct {
	e    *Engine
	w    SyncWriter
	opts DumpOptions
	kick chan struct{}
}

// NewSyncDumper returns a dumper writing through w (not a worker's) with
// opts.
func (e *Engine) NewSyncDumper(w SyncWriter, opts DumpOptions) *SyncDumper {
	return &SyncDumper{e: e, w: w, opts: opts, kick: make(chan struct{}, 1)}
}

// Request asks for a dump; it never blocks.
func (d *SyncDumper) Request() {
	select {
	case d.kick <- struct{}{}:
	default: // one is pending already
	}
}

// Run dumps once per (folded) request until ctx ends.
func (d *SyncDumper) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
			if _, err := d.e.DumpSync(ctx, d.w, d.opts); err != nil {
				return
			}
		}
	}
}
