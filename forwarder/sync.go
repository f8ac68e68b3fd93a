package forwarder

// Connection sync in the data plane, IPVS's sync protocol v1 (package
// connsync has the codec and the sockets). This file holds what both sides
// share: the options, the counters, and how a table entry becomes a sync
// entry. sync_master.go is the workers' side (which packet sends what),
// sync_backup.go installs what a backup receives, sync_dump.go writes the
// whole table for a backup that joins late.

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/service"
)

// SyncWriter takes the entries one worker syncs and batches them into
// messages: a connsync.Writer (Master.NewWriter), one per worker, so the
// packet path takes no lock. It is called only from its worker.
type SyncWriter interface {
	// Add puts c in the open message; c is the worker's scratch, copied
	// before Add returns.
	Add(c *connsync.Conn, now time.Time) error
	// Flush sends the open message once it has waited long enough, or at
	// once with force.
	Flush(now time.Time, force bool)
}

// SyncMaster makes an engine a sync master: its workers hand connections
// to their writers as they change.
type SyncMaster struct {
	// Writer returns the writer of worker i; New calls it once per worker
	// (the daemon: connsync.Master.NewWriter).
	Writer func(worker int) SyncWriter
	// Policy, if set, is IPVS's rule (connsync.Policy: sync_threshold,
	// sync_period, sync_refresh_period, sync_retries, sync_persist_mode)
	// instead of xvs's. xvs's rule closes the gaps IPVS users report: a
	// TCP connection is sent when it becomes ESTABLISHED and on every
	// later change of state (FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT,
	// CLOSE), a UDP one at its first packet, and either again whenever
	// the copy a backup holds is past half its timeout, so a quiet
	// long-lived connection never expires there. Handshake states are
	// never sent: if the master dies then, the client retries.
	Policy *connsync.Policy
	// FlushAfter is how long an entry may wait in a worker's partly
	// filled message (0: DefaultSyncFlush). The kernel waits up to 2 s
	// (IPVS_SYNC_FLUSH_TIME); a connection established in that window is
	// lost if the master dies in it, so xvs waits far less.
	FlushAfter time.Duration
}

// DefaultSyncFlush is SyncMaster.FlushAfter's default: well inside the
// fastest VRRP takeover (three 100 ms adverts), and at most ten small
// datagrams a second per worker when traffic is light.
const DefaultSyncFlush = 100 * time.Millisecond

// SyncRefusal says why a backup did not install a sync entry.
type SyncRefusal uint8

// Reasons a sync entry is refused.
const (
	RefuseNoService  SyncRefusal = iota // no running service for its VIP:port/protocol or fwmark
	RefuseNoReal                        // the service has no such real server
	RefuseNotPersist                    // a template for a service that is not persistent
	RefuseStale                         // an INACTIVE entry for a connection the table has on another real
	RefuseClash                         // NAT: the reply tuple belongs to another live connection
	RefuseFull                          // the connection table is full
	RefuseBad                           // anything else the table refused (bad addresses)
	NumSyncRefusals
)

var refusalNames = [NumSyncRefusals]string{
	"no-service", "no-real", "not-persistent", "stale", "reply-clash", "table-full", "bad-entry",
}

