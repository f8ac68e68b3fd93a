package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// Instance is one vrrp_instance as the daemon runs it.
type Instance struct {
	// Name is the instance's name (keepalived's VI_1), for logs and
	// notify scripts.
	Name string
	// Interface carries the advertisements and the virtual addresses.
	Interface string
	Config
	// VIPs are the virtual addresses (virtual_ipaddress), all of one
	// family; IPv6 instances speak version 3.
	VIPs []netip.Prefix
	// V3ChecksumAsV2 leaves the pseudo-header out of IPv4 version 3
	// checksums (keepalived's v3_checksum_as_v2); both are accepted.
	V3ChecksumAsV2 bool
	// UnicastPeers, if any, replace the multicast group: adverts go to
	// each peer, and only adverts from a peer are heard (keepalived's
	// unicast_peer, for networks that do not carry multicast).
	UnicastPeers []netip.Addr
	// AuthPass is version 2's auth_pass (PASS authentication), up to 8
	// bytes; empty for none.
	AuthPass string
	// GARPRepeat and GARPDelay: a new master sends GARPRepeat gratuitous
	// ARPs (or neighbour advertisements) per address at once and as many
	// again GARPDelay later (vrrp_garp_master_repeat 5, _delay 5 s); a
	// negative GARPDelay sends no second burst.
	GARPRepeat int
	GARPDelay  time.Duration
	// GARPRefresh, if positive, repeats the announcements (one per
	// address) this often while master (garp_master_refresh), for
	// switches and hosts that age ARP entries out.
	GARPRefresh time.Duration
	// Tracks move the priority, or put the instance in FAULT, while
	// tracked interfaces or scripts are down (track_interface,
	// track_script).
	Tracks []Track
	// NetNS is the path of the network namespace the instance runs in
	// (/run/netns/NAME); empty for the daemon's own.
	NetNS string
	// OnState, if set, is called after every state change (notify
	// scripts, starting and stopping the sync daemon).
	OnState func(State)
	// OnMaster, if set, is called when the instance becomes MASTER, before
	// its addresses are added and announced, and when it stops being
	// MASTER, before they are removed: the daemon opens and closes its
	// services' standby gate there, so no client sent here by the
	// announcement finds the gate still closed.
	OnMaster func(master bool)
	// Log receives a line per transition and per discarded advert kind;
	// nil logs nothing.
	Log *slog.Logger
}

// Status is what an operator sees of a running instance.
type Status struct {
	Name     string
	State    State
	Priority uint8
	Since    time.Time
	// Master is the master's address as last known (this router's own
	// while master); Why what caused the last transition.
	Master    netip.Addr
	Why       string
	Sent      uint64
	Received  uint64
	Discarded map[string]uint64
}

// Speaker runs one Instance: its socket, its state machine, its addresses.
type Speaker struct {
	in   Instance
	m    *Machine
	conn *conn
	addr *addrs

	buf []byte // the advert being sent
	// pending is tracking's latest word, for Run to apply.
	pending atomic.Pointer[trackResult]
	// announce is Announce's request, for Run to carry out.
	announce atomic.Bool
	// refreshAt is when a master next repeats its announcements
	// (GARPRefresh); zero when not master. Only Run's goroutine uses it.
	refreshAt time.Time

	mu     sync.Mutex
	status Status
}

