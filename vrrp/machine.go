package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// State is an instance's VRRP state.
type State int

// States of RFC 5798 section 6.4.
const (
	Initialize State = iota
	Backup
	Master
	// Fault is keepalived's FAULT: a tracked object with weight 0 is down,
	// so the instance neither advertises nor takes over until it is back.
	Fault
)

// String returns keepalived's word for s.
func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Config is one VRRP instance (keepalived's vrrp_instance).
type Config struct {
	VRID     uint8
	Priority uint8         // 1..255; 255 owns the addresses
	Interval time.Duration // advert_int
	Version  int           // 2 or 3
	// NoPreempt keeps a backup from taking over from a master of lower
	// priority (keepalived's nopreempt). PreemptDelay, if set, only delays
	// that takeover until so long after Start (preempt_delay).
	NoPreempt    bool
	PreemptDelay time.Duration
	// Primary is this router's own address on the link: a master that
	// hears an equal priority from a higher address yields.
	Primary netip.Addr
}

// Action is what the daemon must do after an event, in order.
type Action int

// Actions.
const (
	// SendAdvert: multicast an advertisement with the configured priority.
	SendAdvert Action = iota + 1
	// SendStop: multicast an advertisement with priority 0 (leaving).
	SendStop
	// TakeAddrs: this router became master: add the virtual addresses and
	// announce them (gratuitous ARP, unsolicited neighbour advertisements).
	TakeAddrs
	// DropAddrs: this router is no longer master: remove the addresses.
	DropAddrs
	// Announce: announce the addresses again, as at a takeover: a master
	// heard a lower priority (a split brain healing), whose hosts may still
	// point at the other router (keepalived's vrrp_garp_lower_prio_repeat
	// and _delay).
	Announce
)

// Machine is one instance's state machine. It is not safe for concurrent
// use; the daemon serialises events per instance.
type Machine struct {
	cfg                 Config
	state               State
	started             time.Time
	masterAdverInterval time.Duration
	downAt, adverAt     time.Time
	// why is the reason of the last transition, downWhy the one the
	// master-down timer gives when it fires; master is the master's
	// address as last known (this router's own while it is master).
	why, downWhy string
	master       netip.Addr
	// Ignored counts adverts not for this instance or with an interval that
	// version 2 does not allow to differ.
	Ignored uint64
}

// NewMachine checks cfg and returns a machine in Initialize.
func NewMachine(cfg Config) (*Machine, error) {
	switch {
	case cfg.VRID == 0:
		return nil, fmt.Errorf("virtual_router_id 0: must be 1..255")
	case cfg.Priority == 0:
		return nil, fmt.Errorf("priority 0: must be 1..255")
	case cfg.Version != 2 && cfg.Version != 3:
		return nil, fmt.Errorf("version %d: must be 2 or 3", cfg.Version)
	case cfg.Version == 2 && cfg.Interval%time.Second != 0 || cfg.Interval <= 0:
		return nil, fmt.Errorf("advert_int %v: must be positive (whole seconds in version 2)", cfg.Interval)
	}
	return &Machine{cfg: cfg, masterAdverInterval: cfg.Interval}, nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Why says what caused the last transition ("no advertisement for
// Master_Down_Interval", "higher priority 200 from 198.18.0.3").
func (m *Machine) Why() string { return m.why }

// MasterAddr is the master's address as last known: this router's own
// while it is master, the sender of the adverts it follows while backup;
// invalid when unknown.
func (m *Machine) MasterAddr() netip.Addr { return m.master }

// Deadline is when Timer must next be called; zero in Initialize.
func (m *Machine) Deadline() time.Time {
	switch m.state {
	case Backup:
		return m.downAt
	case Master:
		return m.adverAt
	}
	return time.Time{}
}

// skew is Skew_Time: how much later than a higher priority this one's
// master-down timer fires.
func (m *Machine) skew() time.Duration {
	p := time.Duration(256 - int(m.cfg.Priority))
	if m.cfg.Version == 2 {
		return p * time.Second / 256 // RFC 3768: in seconds, whatever the interval
	}
	return p * m.masterAdverInterval / 256
}

// masterDown is Master_Down_Interval.
func (m *Machine) masterDown() time.Duration { return 3*m.masterAdverInterval + m.skew() }

// Start leaves Initialize: the address owner becomes master at once, any
// other router backup until it has heard nothing for Master_Down_Interval
// (keepalived: even with `state MASTER`).
func (m *Machine) Start(now time.Time) []Action {
	m.started = now
	m.masterAdverInterval = m.cfg.Interval
	if m.cfg.Priority == OwnerPriority {
		return m.becomeMaster(now, "address owner (priority 255)")
	}
	m.state, m.why, m.master = Backup, "started", netip.Addr{}
	m.setDown(now, m.masterDown(), "no advertisement for Master_Down_Interval")
	return nil
}

// setDown arms the master-down timer to fire after d, for reason why.
func (m *Machine) setDown(now time.Time, d time.Duration, why string) {
	m.downAt, m.downWhy = now.Add(d), why
}

func (m *Machine) becomeMaster(now time.Time, why string) []Action {
	m.state, m.why, m.master = Master, why, m.cfg.Primary
	m.adverAt = now.Add(m.cfg.Interval)
	return []Action{SendAdvert, TakeAddrs}
}

// Timer handles the expiry of Deadline: a backup that heard no master
// takes over; a master advertises again.
func (m *Machine) Timer(now time.Time) []Action {
	switch m.state {
	case Backup:
		if !now.Before(m.downAt) {
			return m.becomeMaster(now, m.downWhy)
		}
	case Master:
		if !now.Before(m.adverAt) {
			m.adverAt = now.Add(m.cfg.Interval)
			return []Action{SendAdvert}
		}
	}
	return nil
}

// Advert handles a received advertisement a (already checked by Parse)
// from src.
func (m *Machine) Advert(now time.Time, a *Advert, src netip.Addr) []Action {
	if a.VRID != m.cfg.VRID || a.Version != m.cfg.Version ||
		(m.cfg.Version == 2 && a.Interval != m.cfg.Interval) {
		m.Ignored++
		return nil
	}
	switch m.state {
	case Backup:
		switch {
		case a.Priority == StopPriority:
			m.setDown(now, m.skew(), "priority-0 advertisement from "+src.String())
		case m.cfg.NoPreempt || a.Priority >= m.cfg.Priority || now.Before(m.started.Add(m.cfg.PreemptDelay)):
			if m.cfg.Version == 3 {
				m.masterAdverInterval = a.Interval
			}
			m.master = src
			m.setDown(now, m.masterDown(), "no advertisement for Master_Down_Interval")
		default:
			// Lower than ours: ignored, so the timer runs out and this
			// router preempts.
			m.downWhy = fmt.Sprintf("preempting %s (priority %d < %d)", src, a.Priority, m.cfg.Priority)
		}
	case Master:
		switch {
		case a.Priority == StopPriority:
			m.adverAt = now.Add(m.cfg.Interval)
			return []Action{SendAdvert}
		case a.Priority > m.cfg.Priority || (a.Priority == m.cfg.Priority && m.cfg.Primary.Less(src)):
			m.state, m.master = Backup, src
			m.why = fmt.Sprintf("higher priority %d from %s", a.Priority, src)
			if a.Priority == m.cfg.Priority {
				m.why = fmt.Sprintf("equal priority from higher address %s", src)
			}
			if m.cfg.Version == 3 {
				m.masterAdverInterval = a.Interval
			}
			m.setDown(now, m.masterDown(), "no advertisement for Master_Down_Interval")
			// One last advert, of the priority it yields with: in a split
			// brain that heals, this router may hear the other's advert
			// before it sent one of its own, and the other, never hearing
			// a lower priority, would not announce its addresses, leaving
			// the hosts pointed here (keepalived has that race). The
			// advert makes it answer as it answers any lower priority,
			// with announcements; a peer that is a backup ignores it.
			return []Action{SendAdvert, DropAddrs}
		default:
			// A lower priority: the other router believes it is master
			// (a split brain ends). Tell it, and the hosts, at once.
			m.adverAt = now.Add(m.cfg.Interval)
			return []Action{SendAdvert, Announce}
		}
	}
	return nil
}

// Priority is the priority the instance advertises now: the configured
// one, moved by tracking (Track).
func (m *Machine) Priority() uint8 { return m.cfg.Priority }

// Track applies what tracking says (keepalived's track_interface and
// track_script): prio is the priority from now on (1..254; an address
// owner's 255 is not tracked), fault that a weight-0 object is down. A
// master that faults says it is leaving and drops the addresses; one that
// recovers is a backup again, with a fresh Master_Down_Interval. A master
// whose priority changed advertises it at once, so a backup that now
// outranks it preempts without waiting for the next interval.
func (m *Machine) Track(now time.Time, prio uint8, fault bool) []Action {
	if m.cfg.Priority != OwnerPriority && prio >= 1 && prio < OwnerPriority {
		changed := prio != m.cfg.Priority
		m.cfg.Priority = prio
		if changed && m.state == Master && !fault {
			m.adverAt = now.Add(m.cfg.Interval)
			return []Action{SendAdvert}
		}
	}
	switch {
	case fault && m.state == Master:
		m.state, m.why, m.master = Fault, "tracked object down (weight 0)", netip.Addr{}
		return []Action{SendStop, DropAddrs}
	case fault && m.state == Backup:
		m.state, m.why, m.master = Fault, "tracked object down (weight 0)", netip.Addr{}
	case !fault && m.state == Fault:
		m.state, m.why = Backup, "tracked objects up"
		m.masterAdverInterval = m.cfg.Interval
		m.setDown(now, m.masterDown(), "no advertisement for Master_Down_Interval")
	}
	return nil
}

// Stop returns to Initialize; a master first says it is leaving, so that a
// backup takes over after Skew_Time instead of Master_Down_Interval.
func (m *Machine) Stop() []Action {
	was := m.state
	m.state, m.why, m.master = Initialize, "stopped", netip.Addr{}
	if was == Master {
		return []Action{SendStop, DropAddrs}
	}
	return nil
}
