package announce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/xvs-project/xvs/control"
)

// connectRetry is how long a session waits between connection attempts
// (GoBGP's default is 120 s, long for a director whose router restarts).
const connectRetry = 5

// Announcer is one embedded BGP speaker. Its methods are safe to call
// from several goroutines (the control socket, the reload, the health
// poll).
type Announcer struct {
	s   *server.BgpServer
	log *slog.Logger

	// stopWatch ends the peer-event watcher.
	stopWatch context.CancelFunc

	mu      sync.Mutex
	cfg     *control.BGPConfig
	healthy []netip.Prefix
	drained bool
	stopped bool
	// paths are the prefixes in GoBGP's table, by the id AddPath gave.
	paths map[netip.Prefix]uuid.UUID
	// lastErr is each neighbor's last reason to leave established;
	// logged the last state change logged for it (see onPeer).
	lastErr, logged map[netip.Addr]string
}

// Start starts the speaker with cfg's sessions; nothing is announced
// until Set. log receives one line per session state change; GoBGP's own
// lines go there too, from Warn up.
func Start(cfg *control.BGPConfig, log *slog.Logger) (*Announcer, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "bgp")
	lvl := new(slog.LevelVar)
	lvl.Set(slog.LevelWarn)
	gl := slog.New(minLevel{h: log.Handler(), min: lvl})
	s := server.NewBgpServer(server.LoggerOption(gl, lvl))
	go s.Serve()
	a := &Announcer{s: s, log: log, cfg: cfg, paths: map[netip.Prefix]uuid.UUID{}, lastErr: map[netip.Addr]string{}, logged: map[netip.Addr]string{}}
	ctx := context.Background()
	listen := int32(-1) // no listener unless a passive neighbor needs one
	if cfg.ListenPort != 0 {
		listen = int32(cfg.ListenPort)
	}
	err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: cfg.RouterID.String(), ListenPort: listen,
	}})
	if err != nil {
		return nil, fmt.Errorf("bgp: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	a.stopWatch = cancel
	if err := s.WatchEvent(wctx, server.WatchEventMessageCallbacks{OnPeerUpdate: a.onPeer}, server.WatchPeer()); err != nil {
		cancel()
		s.Stop()
		return nil, fmt.Errorf("bgp: %w", err)
	}
	for _, nb := range cfg.Neighbors {
		if err := a.addPeer(nb); err != nil {
			a.Stop(0)
			return nil, err
		}
	}
	return a, nil
}

func (a *Announcer) addPeer(nb control.BGPNeighbor) error {
	hold := uint64(nb.HoldTime / time.Second)
	families := []*api.AfiSafi{
		{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
		{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
	}
	err := a.s.AddPeer(context.Background(), &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: nb.Address.String(), PeerAsn: nb.ASN},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: connectRetry, HoldTime: hold, KeepaliveInterval: hold / 3}},
		Transport: &api.Transport{PassiveMode: nb.Passive, RemotePort: uint32(nb.Port)},
		AfiSafis:  families,
	}})
	if err != nil {
		return fmt.Errorf("bgp: neighbor %s: %w", nb.Address, err)
	}
	return nil
}

// onPeer logs a session's state changes: its coming up, and its going
// down with the reason, each once until the next change, so a router that
// refuses every try (a wrong AS) gives one line, not one per retry, and an
// unreachable one (it never gets past connect) none but Debug's.
func (a *Announcer) onPeer(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	addr := st.NeighborAddress
	state := stateName(st.SessionState)
	why := st.DisconnectMessage
	if why == "" && st.DisconnectReason != api.PeerState_DISCONNECT_REASON_UNSPECIFIED {
		why = st.DisconnectReason.String()
	}
	line := ""
	switch {
	case st.SessionState == bgp.BGP_FSM_ESTABLISHED:
		line = "established"
	case why != "" && st.SessionState == bgp.BGP_FSM_IDLE:
		line = "down: " + why
	}
	a.mu.Lock()
	if why != "" && st.SessionState == bgp.BGP_FSM_IDLE {
		a.lastErr[addr] = why // why it fell; the later states' reasons are timers
	}
	repeat := line == "" || a.logged[addr] == line
	if line != "" {
		a.logged[addr] = line
	}
	a.mu.Unlock()
	switch {
	case repeat:
		a.log.Debug("bgp session state", "peer", addr, "state", state, "reason", why)
	case line == "established":
		a.log.Info("bgp session established", "peer", addr, "asn", st.PeerASN)
	default:
		a.log.Warn("bgp session down", "peer", addr, "state", state, "reason", why)
	}
}

