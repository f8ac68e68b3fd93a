package connsync

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// RequestDump sends a backup's dump request (see Request) to the group and
// port of cfg, from the interface, as a master's socket sends (so with the
// same TTL and source address). The daemon calls it when a backup starts,
// and may repeat it: a master folds requests that arrive while it dumps.
func RequestDump(cfg DaemonConfig) error {
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
	cfg := m.cfg
	cfg.SyncID = 0 // take every message; IsRequest filters
	l, err := NewBackup(cfg)
	if err != nil {
		return fmt.Errorf("sync dump requests: %w", err)
	}
	return serveRequests(ctx, l.pc, m.cfg.SyncID, func() {
		m.Requests.Add(1)
		dump()
	})
}

func serveRequests(ctx context.Context, pc net.PacketConn, syncID uint8, fn func()) error {
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(time.Unix(1, 0)) }) //nolint:errcheck // wakes the read
	defer stop()
	defer pc.Close()
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sync dump requests: %w", err)
		}
		if IsRequest(buf[:n], syncID) {
			fn()
		}
	}
}
