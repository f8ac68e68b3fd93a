package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
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
//
// A daemon that follows a VRRP instance (Follow) also heals a split brain:
// its master installs what another master of its sync ID sends
// (connsync.Master.Serve), and a master that yields to another (its
// instance MASTER to BACKUP) first hands its own connections over in one
// last full dump (HandOver), in the background, while its backup starts.
// A dump request heard by such a master also makes the instance announce
// its addresses again (SetAnnounce): a director that has just become
// backup asks for one, and the hosts may still point at it.
type SyncDaemons struct {
	log   *slog.Logger
	netNS string
	sw    []*SyncSwitch

	mu     sync.Mutex // guards everything below; held while a role starts or stops
	eng    SyncEngine
	master *masterRun
	backup *backupRun
	follow *SyncFollows
	// leaving are masters handing their table over before they stop
	// (handOverLocked); handovers waits for them.
	leaving   []*masterRun
	handovers sync.WaitGroup
	// stopHandovers cuts the hand-overs short when the daemons close.
	handCtx       context.Context
	stopHandovers context.CancelFunc
	// learnt is set once a backup has run: a master started after it
	// dumps the entries it learnt, for the old master's return.
	learnt bool
	// gone holds the counts of daemons that have stopped.
	goneM, goneB connsync.Stats
	// handedOver counts the hand-overs begun (SyncStatus.HandOvers).
	handedOver uint64

	// announce is SetAnnounce's hook; read by the masters' request
	// listeners, which must not take mu (a stop waits for them under it).
	announce atomic.Pointer[func(instance string)]
}

// handOverTimeout bounds a yielding master's last dump: a million entries
// at DefaultDumpRate take 20 s.
const handOverTimeout = 60 * time.Second

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
	d.handCtx, d.stopHandovers = context.WithCancel(context.Background())
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
	// followed is the VRRP instance the master runs for; "" for one
	// started on its own (xvsadm --start-daemon, the file's master).
	followed string
}

// SetAnnounce sets what a followed master calls, with its instance, when
// it hears a dump request (control.Roles.Announce); nil calls nothing.
func (d *SyncDaemons) SetAnnounce(fn func(instance string)) {
	if fn == nil {
		d.announce.Store(nil)
		return
	}
	d.announce.Store(&fn)
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
	return d.startLocked(role, cfg, "")
}

// Stop stops the daemon of role; ErrNoDaemon when none runs.
func (d *SyncDaemons) Stop(role SyncRole) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopLocked(role)
}

// startLocked starts a daemon of role; followed names the VRRP instance
// it runs for ("" for none).
func (d *SyncDaemons) startLocked(role SyncRole, cfg SyncDaemon, followed string) error {
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
	if role == SyncBackup && len(eff.Peers) > 0 && d.master != nil && len(d.master.cfg.Peers) > 0 && d.master.cfg.Port == eff.Port {
		// The master's socket, bound to the port on its address, would
		// take every datagram meant for the backup's.
		return fmt.Errorf("sync backup: a unicast master runs on port %d; a unicast backup beside it needs another port", eff.Port)
	}
	if role == SyncMaster && len(eff.Peers) > 0 && d.backup != nil && len(d.backup.cfg.Peers) > 0 && d.backup.cfg.Port == eff.Port {
		return fmt.Errorf("sync master: a unicast backup runs on port %d; a unicast master beside it needs another port", eff.Port)
	}
	dc := d.daemonConfig(eff)
	if role == SyncMaster {
		return d.startMaster(eff, dc, followed)
	}
	return d.startBackup(eff, dc)
}

// daemonConfig is connsync's configuration for settings in force.
func (d *SyncDaemons) daemonConfig(eff SyncDaemon) connsync.DaemonConfig {
	return connsync.DaemonConfig{Interface: eff.Interface, SyncID: eff.SyncID, MaxLen: eff.MaxLen,
		Group: eff.Group, Port: eff.Port, TTL: eff.TTL, Peers: eff.Peers, NetNS: d.netNS}
}