// stateName is an FSM state in RFC 4271's words, lower case
// (control.BGPStates is them in bgp.FSMState's order).
func stateName(s bgp.FSMState) string {
	if int(s) < len(control.BGPStates) {
		return control.BGPStates[s]
	}
	return "unknown"
}

// apiStateName is stateName for the API's numbering, which starts at 1
// (0 is "unspecified").
func apiStateName(s api.PeerState_SessionState) string {
	if s == api.PeerState_SESSION_STATE_UNSPECIFIED {
		return "idle"
	}
	return stateName(bgp.FSMState(s - api.PeerState_SESSION_STATE_IDLE))
}

// Set makes prefixes (the healthy VIPs, see Wanted) the announced set:
// new ones are announced, gone ones withdrawn. While drained it only
// remembers them. It returns when GoBGP has the change.
func (a *Announcer) Set(prefixes []netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.healthy = slices.Clone(prefixes)
	slices.SortFunc(a.healthy, comparePrefix)
	return a.syncLocked()
}

// Drain withdraws every prefix and keeps them withdrawn (on), or
// announces the healthy ones again (off).
func (a *Announcer) Drain(on bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.drained != on {
		a.log.Info("bgp drain", "on", on)
	}
	a.drained = on
	return a.syncLocked()
}

// syncLocked brings GoBGP's table to what healthy and drained say; a.mu
// is held.
func (a *Announcer) syncLocked() error {
	if a.stopped {
		return nil
	}
	want := map[netip.Prefix]bool{}
	if !a.drained {
		for _, p := range a.healthy {
			want[p] = true
		}
	}
	var errs []error
	for p, id := range a.paths {
		if want[p] {
			continue
		}
		if err := a.s.DeletePath(apiutil.DeletePathRequest{UUIDs: []uuid.UUID{id}}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: withdrawing %s: %w", p, err))
			continue
		}
		delete(a.paths, p)
		a.log.Info("bgp withdraw", "prefix", p)
	}
	for _, p := range a.healthy {
		if _, ok := a.paths[p]; ok || !want[p] {
			continue
		}
		path, err := a.path(p)
		if err == nil {
			var res []apiutil.AddPathResponse
			res, err = a.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path}})
			if err == nil {
				a.paths[p] = res[0].UUID
				a.log.Info("bgp announce", "prefix", p)
				continue
			}
		}
		errs = append(errs, fmt.Errorf("bgp: announcing %s: %w", p, err))
	}
	return errors.Join(errs...)
}

// path is p as GoBGP's table holds it: origin IGP, the configured next
// hop or the unspecified address (GoBGP sends each session's local
// address for it), and the block's MED and communities.
func (a *Announcer) path(p netip.Prefix) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(p)
	if err != nil {
		return nil, err
	}
	v4 := p.Addr().Is4()
	nh := netip.IPv6Unspecified()
	if v4 {
		nh = netip.IPv4Unspecified()
	}
	if v4 && a.cfg.NextHop4.IsValid() {
		nh = a.cfg.NextHop4
	} else if !v4 && a.cfg.NextHop6.IsValid() {
		nh = a.cfg.NextHop6
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	fam := bgp.RF_IPv4_UC
	if v4 {
		nha, err := bgp.NewPathAttributeNextHop(nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nha)
	} else {
		fam = bgp.RF_IPv6_UC
		mp, err := bgp.NewPathAttributeMpReachNLRI(fam, []bgp.PathNLRI{{NLRI: nlri}}, nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, mp)
	}
	if a.cfg.MED != nil {
		attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(*a.cfg.MED))
	}
	if len(a.cfg.Communities) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(slices.Clone(a.cfg.Communities)))
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs}, nil
}

// Reconfigure applies a reload's bgp: block. Neighbors added or removed
// (or changed, which is both) are applied at once; any other change
// needs a restart, which restart says (and nothing is changed then). The
// running block again changes nothing.
func (a *Announcer) Reconfigure(cfg *control.BGPConfig) (restart bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return false, nil
	}
	if cfg == nil || !control.SameBGPGlobal(a.cfg, cfg) {
		return true, nil
	}
	var errs []error
	for _, old := range a.cfg.Neighbors {
		if !slices.Contains(cfg.Neighbors, old) {
			if err := a.s.DeletePeer(context.Background(), &api.DeletePeerRequest{Address: old.Address.String()}); err != nil {
				errs = append(errs, fmt.Errorf("bgp: removing neighbor %s: %w", old.Address, err))
			} else {
				a.log.Info("bgp neighbor removed", "peer", old.Address)
			}
		}
	}
	for _, nb := range cfg.Neighbors {
		if !slices.Contains(a.cfg.Neighbors, nb) {
			if err := a.addPeer(nb); err != nil {
				errs = append(errs, err)
			} else {
				a.log.Info("bgp neighbor added", "peer", nb.Address, "asn", nb.ASN)
			}
		}
	}
	a.cfg = cfg
	return false, errors.Join(errs...)
}

