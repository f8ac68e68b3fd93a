package control

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/xvs-project/xvs/connsync"
)

// SyncRole is a sync daemon's role: ipvsadm's --start-daemon master|backup.
type SyncRole string

// The two roles; a director may run both at once (IPVS allows it), for
// two sync IDs.
const (
	SyncMaster SyncRole = "master"
	SyncBackup SyncRole = "backup"
)

// SyncDaemon is one sync daemon's settings, ipvsadm's daemon options. Zero
// fields take the kernel's defaults when the daemon starts (Status shows
// the values in force).
type SyncDaemon struct {
	// Interface is --mcast-interface.
	Interface string `json:"interface"`
	// SyncID is --syncid (0: a backup takes every sync ID).
	SyncID uint8 `json:"syncid"`
	// MaxLen is --sync-maxlen (0: the interface's MTU less 28, at most
	// 1472 for a master).
	MaxLen int `json:"maxlen,omitempty"`
	// Group, Port and TTL are --mcast-group, --mcast-port, --mcast-ttl
	// (224.0.0.81, 8848, 1).
	Group netip.Addr `json:"group,omitzero"`
	Port  int        `json:"port,omitempty"`
	TTL   int        `json:"ttl,omitempty"`
	// Peers replace the group with unicast peers (xvs only,
	// connsync.DaemonConfig.Peers): IPv4, a zero port is Port.
	Peers []netip.AddrPort `json:"peers,omitempty"`
}

// Same reports whether two daemons' settings are the same.
func (d *SyncDaemon) Same(o *SyncDaemon) bool {
	return d.Interface == o.Interface && d.SyncID == o.SyncID && d.MaxLen == o.MaxLen && d.Group == o.Group &&
		d.Port == o.Port && d.TTL == o.TTL && slices.Equal(d.Peers, o.Peers)
}

// SyncConfig is what a configuration file says about connection sync: the
// daemons the director starts with. Master and Backup run from start to
// stop; Follow is keepalived's lvs_sync_daemon, one daemon that is master
// while a VRRP instance is MASTER and backup otherwise.
type SyncConfig struct {
	Master *SyncDaemon  `json:"master,omitempty"`
	Backup *SyncDaemon  `json:"backup,omitempty"`
	Follow *SyncFollows `json:"follow,omitempty"`
}

// SyncFollows is a sync daemon that follows a VRRP instance.
type SyncFollows struct {
	// Instance is the vrrp_instance's name.
	Instance string `json:"instance"`
	SyncDaemon
}

// SameSync reports whether two files' sync configurations are the same.
func SameSync(a, b *SyncConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	eq := func(x, y *SyncDaemon) bool { return x == nil && y == nil || x != nil && y != nil && x.Same(y) }
	fe := a.Follow == nil && b.Follow == nil ||
		a.Follow != nil && b.Follow != nil && a.Follow.Instance == b.Follow.Instance && a.Follow.Same(&b.Follow.SyncDaemon)
	return eq(a.Master, b.Master) && eq(a.Backup, b.Backup) && fe
}

// SyncEngine is what the sync daemons need of the forwarding engine. The
// daemon adapts *forwarder.Engine to it (control does not import the
// forwarder, whose sync types it would need).
type SyncEngine interface {
	// InstallSync installs one entry a backup received; safe for
	// concurrent use (forwarder.Engine.InstallSync).
	InstallSync(c *connsync.Conn)
	// NewSyncDumper returns a dumper of the whole table through w, a
	// writer no worker uses; learnt says whether entries learnt from
	// another director's sync go too (forwarder.DumpOptions.Learnt).
	NewSyncDumper(w *connsync.Writer, learnt bool) SyncDumper
	// HandOver writes one full dump of the connections this director
	// made (not those learnt from another's sync) through w, a writer no
	// worker uses, and returns when it is done or ctx ends: a master that
	// yields to another hands its table over this way.
	HandOver(ctx context.Context, w *connsync.Writer) (int, error)
	// SyncFigures returns the engine's sync counts
	// (forwarder.Engine.SyncStats).
	SyncFigures() SyncFigures
}

