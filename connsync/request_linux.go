package connsync

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// RequestDump sends a backup's dump request (see Request) to the group and
// port of cfg, from the interface, as a master's socket sends (so with the
// same TTL and source address). The daemon calls it when a backup starts,
// and may repeat it: a master folds requests that arrive while it dumps.
//
// With cfg.Peers the request goes to every peer, from an ephemeral port:
// the sync port is the backup's own socket's, and a second socket bound
// to it could take a datagram of the dump meant for that one.
func RequestDump(cfg DaemonConfig) error {
	if len(cfg.Peers) > 0 {
		return requestPeers(cfg)
	}
	m, err := NewMaster(cfg)
	if err != nil {
		return fmt.Errorf("sync dump request: %w", err)
	}
	defer m.Close()
	if _, err := unix.Write(m.fd, Request(m.cfg.SyncID)); err != nil {
		return fmt.Errorf("sync dump request on %s: %w", cfg.Interface, err)
	}
	return nil
}

// ServeRequests listens on the group and port of m's configuration, as a
// backup does, and calls dump for every dump request of m's sync ID (or 0)
// until ctx ends; other datagrams (another master's messages, which the
// same group carries) are ignored. dump must not block: it should only
// note the request (forwarder.SyncDumper.Request does). Each request is
// counted in m.Requests.
func (m *Master) ServeRequests(ctx context.Context, dump func()) error {
	return m.Serve(ctx, dump, nil)
}

// Serve is ServeRequests that also hands peer every entry of another
// master's messages of m's sync ID (a backup's installer:
// forwarder.Engine.InstallSync), counted in m.PeerMessages and
// m.PeerConns; peer nil ignores them as ServeRequests does. Two masters
// of one sync ID on a link are a split brain healing: the director that
// yields hands its connections over in a last full dump before its master
// stops, and the one that stays master learns them here, as IPVS runs a
// master and a backup daemon at once. A master never hears itself: its
// socket sends with the multicast loop off, and a datagram from its own
// address is ignored anyway.
//
// A unicast master (DaemonConfig.Peers) listens on its own socket, which
// is bound to the sync port for this.
func (m *Master) Serve(ctx context.Context, dump func(), peer func(*Conn)) error {
	pc, err := m.listener()
	if err != nil {
		return fmt.Errorf("sync dump requests: %w", err)
	}
	onReq := func() {
		m.Requests.Add(1)
		dump()
	}
	if peer == nil {
		return serveRequests(ctx, pc, m.cfg.SyncID, onReq, nil)
	}
	dec := Decoder{SyncID: m.cfg.SyncID}
	return serveRequests(ctx, pc, m.cfg.SyncID, onReq, func(b []byte, src netip.Addr) {
		if src == m.src {
			return
		}
		d, err := dec.Decode(b, peer)
		if err == nil && !d.Ignored {
			m.PeerMessages.Add(1)
			m.PeerConns.Add(uint64(d.Conns))
		}
	})
}

// listener is the socket Serve reads: a backup's on the group for a
// multicast master, the master's own for a unicast one.
func (m *Master) listener() (net.PacketConn, error) {
	if m.peers != nil {
		return m.ownConn()
	}
	cfg := m.cfg
	cfg.SyncID = 0 // take every message; IsRequest and the decoder filter
	l, err := NewBackup(cfg)
	if err != nil {
		return nil, err
	}
	return l.pc, nil
}

// serveRequests reads pc until ctx ends: dump requests of syncID go to
// fn, every other datagram to other (if set) with its source address.
func serveRequests(ctx context.Context, pc net.PacketConn, syncID uint8, fn func(), other func([]byte, netip.Addr)) error {
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(time.Unix(1, 0)) }) //nolint:errcheck // wakes the read
	defer stop()
	defer pc.Close()
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sync dump requests: %w", err)
		}
		switch {
		case IsRequest(buf[:n], syncID):
			fn()
		case other != nil:
			var src netip.Addr
			if ua, ok := from.(*net.UDPAddr); ok {
				src = ua.AddrPort().Addr().Unmap()
			}
			other(buf[:n], src)
		}
	}
}