// NewSpeaker checks in, opens the socket and the address handle. Nothing
// is sent and no address is touched until Run.
func NewSpeaker(in Instance) (*Speaker, error) {
	if len(in.VIPs) == 0 {
		return nil, fmt.Errorf("vrrp_instance %s: no virtual_ipaddress", in.Name)
	}
	v6 := flow.IsIPv6(in.VIPs[0].Addr())
	for _, p := range in.VIPs {
		if flow.IsIPv6(p.Addr()) != v6 {
			return nil, fmt.Errorf("vrrp_instance %s: virtual addresses of both families (%v)", in.Name, p)
		}
	}
	if v6 && in.Version == 2 {
		return nil, fmt.Errorf("vrrp_instance %s: version 2 cannot carry IPv6", in.Name)
	}
	if len(in.AuthPass) > authLen {
		return nil, fmt.Errorf("vrrp_instance %s: auth_pass longer than 8 bytes", in.Name)
	}
	if in.GARPRepeat == 0 {
		in.GARPRepeat = 5
	}
	if in.GARPDelay == 0 {
		in.GARPDelay = 5 * time.Second
	}
	in.Tracks = slices.Clone(in.Tracks)
	for i := range in.Tracks {
		tr := &in.Tracks[i]
		if (tr.Interface == "") == (len(tr.Script) == 0) {
			return nil, fmt.Errorf("vrrp_instance %s: a tracked object is an interface or a script", in.Name)
		}
		if tr.Interval <= 0 {
			tr.Interval = time.Second
		}
		if tr.Timeout <= 0 {
			tr.Timeout = tr.Interval
		}
	}
	a, err := openAddrs(in.NetNS, in.Interface, v6)
	if err != nil {
		return nil, fmt.Errorf("vrrp_instance %s: %w", in.Name, err)
	}
	if !in.Primary.IsValid() {
		in.Primary = a.primary
	}
	if !in.Primary.IsValid() {
		a.close()
		return nil, fmt.Errorf("vrrp_instance %s: %s has no address to advertise from", in.Name, in.Interface)
	}
	m, err := NewMachine(in.Config)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("vrrp_instance %s: %w", in.Name, err)
	}
	c, err := openConn(in.NetNS, in.Interface, v6, in.Primary)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("vrrp_instance %s: %w", in.Name, err)
	}
	return &Speaker{in: in, m: m, conn: c, addr: a,
		status: Status{Name: in.Name, Priority: in.Priority, Discarded: map[string]uint64{}}}, nil
}

// post hands tracking's new word to Run and wakes its read.
func (s *Speaker) post(r trackResult) {
	s.pending.Store(&r)
	s.conn.pc.SetReadDeadline(time.Unix(1, 0)) //nolint:errcheck // wakes the read
}

// hasPending says tracking has a word Run has not applied: recv checks it
// after setting its deadline, so a post just before is not lost.
func (s *Speaker) hasPending() bool { return s.pending.Load() != nil || s.announce.Load() }

// Announce asks the speaker, if it is master, to announce its addresses
// again as when it hears a lower priority (a burst now, another after
// GARPDelay); a backup ignores it. It never blocks. The daemon calls it
// when another director says it has just become backup (its sync dump
// request): in a split brain that heals, the router that yields may hear
// the other's advert before sending its own, and the master then never
// hears the lower priority that makes it announce, while hosts still
// point at the one that yielded.
func (s *Speaker) Announce() {
	s.announce.Store(true)
	s.conn.pc.SetReadDeadline(time.Unix(1, 0)) //nolint:errcheck // wakes the read
}

// Close releases a speaker that will not Run (Run releases its own).
func (s *Speaker) Close() {
	s.conn.close()
	s.addr.close()
}

// Status returns a copy of the instance's status.
func (s *Speaker) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Discarded = make(map[string]uint64, len(s.status.Discarded))
	for k, v := range s.status.Discarded {
		st.Discarded[k] = v
	}
	return st
}