// String returns the reason's metric label.
func (r SyncRefusal) String() string {
	if r < NumSyncRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

// SyncStats are the engine's sync figures (the datagram counts are the
// connsync sockets'). The daemon lists and exports them.
type SyncStats struct {
	// Master: connections and templates handed to the workers' writers
	// by the packet path, and entries the writers refused.
	ConnsSent, TemplatesSent, SendErrors uint64
	// Dumps counts full-table dumps written, DumpEntries their entries,
	// and LastDump is when the last one finished (zero: none yet).
	Dumps, DumpEntries uint64
	LastDump           time.Time
	// Backup: entries offered to InstallSync, those installed new, those
	// that updated an entry, and those refused by reason.
	Received, Installed, Updated uint64
	Refused                      [NumSyncRefusals]uint64
	// LastReceived is when InstallSync last ran.
	LastReceived time.Time
}

// syncCounters are the engine-wide sync figures outside the workers.
type syncCounters struct {
	dumps, dumpEntries  atomic.Uint64
	lastDump            atomic.Int64 // unix ns
	received, installed atomic.Uint64
	updated             atomic.Uint64
	refused             [NumSyncRefusals]atomic.Uint64
	lastReceived        atomic.Int64
}

// SyncStats returns the sync figures.
func (e *Engine) SyncStats() SyncStats {
	c := &e.syncCtr
	s := SyncStats{
		Dumps: c.dumps.Load(), DumpEntries: c.dumpEntries.Load(),
		Received: c.received.Load(), Installed: c.installed.Load(), Updated: c.updated.Load(),
	}
	for i := range s.Refused {
		s.Refused[i] = c.refused[i].Load()
	}
	if ns := c.lastDump.Load(); ns != 0 {
		s.LastDump = time.Unix(0, ns)
	}
	if ns := c.lastReceived.Load(); ns != 0 {
		s.LastReceived = time.Unix(0, ns)
	}
	for _, w := range e.workers {
		if sw := w.p.sync; sw != nil {
			s.ConnsSent += sw.conns.load()
			s.TemplatesSent += sw.tmpls.load()
			s.SendErrors += sw.errs.load()
		}
	}
	return s
}

// fwdFlags are the IPVS forwarding flags of a method. DR and TUN
// connections carry NOOUTPUT, as the kernel's destinations give them.
func fwdFlags(m service.Method) uint32 {
	switch m {
	case service.MethodDR:
		return connsync.FwdDRoute | connsync.FlagNoOutput
	case service.MethodTUN:
		return connsync.FwdTunnel | connsync.FlagNoOutput
	}
	return connsync.FwdMasq
}

// groupMark is the firewall mark a service group stands for: its name when
// that is a number (ipvsadm's "-f 1" becomes group "1"), else 0, and the
// entry then names the connection's VIP, which a backup's service lookup
// maps to the group by its matches. It parses by hand: strconv allocates an
// error for a name that is not a number, and this runs per packet.
func groupMark(name string) uint32 {
	if name == "" || len(name) > 10 {
		return 0
	}
	var n uint64
	for i := 0; i < len(name); i++ {
		d := name[i] - '0'
		if d > 9 {
			return 0
		}
		n = n*10 + uint64(d)
	}
	if n > 1<<32-1 {
		return 0
	}
	return uint32(n)
}

// seconds is a timeout as sync entries carry it, rounded up, at least 1.
func seconds(d time.Duration) uint32 {
	s := (d + time.Second - 1) / time.Second
	return uint32(min(max(s, 1), 1<<31))
}

func addrPort(a [16]byte, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(flow.AddrOf(a), port)
}

// fillConn describes connection k (its forward key), in state st, to r as
// a sync entry, with timeout left.
func fillConn(out *connsync.Conn, k *conntrack.Key, st conntrack.State, r *realState, left time.Duration) {
	*out = connsync.Conn{
		Proto:   k.Proto,
		Flags:   fwdFlags(r.method),
		Client:  addrPort(k.Src, k.SrcPort),
		Virtual: addrPort(k.Dst, k.DstPort),
		Dest:    addrPort(r.addr, r.portFor(k.DstPort)),
		FWMark:  groupMark(r.svc.key.Group),
		Timeout: seconds(left),
	}
	if k.Proto == flow.TCP {
		out.State = uint16(st)
	}
	if !st.Active() {
		out.Flags |= connsync.FlagInactive
	}
}

// fillTemplate describes the template of client network tk for r's service
// as a sync entry: the client network with port 0, the service's VIP and
// port (a group's: vip, the VIP of a connection it controls, or of its
// first match), the real server.
func fillTemplate(out *connsync.Conn, tk *conntrack.Key, r *realState, vip netip.AddrPort, proto uint8, left time.Duration) {
	svc := r.svc
	if svc.key.Group == "" {
		vip = addrPort(svc.vip, svc.port)
	}
	*out = connsync.Conn{
		Proto:   proto,
		Flags:   connsync.FlagTemplate | fwdFlags(r.method) | connsync.FlagInactive,
		Client:  addrPort(tk.Src, 0),
		Virtual: vip,
		Dest:    addrPort(r.addr, r.portFor(vip.Port())),
		FWMark:  groupMark(svc.key.Group),
		Timeout: seconds(left),
	}
}
