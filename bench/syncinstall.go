package bench

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/flow"
)

// The backup's install rate (issue 13's third row): a real `xvs run` with
// xvs-nat's services and a sync backup on the director's client-side
// interface, fed by the bench, which writes sync datagrams from the
// generator's namespace through a connsync.Master (the daemon's own
// writer, so the datagrams are the kernel's format): Options.SyncInstall
// ESTABLISHED TCP entries to the VIP's port 80, one new client each,
// round robin over the real servers, at each of Options.SyncRates entries
// a second in turn (0: as fast as the socket takes them). The daemon's
// engine counts what it installs (control.Client.Sync's Engine figures).

// InstallResult is one offer of sync entries to a backup daemon.
type InstallResult struct {
	Round int
	// Rate is the offered rate in entries per second (0: unpaced);
	// Offered the entries written, Datagrams their datagrams, Lost the
	// datagrams the sending socket refused, SendTime how long writing
	// took.
	Rate      float64
	Offered   uint64
	Datagrams uint64
	Lost      uint64
	SendTime  time.Duration
	// Received, Installed, Updated and Refused are the backup daemon's
	// engine counts of this offer; Window runs from the first datagram
	// written to the last entry the engine took (its LastReceived).
	Received, Installed, Updated, Refused uint64
	Window                                time.Duration
	// Datagrams the backup's socket delivered (connsync.Stats.Received)
	// and those the director's kernel dropped for a full receive buffer
	// (UDP RcvbufErrors of /proc/net/snmp in its namespace).
	RecvDatagrams, RcvbufErrors uint64
	Err                         string `json:",omitempty"`
}

// OfferedRate is the rate entries were written at.
func (ir InstallResult) OfferedRate() float64 { return rate(ir.Offered, ir.SendTime) }

// InstallRate is the entries installed per second over the window.
func (ir InstallResult) InstallRate() float64 { return rate(ir.Installed, ir.Window) }

// syncInstallPhase runs the install measurement once per round, each
// round with a fresh backup daemon taking every offer.
func (r *runner) syncInstallPhase(ctx context.Context, lab *Lab) {
	for round := range r.opts.Rounds {
		if ctx.Err() != nil || r.xvsErr != nil {
			return
		}
		for _, ir := range r.syncInstall(ctx, lab, round) {
			r.res.SyncInstall = append(r.res.SyncInstall, ir)
			if ir.Err != "" {
				r.fail(fmt.Errorf("sync install round %d: %s", round+1, ir.Err))
				continue
			}
			r.progress("sync install round %d, offered %s entries/s: %d entries in %v (%d datagrams, %d lost), backup received %d, installed %d (%.0f entries/s), refused %d",
				round+1, formatNum(ir.OfferedRate(), 0), ir.Offered, ir.SendTime.Round(time.Millisecond), ir.Datagrams, ir.Lost,
				ir.Received, ir.Installed, ir.InstallRate(), ir.Refused)
		}
	}
}

// syncInstall starts one backup daemon and makes every offer to it.
func (r *runner) syncInstall(ctx context.Context, lab *Lab, round int) []InstallResult {
	rates := r.opts.SyncRates
	fail := func(err error) []InstallResult {
		out := make([]InstallResult, len(rates))
		for i := range out {
			out[i] = InstallResult{Round: round, Rate: rates[i], Err: err.Error()}
		}
		return out
	}
	dir, err := r.startXVS(ctx, lab, "nat", backendXDP, 0, string(control.SyncBackup))
	if err != nil {
		return fail(err)
	}
	xd := dir.(*xvsDirector)
	m, err := connsync.NewMaster(connsync.DaemonConfig{Interface: lab.GenIface, NetNS: nsPath(lab.GenNS)})
	if err != nil {
		_ = dir.Stop()
		return fail(fmt.Errorf("the bench's sync sender: %w", err))
	}
	defer m.Close()
	var out []InstallResult
	for i, rt := range rates {
		ir := InstallResult{Round: round, Rate: rt}
		if err := offerSync(xd, m, lab, uint64(i*r.opts.SyncInstall), uint64(r.opts.SyncInstall), rt, &ir); err != nil {
			ir.Err = err.Error()
		}
		out = append(out, ir)
	}
	if err := dir.Stop(); err != nil {
		for i := range out {
			if out[i].Err == "" {
				out[i].Err = err.Error()
			}
		}
	}
	return out
}