// Status returns the sessions and the prefixes.
func (a *Announcer) Status() control.BGPStatus {
	a.mu.Lock()
	st := control.BGPStatus{ASN: a.cfg.ASN, RouterID: a.cfg.RouterID, Drained: a.drained,
		Healthy: slices.Clone(a.healthy), Announced: []netip.Prefix{}, Peers: []control.BGPPeerStatus{}}
	if st.Healthy == nil {
		st.Healthy = []netip.Prefix{}
	}
	for p := range a.paths {
		st.Announced = append(st.Announced, p)
	}
	lastErr := make(map[netip.Addr]string, len(a.lastErr))
	for k, v := range a.lastErr {
		lastErr[k] = v
	}
	stopped := a.stopped
	a.mu.Unlock()
	slices.SortFunc(st.Announced, comparePrefix)
	if stopped {
		return st
	}
	_ = a.s.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		ps := control.BGPPeerStatus{}
		if p.Conf != nil {
			ps.Address, _ = netip.ParseAddr(p.Conf.NeighborAddress)
			ps.ASN = p.Conf.PeerAsn
		}
		if p.Transport != nil {
			ps.Port = uint16(p.Transport.RemotePort)
		}
		if p.State != nil {
			ps.State = apiStateName(p.State.SessionState)
			ps.Flops = uint64(p.State.Flops)
			if m := p.State.Messages; m != nil && m.Sent != nil {
				ps.UpdatesSent = m.Sent.Update
			}
		}
		if ps.State == "established" && p.Timers != nil && p.Timers.State != nil && p.Timers.State.Uptime != nil {
			ps.Up = p.Timers.State.Uptime.AsTime()
		}
		for _, af := range p.AfiSafis {
			if af.State != nil {
				ps.PrefixesSent += af.State.Advertised
			}
		}
		ps.LastError = lastErr[ps.Address]
		st.Peers = append(st.Peers, ps)
	})
	slices.SortFunc(st.Peers, func(x, y control.BGPPeerStatus) int { return x.Address.Compare(y.Address) })
	return st
}

// Stop withdraws every prefix, waits until each established session has
// sent the withdrawal (its UPDATE count moves) or flush has passed, and
// stops the speaker, closing the sessions. It is what a graceful exit
// runs, so routers move the VIPs' traffic before the director goes.
func (a *Announcer) Stop(flush time.Duration) {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	before := a.sentUpdates()
	had := len(a.paths) > 0
	a.drained = true
	err := a.syncLocked()
	a.stopped = true
	a.mu.Unlock()
	if err != nil {
		a.log.Warn("bgp: withdrawing before exit", "err", err)
	}
	if had && flush > 0 {
		deadline := time.Now().Add(flush)
		for !a.withdrawalsSent(before) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	a.stopWatch()
	a.s.Stop() // StopBgp: a Cease to every peer, then the sessions close
}

// sentUpdates is every established session's UPDATE count and how many
// prefixes it holds from us.
func (a *Announcer) sentUpdates() map[string][2]uint64 {
	out := map[string][2]uint64{}
	_ = a.s.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		if p.Conf == nil || p.State == nil || p.State.SessionState != api.PeerState_SESSION_STATE_ESTABLISHED {
			return
		}
		var n [2]uint64
		if m := p.State.Messages; m != nil && m.Sent != nil {
			n[0] = m.Sent.Update
		}
		for _, af := range p.AfiSafis {
			if af.State != nil {
				n[1] += af.State.Advertised
			}
		}
		out[p.Conf.NeighborAddress] = n
	})
	return out
}

// withdrawalsSent says every session that held prefixes in before has
// sent an UPDATE since, or is no longer established.
func (a *Announcer) withdrawalsSent(before map[string][2]uint64) bool {
	now := a.sentUpdates()
	for addr, b := range before {
		n, ok := now[addr]
		if ok && b[1] > 0 && n[0] <= b[0] {
			return false
		}
	}
	return true
}

// minLevel passes on the records of h from min up: GoBGP's Info lines
// (one per connection attempt and message kind) would drown the daemon's.
type minLevel struct {
	h   slog.Handler
	min *slog.LevelVar
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min.Level() && m.h.Enabled(ctx, l)
}

func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(as), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h: m.h.WithGroup(name), min: m.min}
}