func (d *SyncDaemons) startMaster(eff SyncDaemon, dc connsync.DaemonConfig, followed string) error {
	m, err := connsync.NewMaster(dc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &masterRun{cfg: eff, m: m, since: time.Now(), cancel: cancel, followed: followed}
	learnt := d.learnt && d.backup == nil
	dumper := d.eng.NewSyncDumper(m.NewWriter(), learnt)
	onRequest := dumper.Request
	var peer func(*connsync.Conn)
	if followed != "" {
		// A split brain heals through this master: it learns what the
		// other master hands over, and a request (a director just
		// become backup) makes the instance announce its addresses.
		peer = d.eng.InstallSync
		onRequest = func() {
			dumper.Request()
			if fn := d.announce.Load(); fn != nil {
				(*fn)(followed)
			}
		}
	}
	r.wg.Add(2)
	go func() { defer r.wg.Done(); dumper.Run(ctx) }()
	go func() {
		defer r.wg.Done()
		if err := m.Serve(ctx, onRequest, peer); err != nil {
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
		"group", eff.Group, "peers", eff.Peers, "port", eff.Port, "ttl", eff.TTL, "dump-learnt", learnt, "vrrp_instance", followed)
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
	d.log.Info("sync backup started", "mcast", eff.Interface, "syncid", eff.SyncID, "group", eff.Group, "peers", eff.Peers, "port", eff.Port)
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
		d.detachLocked(r)
		d.closeMasterLocked(r)
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

// detachLocked takes the workers off master r's writers, before anything
// closes; what they hold goes out then.
func (d *SyncDaemons) detachLocked(r *masterRun) {
	for i, s := range d.sw {
		s.swap(nil)
		r.writers[i].Flush(time.Now(), true)
	}
	d.master = nil
}

// closeMasterLocked stops master r's goroutines and socket and keeps its
// counts.
func (d *SyncDaemons) closeMasterLocked(r *masterRun) {
	r.cancel()
	r.wg.Wait()
	st := r.m.Stats()
	r.m.Close()
	addStats(&d.goneM, st)
	d.log.Info("sync master stopped", "mcast", r.cfg.Interface, "syncid", r.cfg.SyncID, "sent", st.Sent)
}

// handOverLocked stops the running master as stopLocked does, but first,
// in the background, sends one last full dump of this director's own
// connections through it (SyncEngine.HandOver), for the master this one
// yields to: in a split brain each side made connections the other never
// heard of. The workers leave its writers at once; the backup that starts
// meanwhile is another socket. Close cuts the dump short.
func (d *SyncDaemons) handOverLocked() {
	r := d.master
	if r == nil {
		return
	}
	d.detachLocked(r)
	if len(r.cfg.Peers) > 0 {
		r = d.handOverSenderLocked(r)
	}
	d.leaving = append(d.leaving, r)
	d.handedOver++
	eng := d.eng
	d.handovers.Add(1)
	go func() {
		defer d.handovers.Done()
		ctx, cancel := context.WithTimeout(d.handCtx, handOverTimeout)
		n, err := eng.HandOver(ctx, r.m.NewWriter())
		cancel()
		d.mu.Lock()
		defer d.mu.Unlock()
		d.leaving = slices.DeleteFunc(d.leaving, func(x *masterRun) bool { return x == r })
		if err != nil {
			d.log.Warn("sync master: handing the table over stopped early", "entries", n, "err", err)
		} else {
			d.log.Info("sync master handed its table over", "entries", n, "vrrp_instance", r.followed)
		}
		d.closeMasterLocked(r)
	}()
}

// handOverSenderLocked closes a yielding unicast master r at once and
// returns a run in its place that sends from an ephemeral port
// (connsync.NewSender): r's socket holds the sync port on this director's
// address, so until it closed it would take the other master's dump meant
// for the backup that starts next, and drop what it had not read at its
// close. On an error r stays, as a multicast master does.
func (d *SyncDaemons) handOverSenderLocked(r *masterRun) *masterRun {
	s, err := connsync.NewSender(d.daemonConfig(r.cfg))
	if err != nil {
		d.log.Warn("sync master: no socket for the hand-over; the master's own sends it", "err", err)
		return r
	}
	d.closeMasterLocked(r)
	return &masterRun{cfg: r.cfg, m: s, since: r.since, cancel: func() {}, followed: r.followed}
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
	if c.Port == 0 {
		c.Port = connsync.Port
	}
	if c.TTL == 0 {
		c.TTL = 1
	}
	if len(c.Peers) > 0 {
		if c.Group.IsValid() {
			return c, fmt.Errorf("sync: a multicast group (%v) and unicast peers cannot be mixed", c.Group)
		}
		peers := make([]netip.AddrPort, len(c.Peers))
		for i, p := range c.Peers {
			if p.Port() == 0 {
				p = netip.AddrPortFrom(p.Addr(), uint16(c.Port))
			}
			peers[i] = p
		}
		c.Peers = peers
	} else if !c.Group.IsValid() {
		c.Group = connsync.Group
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
	to.PeerMessages += s.PeerMessages
	to.PeerConns += s.PeerConns
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
// backup, learns the connections it left, and installs what another
// master sends; BACKUP hands the master's own connections over to the
// master it yields to (handOverLocked) and starts the backup; INIT (the
// instance stopping) and FAULT stop both.
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
		if err := d.startLocked(r, f.SyncDaemon, instance); err != nil && !errors.Is(err, ErrDaemonRunning) {
			d.log.Error("sync: starting for a VRRP transition", "role", r, "vrrp_instance", instance, "err", err)
		}
	}
	switch s {
	case vrrp.Master:
		stop(SyncBackup)
		start(SyncMaster)
	case vrrp.Backup:
		d.handOverLocked()
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
	st := SyncStatus{Daemons: []SyncDaemonStatus{}, Master: d.goneM, Backup: d.goneB, HandOvers: d.handedOver}
	if r := d.master; r != nil {
		st.Daemons = append(st.Daemons, SyncDaemonStatus{Role: SyncMaster, Config: r.cfg, Since: r.since})
		addStats(&st.Master, r.m.Stats())
	}
	for _, r := range d.leaving {
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

// Close stops every daemon; a hand-over under way stops where it is.
func (d *SyncDaemons) Close() {
	d.stopHandovers()
	d.handovers.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range []SyncRole{SyncMaster, SyncBackup} {
		_ = d.stopLocked(r) // ErrNoDaemon only
	}
}