// installEntry is entry i of an offer: ESTABLISHED, NAT, client i (the
// generator's flow numbering, in 198.19.0.0/16), the VIP's TCP port, the
// real servers in turn.
func installEntry(c *connsync.Conn, lab *Lab, i uint64) {
	src := netip.AddrFrom4([4]byte{198, 19, byte(i / PortsPerAddr >> 8), byte(i / PortsPerAddr)})
	*c = connsync.Conn{
		Proto: flow.TCP, Flags: connsync.FwdMasq, State: 1, // ESTABLISHED in the kernel's numbering
		Client:  netip.AddrPortFrom(src, uint16(FirstSrcPort+i%PortsPerAddr)),
		Virtual: netip.AddrPortFrom(lab.VIP, synPort),
		Dest:    netip.AddrPortFrom(lab.Reals[i%uint64(len(lab.Reals))].Addr, synPort),
		Timeout: 900,
	}
}

// offerSync writes n entries from first at rate entries a second (0:
// unpaced) and waits until the daemon's engine has taken all it received.
func offerSync(xd *xvsDirector, m *connsync.Master, lab *Lab, first, n uint64, rt float64, ir *InstallResult) error {
	st0, err := xd.syncStatus()
	if err != nil {
		return err
	}
	rb0, err := udpRcvbufErrors(lab.DirNS)
	if err != nil {
		return err
	}
	ms0 := m.Stats()
	w := m.NewWriter()
	var c connsync.Conn
	start := time.Now()
	for k := range n {
		if rt > 0 {
			for float64(k) > rt*time.Since(start).Seconds() {
				time.Sleep(50 * time.Microsecond)
			}
		}
		installEntry(&c, lab, first+k)
		if err := w.Add(&c, start); err != nil {
			return fmt.Errorf("entry %d: %w", first+k, err)
		}
	}
	w.Flush(start, true)
	ir.SendTime = time.Since(start)
	ms := m.Stats()
	ir.Offered, ir.Datagrams, ir.Lost = n, ms.Sent-ms0.Sent, ms.Lost-ms0.Lost
	// The engine's counts stop growing once the last datagram is in:
	// wait for a quiet half second (or everything), ten seconds at most.
	var st control.SyncStatus
	last, quiet := uint64(0), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, err = xd.syncStatus(); err != nil {
			return err
		}
		got := st.Engine.Received - st0.Engine.Received
		if got >= n || (got == last && time.Since(quiet) > 500*time.Millisecond) {
			break
		}
		if got != last {
			last, quiet = got, time.Now()
		}
	}
	rb1, err := udpRcvbufErrors(lab.DirNS)
	if err != nil {
		return err
	}
	ir.RcvbufErrors, ir.RecvDatagrams = rb1-rb0, st.Backup.Received-st0.Backup.Received
	e, e0 := st.Engine, st0.Engine
	ir.Received, ir.Installed, ir.Updated = e.Received-e0.Received, e.Installed-e0.Installed, e.Updated-e0.Updated
	for k, v := range e.Refused {
		ir.Refused += v - e0.Refused[k]
	}
	if ir.Received > 0 && !e.LastReceived.IsZero() {
		ir.Window = e.LastReceived.Sub(start)
	}
	return nil
}

// udpRcvbufErrors reads UDP's RcvbufErrors in namespace ns.
func udpRcvbufErrors(ns string) (uint64, error) {
	out, err := Command(context.Background(), ns, "cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0, fmt.Errorf("/proc/net/snmp in %s: %w", ns, err)
	}
	return parseSNMP(string(out), "Udp", "RcvbufErrors")
}

// parseSNMP returns field of group in /proc/net/snmp's text: a line of
// names and the next one of values, both starting "group:".
func parseSNMP(text, group, field string) (uint64, error) {
	var names []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != group+":" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == field && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
		break
	}
	return 0, fmt.Errorf("/proc/net/snmp: no %s %s", group, field)
}