// Run speaks VRRP until ctx ends; then a master says it is leaving and
// drops its addresses. It returns nil after a clean stop.
func (s *Speaker) Run(ctx context.Context) error {
	defer s.addr.close()
	defer s.conn.close()
	// A deadline in the past wakes the read; the loop then sees ctx.
	stop := context.AfterFunc(ctx, func() { s.conn.pc.SetReadDeadline(time.Unix(1, 0)) }) //nolint:errcheck
	defer stop()

	var a Advert
	buf := make([]byte, 1500)
	var garpAt time.Time // the second burst of announcements
	start := time.Now()
	var initial trackResult
	if len(s.in.Tracks) > 0 {
		t := newTracker(s)
		initial = t.effective(s.in.Priority)
		s.m.Track(start, initial.prio, false) // the priority Start's timers use
		go t.run(ctx)
	}
	s.do(s.m.Start(start), &garpAt)
	if initial.fault {
		s.do(s.m.Track(start, initial.prio, true), &garpAt)
	}
	for ctx.Err() == nil {
		deadline := s.m.Deadline()
		for _, at := range []time.Time{garpAt, s.refreshAt} {
			if !at.IsZero() && at.Before(deadline) {
				deadline = at
			}
		}
		msg, src, dst, ttl, err := s.conn.recv(ctx, buf, deadline, s.hasPending)
		now := time.Now()
		if ctx.Err() != nil {
			break
		}
		if r := s.pending.Swap(nil); r != nil {
			s.do(s.m.Track(now, r.prio, r.fault), &garpAt)
		}
		if s.announce.Swap(false) && s.m.State() == Master {
			s.reannounce(&garpAt, "another director became backup")
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				s.discard("read-error")
				continue
			}
			if !garpAt.IsZero() && !now.Before(garpAt) {
				garpAt = time.Time{}
				if s.m.State() == Master {
					s.addr.announce(s.in.VIPs, s.in.GARPRepeat)
				}
			}
			if !s.refreshAt.IsZero() && !now.Before(s.refreshAt) {
				s.refreshAt = now.Add(s.in.GARPRefresh)
				s.addr.announce(s.in.VIPs, 1)
			}
			s.do(s.m.Timer(now), &garpAt)
			continue
		}
		if len(s.in.UnicastPeers) > 0 {
			if !slices.Contains(s.in.UnicastPeers, src) {
				s.discard("not-a-peer")
				continue
			}
		} else if dst.IsValid() && dst != s.conn.group {
			s.discard("not-to-group")
			continue
		}
		if !dst.IsValid() {
			dst = s.conn.group
		}
		if err := Parse(&a, msg, src, dst, ttl); err != nil {
			s.discard(reasonOf(err))
			continue
		}
		if a.VRID != s.in.VRID {
			s.discard("other-vrid") // another router's instance on the same link
			continue
		}
		if reason := s.checkAdvert(&a); reason != "" {
			s.discard(reason)
			continue
		}
		s.mu.Lock()
		s.status.Received++
		s.mu.Unlock()
		s.do(s.m.Advert(now, &a, src), &garpAt)
	}
	s.do(s.m.Stop(), &garpAt)
	return nil
}

// checkAdvert is keepalived's check of an advertisement for this instance:
// the same version, authentication and virtual addresses.
func (s *Speaker) checkAdvert(a *Advert) string {
	if a.Version != s.in.Version {
		return "version-mismatch"
	}
	if a.Version == 2 {
		want := s.auth()
		if (s.in.AuthPass == "") != (a.AuthType == AuthNone) || (s.in.AuthPass != "" && a.Auth != want) {
			return "auth-mismatch"
		}
	}
	if len(a.Addrs) != len(s.in.VIPs) {
		return "address-count"
	}
	for _, p := range s.in.VIPs {
		if !slices.Contains(a.Addrs, p.Addr()) {
			return "address-mismatch"
		}
	}
	return ""
}

func (s *Speaker) auth() (b [authLen]byte) {
	copy(b[:], s.in.AuthPass)
	return b
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrTTL):
		return "ttl"
	case errors.Is(err, ErrChecksum):
		return "checksum"
	case errors.Is(err, ErrVersion):
		return "version"
	case errors.Is(err, ErrCount), errors.Is(err, ErrShort):
		return "length"
	}
	return "malformed"
}

func (s *Speaker) discard(reason string) {
	s.mu.Lock()
	s.status.Discarded[reason]++
	n := s.status.Discarded[reason]
	s.mu.Unlock()
	if s.in.Log != nil && n&(n-1) == 0 { // 1st, 2nd, 4th, 8th …: never a flood
		s.in.Log.Warn("vrrp advert discarded", "instance", s.in.Name, "reason", reason, "count", n)
	}
}

