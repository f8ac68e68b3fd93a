package admin

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/control"
)

func TestParseDaemon(t *testing.T) {
	g := netip.MustParseAddr
	tests := []struct {
		args string
		role control.SyncRole
		want control.SyncDaemon
	}{
		// ipvsadm's default interface is eth0, its syncid 0.
		{"--start-daemon master", control.SyncMaster, control.SyncDaemon{Interface: "eth0"}},
		{"--start-daemon backup --mcast-interface eth1 --syncid 7", control.SyncBackup, control.SyncDaemon{Interface: "eth1", SyncID: 7}},
		{"--start-daemon master --mcast-interface eth1 --syncid 255 --sync-maxlen 1400 --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 4",
			control.SyncMaster, control.SyncDaemon{Interface: "eth1", SyncID: 255, MaxLen: 1400, Group: g("239.1.2.3"), Port: 9000, TTL: 4}},
		{"--start-daemon backup --mcast-interface eth1 --mcast-group ff02::81", control.SyncBackup, control.SyncDaemon{Interface: "eth1", Group: g("ff02::81")}},
		{"--stop-daemon master", control.SyncMaster, control.SyncDaemon{}},
		{"--stop-daemon backup --syncid 3", control.SyncBackup, control.SyncDaemon{SyncID: 3}},
	}
	for _, tt := range tests {
		c, err := Parse(strings.Fields(tt.args), nil)
		if err != nil {
			t.Errorf("%s: %v", tt.args, err)
			continue
		}
		if c.SyncRole != tt.role || !c.Sync.Same(&tt.want) {
			t.Errorf("%s: role %q daemon %+v, want %q %+v", tt.args, c.SyncRole, c.Sync, tt.role, tt.want)
		}
	}
	bad := []struct{ args, msg string }{
		{"--start-daemon primary", "illegal start-daemon parameter specified"},
		{"--stop-daemon primary", "illegal start_daemon specified"},
		{"--start-daemon master --syncid 256", "illegal syncid specified"},
		{"--start-daemon master --mcast-port 0", "illegal mcast-port specified"},
		{"--start-daemon master --mcast-ttl 256", "illegal mcast-ttl specified"},
		{"--start-daemon master --sync-maxlen 65508", "illegal sync-maxlen specified"},
		{"--start-daemon master --mcast-group 198.18.0.1", "invalid IPv4 mcast-group `198.18.0.1'"},
		{"--start-daemon master --mcast-group 2001:db8::1", "invalid IPv6 mcast-group `2001:db8::1'"},
		{"--start-daemon master --mcast-group nosuch", "invalid IPv4 mcast-group `nosuch'"},
		{"--start-daemon master --mcast-interface a --mcast-interface b", "multiple 'mcast-interface' options specified"},
		{"--stop-daemon master --mcast-interface eth0", "Illegal 'mcast-interface' option with the 'stop-daemon' command"},
		{"--start-daemon master -t 198.18.0.1:80", "Illegal 'service-address' option with the 'start-daemon' command"},
		{"-L --daemon --stats", "options conflicts in the list command"},
		{"--sync --syncid 1", "Illegal 'syncid' option with the 'sync' command"},
	}
	for _, tt := range bad {
		_, err := Parse(strings.Fields(tt.args), nil)
		if err == nil || Message(err) != tt.msg || !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: %v, want %q", tt.args, err, tt.msg)
		}
	}
}

// fakeSync is a sync daemon in memory with the control plane's errors.
type fakeSync struct {
	*fakeBackend
	running map[control.SyncRole]control.SyncDaemon
}

func (f *fakeSync) StartDaemon(role control.SyncRole, cfg control.SyncDaemon) error {
	if _, ok := f.running[role]; ok {
		return &control.RemoteError{Code: control.CodeDaemonRunning, Message: control.ErrDaemonRunning.Error()}
	}
	if cfg.Interface != "sync0" {
		return &control.RemoteError{Code: control.CodeNoDevice, Message: control.ErrNoDevice.Error()}
	}
	cfg.Group, cfg.Port, cfg.TTL = connsync.Group, connsync.Port, 1
	if cfg.MaxLen == 0 {
		cfg.MaxLen = 1472
	}
	f.running[role] = cfg
	return nil
}

