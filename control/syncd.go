package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/internal/netns"
	"github.com/xvs-project/xvs/vrrp"
)

// SyncDaemons runs the director's IPVS sync daemons, a master and a backup
// at most, started and stopped while the engine runs (xvsadm
// --start-daemon, a VRRP transition, the configuration file at start).
//
// The daemon makes it before the engine, so the engine's workers get their
// writers from it (Writer): switches that send through the running
// master's writers and drop while none runs. A master is a connsync.Master
// with one writer per worker switched in, a dumper answering the dump
// requests of backups that join (Master.ServeRequests) and one dump at
// start, for backups already listening: connections the packet path
// handed over while no master ran count as sent there. A backup is a
// connsync.Backup installing into the engine, and a dump request at start.
type SyncDaemons struct {
	log   *slog.Logger
	netNS string
	sw    []*SyncSwitch

	mu     sync.Mutex // guards everything below; held while a role starts or stops
	eng    SyncEngine
	master *masterRun
	backup *backupRun
	follow *SyncFollows
	// learnt is set once a backup has run: a master started after it
	// dumps the entries it learnt, for the old master's return.
	learnt bool
	// gone holds the counts of daemons that have stopped.
	goneM, goneB connsync.Stats
}

// SyncOptions configure NewSyncDaemons; zero fields are fine.
type SyncOptions struct {
	// Logger gets a line per start and stop; nil is slog's default.
	Logger *slog.Logger
	// NetNS is the network namespace the daemons' sockets live in (a
	// path, as connsync.DaemonConfig.NetNS); empty for the caller's.
	NetNS string
}

// NewSyncDaemons returns a manager with no daemon running, and switches
// for workers workers.
func NewSyncDaemons(workers int, o SyncOptions) *SyncDaemons {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &SyncDaemons{log: o.Logger, netNS: o.NetNS}
	for range workers {
		d.sw = append(d.sw, &SyncSwitch{})
	}
	return d
}

// Writer returns worker i's switch (for forwarder.SyncMaster.Writer); nil
// beyond the workers NewSyncDaemons was told of.
func (d *SyncDaemons) Writer(i int) *SyncSwitch {
	if i < 0 || i >= len(d.sw) {
		return nil
	}
	return d.sw[i]
}

// Attach gives the manager its engine; no daemon starts before it.
func (d *SyncDaemons) Attach(e SyncEngine) {
	d.mu.Lock()
	d.eng = e
	d.mu.Unlock()
}

type masterRun struct {
	cfg     SyncDaemon
	m       *connsync.Master
	writers []*connsync.Writer
	since   time.Time
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type backupRun struct {
	cfg    SyncDaemon
	b      *connsync.Backup
	since  time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts a daemon of role with cfg. It fails with ErrDaemonRunning
// when one of that role runs, ErrNoDevice for an unknown interface.
func (d *SyncDaemons) Start(role SyncRole, cfg SyncDaemon) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.startLocked(role, cfg)
}

// Stop stops the daemon of role; ErrNoDaemon when none runs.
func (d *SyncDaemons) Stop(role SyncRole) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopLocked(role)
}

func (d *SyncDaemons) startLocked(role SyncRole, cfg SyncDaemon) error {
	if d.eng == nil {
		return ErrNoSync
	}
	switch role {
	case SyncMaster:
		if d.master != nil {
			return ErrDaemonRunning
		}
	case SyncBackup:
		if d.backup != nil {
			return ErrDaemonRunning
		}
	default:
		return fmt.Errorf("sync daemon role %q: %w", role, ErrBadRequest)
	}
	eff, err := d.effective(role, cfg)
	if err != nil {
		return err
	}
	dc := connsync.DaemonConfig{Interface: eff.Interface, SyncID: eff.SyncID, MaxLen: eff.MaxLen,
		Group: eff.Group, Port: eff.Port, TTL: eff.TTL, NetNS: d.netNS}
	if role == SyncMaster {
		return d.startMaster(eff, dc)
	}
	return d.startBackup(eff, dc)
}