// do carries out the machine's actions in order.
func (s *Speaker) do(acts []Action, garpAt *time.Time) {
	s.mu.Lock()
	before := s.status.State
	s.mu.Unlock()
	if m := s.m.State() == Master; m != (before == Master) && s.in.OnMaster != nil {
		s.in.OnMaster(m)
	}
	for _, act := range acts {
		switch act {
		case SendAdvert, SendStop:
			prio := s.m.Priority()
			if act == SendStop {
				prio = StopPriority
			}
			s.send(prio)
		case TakeAddrs:
			if err := s.addr.add(s.in.VIPs); err != nil && s.in.Log != nil {
				s.in.Log.Error("vrrp: adding virtual addresses", "instance", s.in.Name, "err", err)
			}
			s.addr.announce(s.in.VIPs, s.in.GARPRepeat)
			if s.in.GARPDelay > 0 {
				*garpAt = time.Now().Add(s.in.GARPDelay)
			}
			if s.in.GARPRefresh > 0 {
				s.refreshAt = time.Now().Add(s.in.GARPRefresh)
			}
		case Announce:
			s.reannounce(garpAt, "a lower priority was heard")
		case DropAddrs:
			if err := s.addr.del(s.in.VIPs); err != nil && s.in.Log != nil {
				s.in.Log.Error("vrrp: removing virtual addresses", "instance", s.in.Name, "err", err)
			}
			*garpAt = time.Time{}
			s.refreshAt = time.Time{}
		}
	}
	now := s.m.State()
	s.mu.Lock()
	s.status.Priority, s.status.Master = s.m.Priority(), s.m.MasterAddr()
	s.mu.Unlock()
	if now == before {
		return
	}
	s.mu.Lock()
	s.status.State, s.status.Since, s.status.Why = now, time.Now(), s.m.Why()
	s.mu.Unlock()
	if s.in.Log != nil {
		s.in.Log.Info("vrrp transition", "instance", s.in.Name, "from", before.String(), "to", now.String(), "why", s.m.Why())
	}
	if s.in.OnState != nil {
		s.in.OnState(now)
	}
}

// reannounce announces the addresses as at a takeover: a burst now and
// another after GARPDelay, which lands past the hosts' neighbour locktime
// (1 s) should the other router's last announcement have just reset it.
func (s *Speaker) reannounce(garpAt *time.Time, why string) {
	s.addr.announce(s.in.VIPs, s.in.GARPRepeat)
	if s.in.GARPDelay > 0 && garpAt.IsZero() {
		*garpAt = time.Now().Add(s.in.GARPDelay)
	}
	if s.in.Log != nil {
		s.in.Log.Info("vrrp announcing the addresses again", "instance", s.in.Name, "why", why)
	}
}

func (s *Speaker) send(prio uint8) {
	a := Advert{Version: s.in.Version, VRID: s.in.VRID, Priority: prio, Interval: s.in.Interval}
	if s.in.Version == 2 && s.in.AuthPass != "" {
		a.AuthType, a.Auth = AuthPass, s.auth()
	}
	for _, p := range s.in.VIPs {
		a.Addrs = append(a.Addrs, p.Addr())
	}
	dsts := s.in.UnicastPeers
	if len(dsts) == 0 {
		dsts = []netip.Addr{s.conn.group}
	}
	for _, dst := range dsts {
		// The version 3 checksum covers the destination: one message each.
		msg, err := Marshal(s.buf[:0], &a, s.in.Primary, dst, s.in.V3ChecksumAsV2)
		s.buf = msg
		if err == nil {
			err = s.conn.send(msg, dst)
		}
		if err != nil {
			s.discard("send-error")
			continue
		}
		s.mu.Lock()
		s.status.Sent++
		s.mu.Unlock()
	}
}