// SyncDumper runs full-table dumps on request (forwarder.SyncDumper).
type SyncDumper interface {
	// Request asks for a dump; it never blocks.
	Request()
	// Run dumps once per (folded) request until ctx ends.
	Run(ctx context.Context)
}

// SyncFigures are the engine's sync counts (forwarder.SyncStats).
type SyncFigures struct {
	// Master: entries the packet path handed to the writers, and those
	// the writers refused.
	ConnsSent     uint64 `json:"conns_sent"`
	TemplatesSent uint64 `json:"templates_sent"`
	SendErrors    uint64 `json:"send_errors"`
	// Dumps written, their entries, and when the last one finished.
	Dumps       uint64    `json:"dumps"`
	DumpEntries uint64    `json:"dump_entries"`
	LastDump    time.Time `json:"last_dump,omitzero"`
	// Backup: entries offered, installed new, updated, refused by reason
	// (forwarder.SyncRefusal's labels), and when the last one came.
	Received     uint64            `json:"received"`
	Installed    uint64            `json:"installed"`
	Updated      uint64            `json:"updated"`
	Refused      map[string]uint64 `json:"refused,omitempty"`
	LastReceived time.Time         `json:"last_received,omitzero"`
}

// SyncStatus is the sync daemons' state (xvsadm -L --daemon, xvsadm --sync).
type SyncStatus struct {
	// Daemons are the running daemons, the master first.
	Daemons []SyncDaemonStatus `json:"daemons"`
	// Follow is the VRRP instance whose state picks the role, if any.
	Follow string `json:"follow,omitempty"`
	// Master and Backup are the socket counts of every daemon of that
	// role since xvs started (connsync.Stats; Master's backup fields and
	// Backup's master fields are zero).
	Master connsync.Stats `json:"master"`
	Backup connsync.Stats `json:"backup"`
	// Engine is the engine's side; Unsent counts the entries the packet
	// path handed over while no master ran.
	Engine SyncFigures `json:"engine"`
	Unsent uint64      `json:"unsent"`
	// HandOvers counts the masters that yielded to another and sent
	// their own connections in a last dump (a split brain healing).
	HandOvers uint64 `json:"handovers"`
}

// SyncDaemonStatus is one running daemon.
type SyncDaemonStatus struct {
	Role SyncRole `json:"role"`
	// Config holds the values in force (defaults filled in).
	Config SyncDaemon `json:"config"`
	Since  time.Time  `json:"since"`
}

// Errors of the sync daemons, in ipvsadm's words (the kernel's EEXIST,
// ESRCH and ENODEV as ipvsadm prints them).
var (
	//lint:ignore ST1005 ipvsadm's exact words, printed as is
	ErrDaemonRunning = errors.New("Daemon has already run")
	//lint:ignore ST1005 ipvsadm's exact words, printed as is
	ErrNoDaemon = errors.New("No daemon is running")
	//lint:ignore ST1005 the kernel's ENODEV as ipvsadm prints it
	ErrNoDevice = errors.New("No such device")
	// ErrNoSync answers a sync request of a daemon that cannot sync.
	ErrNoSync = errors.New("this daemon does not run connection sync")
)

// syncDecodeReasons label connsync.DecodeErrors, in their order.
var syncDecodeReasons = [len(connsync.DecodeErrors)]string{"short", "size", "truncated", "entry-version", "entry-type", "bad-option"}

// SyncDecodeReason is the label of connsync.DecodeErrors[i] (the reasons
// in connsync.Stats.DroppedBy): short, size, truncated, entry-version,
// entry-type, bad-option.
func SyncDecodeReason(i int) string {
	if i >= 0 && i < len(syncDecodeReasons) {
		return syncDecodeReasons[i]
	}
	return "unknown"
}