func (d *SyncDaemons) startMaster(eff SyncDaemon, dc connsync.DaemonConfig) error {
	m, err := connsync.NewMaster(dc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &masterRun{cfg: eff, m: m, since: time.Now(), cancel: cancel}
	learnt := d.learnt && d.backup == nil
	dumper := d.eng.NewSyncDumper(m.NewWriter(), learnt)
	r.wg.Add(2)
	go func() { defer r.wg.Done(); dumper.Run(ctx) }()
	go func() {
		defer r.wg.Done()
		if err := m.ServeRequests(ctx, dumper.Request); err != nil {
			d.log.Error("sync master: dump requests are not heard", "err", err)
		}
	}()
	for _, s := range d.sw {
		w := m.NewWriter()
		r.writers = append(r.writers, w)
		s.swap(w)
	}
	dumper.Request()
	d.master = r
	d.log.Info("sync master started", "mcast", eff.Interface, "syncid", eff.SyncID, "maxlen", eff.MaxLen,
		"group", eff.Group, "port", eff.Port, "ttl", eff.TTL, "dump-learnt", learnt)
	return nil
}

func (d *SyncDaemons) startBackup(eff SyncDaemon, dc connsync.DaemonConfig) error {
	b, err := connsync.NewBackup(dc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &backupRun{cfg: eff, b: b, since: time.Now(), cancel: cancel, done: make(chan struct{})}
	eng := d.eng
	go func() {
		defer close(r.done)
		if err := b.Run(ctx, eng.InstallSync); err != nil {
			d.log.Error("sync backup stopped", "err", err)
		}
	}()
	d.backup = r
	d.learnt = true
	d.log.Info("sync backup started", "mcast", eff.Interface, "syncid", eff.SyncID, "group", eff.Group, "port", eff.Port)
	// A backup that starts asks for the masters' tables; one lost request
	// costs only the idle connections, which their next change resends.
	if err := connsync.RequestDump(dc); err != nil {
		d.log.Warn("sync backup: dump request not sent", "err", err)
	}
	return nil
}

func (d *SyncDaemons) stopLocked(role SyncRole) error {
	switch role {
	case SyncMaster:
		r := d.master
		if r == nil {
			return ErrNoDaemon
		}
		// The workers leave the master's writers before anything closes;
		// what they hold goes out then.
		for i, s := range d.sw {
			s.swap(nil)
			r.writers[i].Flush(time.Now(), true)
		}
		r.cancel()
		r.wg.Wait()
		st := r.m.Stats()
		r.m.Close()
		addStats(&d.goneM, st)
		d.master = nil
		d.log.Info("sync master stopped", "mcast", r.cfg.Interface, "syncid", r.cfg.SyncID, "sent", st.Sent)
	case SyncBackup:
		r := d.backup
		if r == nil {
			return ErrNoDaemon
		}
		r.cancel()
		<-r.done
		st := r.b.Stats()
		addStats(&d.goneB, st)
		d.backup = nil
		d.log.Info("sync backup stopped", "mcast", r.cfg.Interface, "syncid", r.cfg.SyncID, "received", st.Received)
	default:
		return fmt.Errorf("sync daemon role %q: %w", role, ErrBadRequest)
	}
	return nil
}

// effective fills in the kernel's defaults: the group, port and TTL, and
// sync_maxlen from the interface's MTU (a master's at most 1500 − 28, a
// backup's at least that), an explicit one clamped as the kernel clamps it.
func (d *SyncDaemons) effective(role SyncRole, c SyncDaemon) (SyncDaemon, error) {
	if c.Interface == "" {
		return c, ErrNoDevice
	}
	var mtu int
	err := netns.Do(d.netNS, func() error {
		ifi, err := net.InterfaceByName(c.Interface)
		if err != nil {
			return ErrNoDevice
		}
		mtu = ifi.MTU
		return nil
	})
	if err != nil {
		return c, err
	}
	if !c.Group.IsValid() {
		c.Group = connsync.Group
	}
	if c.Port == 0 {
		c.Port = connsync.Port
	}
	if c.TTL == 0 {
		c.TTL = 1
	}
	const hdr = 20 + 8 // IPv4 and UDP
	switch {
	case c.MaxLen == 0 && role == SyncMaster:
		c.MaxLen = min(mtu, 1500) - hdr
	case c.MaxLen == 0:
		c.MaxLen = min(max(mtu, 1500), 65535) - hdr
	case role == SyncMaster:
		c.MaxLen = min(max(c.MaxLen, minMasterMaxLen), 65535-hdr)
	default:
		c.MaxLen = min(max(c.MaxLen, 1024), 65535-hdr)
	}
	return c, nil
}

// minMasterMaxLen is the least sync_maxlen a master uses: room for a
// header and the largest entry (IPv6, sequence option, persistence-engine
// data and name), as the kernel makes room for one whatever is asked. A
// smaller one would leave every entry unsendable.
const minMasterMaxLen = 8 + 72 + (2 + 24) + (2 + 255) + (2 + 16) + 3

func addStats(to *connsync.Stats, s connsync.Stats) {
	to.Sent += s.Sent
	to.Lost += s.Lost
	to.Requests += s.Requests
	to.Received += s.Received
	to.Dropped += s.Dropped
	to.Ignored += s.Ignored
	for i := range to.DroppedBy {
		to.DroppedBy[i] += s.DroppedBy[i]
	}
	to.Conns += s.Conns
	to.Skipped += s.Skipped
}

// Follow makes the daemon keepalived's lvs_sync_daemon for f.Instance: a
// master with f's settings while the instance is MASTER, a backup
// otherwise. Call it before the VRRP instances start; OnVRRPState then
// switches the roles.
func (d *SyncDaemons) Follow(f SyncFollows) {
	d.mu.Lock()
	d.follow = &f
	d.mu.Unlock()
}

// OnVRRPState switches the followed daemon's role for a VRRP transition
// (control.RolesOptions.OnState): MASTER stops the backup and starts the
// master, which dumps what the backup learnt so the old master, back as a
// backup, learns the connections it left; BACKUP does the reverse; INIT
// (the instance stopping) stops both.
func (d *SyncDaemons) OnVRRPState(instance string, s vrrp.State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.follow
	if f == nil || f.Instance != instance {
		return
	}
	stop := func(r SyncRole) {
		if err := d.stopLocked(r); err != nil && !errors.Is(err, ErrNoDaemon) {
			d.log.Error("sync: stopping for a VRRP transition", "role", r, "err", err)
		}
	}
	start := func(r SyncRole) {
		if err := d.startLocked(r, f.SyncDaemon); err != nil && !errors.Is(err, ErrDaemonRunning) {
			d.log.Error("sync: starting for a VRRP transition", "role", r, "vrrp_instance", instance, "err", err)
		}
	}
	switch s {
	case vrrp.Master:
		stop(SyncBackup)
		start(SyncMaster)
	case vrrp.Backup:
		stop(SyncMaster)
		start(SyncBackup)
	default:
		stop(SyncMaster)
		stop(SyncBackup)
	}
}

// StartFile starts the daemons a configuration file names (Master and
// Backup; Follow waits for the VRRP instance's first state, but without
// VRRP at all it starts as a backup, keepalived's state at start).
func (d *SyncDaemons) StartFile(c *SyncConfig, vrrpRuns bool) error {
	if c == nil {
		return nil
	}
	if c.Follow != nil {
		d.Follow(*c.Follow)
		if !vrrpRuns {
			if err := d.Start(SyncBackup, c.Follow.SyncDaemon); err != nil {
				return fmt.Errorf("sync backup: %w", err)
			}
		}
	}
	if c.Master != nil {
		if err := d.Start(SyncMaster, *c.Master); err != nil {
			return fmt.Errorf("sync master: %w", err)
		}
	}
	if c.Backup != nil {
		if err := d.Start(SyncBackup, *c.Backup); err != nil {
			return fmt.Errorf("sync backup: %w", err)
		}
	}
	return nil
}

// Status returns the daemons' state and counts.
func (d *SyncDaemons) Status() SyncStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := SyncStatus{Daemons: []SyncDaemonStatus{}, Master: d.goneM, Backup: d.goneB}
	if r := d.master; r != nil {
		st.Daemons = append(st.Daemons, SyncDaemonStatus{Role: SyncMaster, Config: r.cfg, Since: r.since})
		addStats(&st.Master, r.m.Stats())
	}
	if r := d.backup; r != nil {
		st.Daemons = append(st.Daemons, SyncDaemonStatus{Role: SyncBackup, Config: r.cfg, Since: r.since})
		addStats(&st.Backup, r.b.Stats())
	}
	if d.follow != nil {
		st.Follow = d.follow.Instance
	}
	if d.eng != nil {
		st.Engine = d.eng.SyncFigures()
	}
	for _, s := range d.sw {
		st.Unsent += s.unsent.Load()
	}
	return st
}

// Close stops every daemon.
func (d *SyncDaemons) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range []SyncRole{SyncMaster, SyncBackup} {
		_ = d.stopLocked(r) // ErrNoDaemon only
	}
}
