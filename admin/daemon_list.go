package admin

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/control"
)

// ListDaemon prints ipvsadm -L --daemon: one line per running sync daemon,
// the master first, with the values in force as a kernel of 4.3 or later
// reports them; nothing when none runs.
func ListDaemon(w io.Writer, st control.SyncStatus) error {
	for _, d := range st.Daemons {
		if _, err := io.WriteString(w, daemonLine(d)+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// daemonLine is ipvsadm's print_daemon line; a unicast daemon (xvs only)
// shows peers=ADDR:PORT,... where ipvsadm shows the group, and no TTL (its
// datagrams keep the system's).
func daemonLine(d control.SyncDaemonStatus) string {
	c := d.Config
	if len(c.Peers) > 0 {
		peers := make([]string, len(c.Peers))
		for i, p := range c.Peers {
			peers[i] = p.String()
		}
		return fmt.Sprintf("%s sync daemon (mcast=%s, syncid=%d, maxlen=%d, peers=%s, port=%d)",
			d.Role, c.Interface, c.SyncID, c.MaxLen, strings.Join(peers, ","), c.Port)
	}
	return fmt.Sprintf("%s sync daemon (mcast=%s, syncid=%d, maxlen=%d, group=%s, port=%d, ttl=%d)",
		d.Role, c.Interface, c.SyncID, c.MaxLen, c.Group, c.Port, c.TTL)
}

// ListSync prints xvsadm --sync (xvs only): each role's daemon as -L
// --daemon shows it (or that none runs), and its counts since xvs started:
// datagrams and connections sent, received and refused by reason, and the
// last dump and last entry received.
func ListSync(w io.Writer, st control.SyncStatus, now time.Time) error {
	var b strings.Builder
	running := map[control.SyncRole]control.SyncDaemonStatus{}
	for _, d := range st.Daemons {
		running[d.Role] = d
	}
	e := st.Engine
	head := func(role control.SyncRole) {
		if d, ok := running[role]; ok {
			fmt.Fprintf(&b, "%s, since %s\n", daemonLine(d), ago(d.Since, now))
		} else {
			fmt.Fprintf(&b, "%s sync daemon: not running\n", role)
		}
		if st.Follow != "" {
			fmt.Fprintf(&b, "  role follows VRRP instance %s\n", st.Follow)
		}
	}
	m := st.Master
	head(control.SyncMaster)
	fmt.Fprintf(&b, "  messages     sent %d, refused by the socket %d\n", m.Sent, m.Lost)
	fmt.Fprintf(&b, "  connections  sent %d, templates %d, refused by the writer %d, not sent (no master running) %d\n",
		e.ConnsSent, e.TemplatesSent, e.SendErrors, st.Unsent)
	fmt.Fprintf(&b, "  dumps        %d (%d entries), requests heard %d, last %s\n", e.Dumps, e.DumpEntries, m.Requests, ago(e.LastDump, now))
	k := st.Backup
	head(control.SyncBackup)
	fmt.Fprintf(&b, "  messages     received %d, dropped %d%s, other sync IDs %d\n", k.Received, k.Dropped, dropReasons(k), k.Ignored)
	fmt.Fprintf(&b, "  connections  received %d, skipped %d, installed %d, updated %d, refused %d%s\n",
		k.Conns, k.Skipped, e.Installed, e.Updated, sum(e.Refused), reasons(e.Refused))
	fmt.Fprintf(&b, "  last entry   %s\n", ago(e.LastReceived, now))
	_, err := io.WriteString(w, b.String())
	return err
}

// ago is "12s ago", or "never".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Truncate(time.Second).String() + " ago"
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// reasons is " (reason=n, ...)" for the non-zero counts, sorted by reason.
func reasons(m map[string]uint64) string {
	var keys []string
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// dropReasons names the decode errors of dropped datagrams.
func dropReasons(s connsync.Stats) string {
	m := map[string]uint64{}
	for i, n := range s.DroppedBy {
		m[control.SyncDecodeReason(i)] = n
	}
	return reasons(m)
}
