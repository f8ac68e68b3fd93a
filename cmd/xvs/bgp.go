package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/xvs-project/xvs/announce"
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/forwarder"
)

// bgpPoll is how often the announcer re-reads the services' health. A
// poll, not a callback: the announce decision depends on the engine's
// installed configuration (which xvsadm, reloads and the health engine's
// decisions all change) and on the checks' quorum, and reading both every
// 200 ms is cheap next to hooking every writer; a withdrawal is sent at
// most 200 ms after the decision, well inside the 1 s a router is given.
// Reloads and drains also evaluate at once.
const bgpPoll = 200 * time.Millisecond

// bgpFlush bounds how long a stopping daemon waits for its withdrawals to
// be sent before it closes the sessions; bgpLinger is how long it goes on
// forwarding after they are out, while the routers install their new
// routes (BIRD takes milliseconds; a router's FIB can take longer).
const (
	bgpFlush  = time.Second
	bgpLinger = 250 * time.Millisecond
)

// bgpAnnouncer runs the file's bgp: block: it announces each VIP while
// its service is healthy (announce.Wanted) and withdraws everything
// before the daemon stops. It is the control server's BGPControl.
type bgpAnnouncer struct {
	a   *announce.Announcer
	eng *forwarder.Engine
	sup *control.Supervisor
	log *slog.Logger

	kick chan struct{}

	mu      sync.Mutex
	file    *control.File // the file installed last: its Health names the checked services
	lastErr string
}

// startBGP starts the announcer when the file has a bgp: block; the
// sessions come up at once, the announcements once serve runs the poll.
func (d *daemon) startBGP() error {
	if d.file.BGP == nil {
		return nil
	}
	a, err := announce.Start(d.file.BGP, d.log)
	if err != nil {
		return err
	}
	d.bgp = &bgpAnnouncer{a: a, eng: d.eng, sup: d.sup, log: d.log, file: d.file, kick: make(chan struct{}, 1)}
	d.push(func() { a.Stop(0) })
	return nil
}

// run evaluates the health every bgpPoll and on every kick until ctx ends.
func (b *bgpAnnouncer) run(ctx context.Context) {
	t := time.NewTicker(bgpPoll)
	defer t.Stop()
	for {
		b.evaluate()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
	}
}

// evaluate announces what the health wants now; an error is logged once
// until it changes.
func (b *bgpAnnouncer) evaluate() {
	b.mu.Lock()
	f := b.file
	b.mu.Unlock()
	err := b.a.Set(announce.Wanted(b.eng.Config(), f.Health, b.sup.Services()))
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if msg != b.lastErr && msg != "" {
		b.log.Error("bgp announcement", "err", err)
	}
	b.lastErr = msg
}

func (b *bgpAnnouncer) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// reloaded takes a reload's file: its checked services at once, its
// neighbor changes in place; other bgp: changes wait for a restart, which
// every reload says while the file differs from what runs (as for VRRP).
func (b *bgpAnnouncer) reloaded(nf *control.File) {
	b.mu.Lock()
	b.file = nf
	b.mu.Unlock()
	restart, err := b.a.Reconfigure(nf.BGP)
	if err != nil {
		b.log.Error("bgp neighbor changes", "err", err)
	}
	if restart {
		b.log.Warn("bgp: changes other than neighbors take effect when xvs restarts (restart needed); the running speaker is unchanged")
	}
	b.poke()
}

// BGPStatus implements control.BGPControl.
func (b *bgpAnnouncer) BGPStatus() control.BGPStatus { return b.a.Status() }

// Drain implements control.BGPControl.
func (b *bgpAnnouncer) Drain(on bool) error { return b.a.Drain(on) }

// stop withdraws every prefix, waits (at most bgpFlush) until the
// withdrawals are sent, closes the sessions, and, if it withdrew
// anything, lets the engine forward bgpLinger longer.
func (b *bgpAnnouncer) stop() {
	had := len(b.a.Status().Announced) > 0
	b.a.Stop(bgpFlush)
	b.log.Info("bgp: prefixes withdrawn, sessions closed")
	if had {
		time.Sleep(bgpLinger)
	}
}