func (f *fakeSync) StopDaemon(role control.SyncRole) error {
	if _, ok := f.running[role]; !ok {
		return &control.RemoteError{Code: control.CodeNoDaemon, Message: control.ErrNoDaemon.Error()}
	}
	delete(f.running, role)
	return nil
}

func (f *fakeSync) Sync() (control.SyncStatus, error) {
	st := control.SyncStatus{}
	for _, r := range []control.SyncRole{control.SyncMaster, control.SyncBackup} {
		if c, ok := f.running[r]; ok {
			st.Daemons = append(st.Daemons, control.SyncDaemonStatus{Role: r, Config: c, Since: time.Now()})
		}
	}
	return st, nil
}

// TestRunDaemon runs ipvsadm's daemon commands and its -L --daemon lines.
func TestRunDaemon(t *testing.T) {
	b := &fakeSync{fakeBackend: newFakeBackend(), running: map[control.SyncRole]control.SyncDaemon{}}
	steps := []struct{ line, out, msg string }{
		{"-L --daemon", "", ""},
		{"--start-daemon master", "", "No such device"}, // eth0, ipvsadm's default
		{"--start-daemon master --mcast-interface sync0 --syncid 1", "", ""},
		{"--start-daemon master --mcast-interface sync0", "", "Daemon has already run"},
		{"-L --daemon", "master sync daemon (mcast=sync0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n", ""},
		{"--start-daemon backup --mcast-interface sync0 --syncid 2 --sync-maxlen 9000", "", ""},
		{"-L --daemon", "master sync daemon (mcast=sync0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" +
			"backup sync daemon (mcast=sync0, syncid=2, maxlen=9000, group=224.0.0.81, port=8848, ttl=1)\n", ""},
		{"--stop-daemon master", "", ""},
		{"--stop-daemon master", "", "No daemon is running"},
		{"-L --daemon", "backup sync daemon (mcast=sync0, syncid=2, maxlen=9000, group=224.0.0.81, port=8848, ttl=1)\n", ""},
		{"--stop-daemon backup", "", ""},
		{"-L --daemon", "", ""},
	}
	for _, s := range steps {
		out, err := run(t, b, s.line, "")
		switch {
		case s.msg == "" && err != nil:
			t.Errorf("%s: %v", s.line, err)
		case s.msg != "" && (err == nil || Message(err) != s.msg):
			t.Errorf("%s: error %v, want %q", s.line, err, s.msg)
		case out != s.out:
			t.Errorf("%s: printed %q, want %q", s.line, out, s.out)
		}
	}
}

func TestListSync(t *testing.T) {
	now := time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)
	st := control.SyncStatus{
		Daemons: []control.SyncDaemonStatus{{Role: control.SyncBackup, Since: now.Add(-90 * time.Second),
			Config: control.SyncDaemon{Interface: "eth1", SyncID: 7, MaxLen: 1472, Group: connsync.Group, Port: 8848, TTL: 1}}},
		Follow: "VI_1",
		Master: connsync.Stats{Sent: 12, Requests: 1},
		Engine: control.SyncFigures{ConnsSent: 300, Dumps: 1, DumpEntries: 300, LastDump: now.Add(-time.Minute),
			Received: 40, Installed: 30, Updated: 8, Refused: map[string]uint64{"no-service": 2, "stale": 0}},
		Unsent: 5,
	}
	st.Backup.Received, st.Backup.Dropped, st.Backup.Conns = 4, 1, 40
	st.Backup.DroppedBy[1] = 1
	var b strings.Builder
	if err := ListSync(&b, st, now); err != nil {
		t.Fatal(err)
	}
	want := `master sync daemon: not running
  role follows VRRP instance VI_1
  messages     sent 12, refused by the socket 0
  connections  sent 300, templates 0, refused by the writer 0, not sent (no master running) 5
  dumps        1 (300 entries), requests heard 1, last 1m0s ago
backup sync daemon (mcast=eth1, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1), since 1m30s ago
  role follows VRRP instance VI_1
  messages     received 4, dropped 1 (size=1), other sync IDs 0
  connections  received 40, skipped 0, installed 30, updated 8, refused 2 (no-service=2)
  last entry   never
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
