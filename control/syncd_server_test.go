package control

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xvs-project/xvs/connsync"
)

// fakeSyncControl is SyncControl in memory.
type fakeSyncControl struct{ running map[SyncRole]SyncDaemon }

func (f *fakeSyncControl) Start(r SyncRole, c SyncDaemon) error {
	if _, ok := f.running[r]; ok {
		return ErrDaemonRunning
	}
	if c.Interface != "eth1" {
		return ErrNoDevice
	}
	f.running[r] = c
	return nil
}

func (f *fakeSyncControl) Stop(r SyncRole) error {
	if _, ok := f.running[r]; !ok {
		return ErrNoDaemon
	}
	delete(f.running, r)
	return nil
}

func (f *fakeSyncControl) Status() SyncStatus {
	st := SyncStatus{Daemons: []SyncDaemonStatus{}}
	for _, r := range []SyncRole{SyncMaster, SyncBackup} {
		if c, ok := f.running[r]; ok {
			st.Daemons = append(st.Daemons, SyncDaemonStatus{Role: r, Config: c})
		}
	}
	return st
}

// TestServerSync: the sync requests over the socket, and their errors in
// ipvsadm's words matching the sentinels.
func TestServerSync(t *testing.T) {
	path, _ := startServer(t, newFakeEngine(), WithSync(&fakeSyncControl{running: map[SyncRole]SyncDaemon{}}))
	c := dial(t, path)
	g := netip.MustParseAddr("239.0.0.1")
	if err := c.StartDaemon(SyncMaster, SyncDaemon{Interface: "eth1", SyncID: 4, Group: g}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		err  error
		call func() error
	}{
		{ErrDaemonRunning, func() error { return c.StartDaemon(SyncMaster, SyncDaemon{Interface: "eth1"}) }},
		{ErrNoDevice, func() error { return c.StartDaemon(SyncBackup, SyncDaemon{Interface: "eth0"}) }},
		{ErrNoDaemon, func() error { return c.StopDaemon(SyncBackup) }},
	} {
		err := tt.call()
		if !errors.Is(err, tt.err) || err.Error() != tt.err.Error() {
			t.Errorf("error %v, want %v", err, tt.err)
		}
	}
	st, err := c.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Daemons) != 1 || !st.Daemons[0].Config.Same(&SyncDaemon{Interface: "eth1", SyncID: 4, Group: g}) {
		t.Errorf("status %+v", st)
	}
	if err := c.StopDaemon(SyncMaster); err != nil {
		t.Fatal(err)
	}

	// A server without sync answers an empty status, and refuses the rest.
	path, _ = startServer(t, newFakeEngine())
	c = dial(t, path)
	if st, err := c.Sync(); err != nil || len(st.Daemons) != 0 {
		t.Errorf("no sync: %+v %v", st, err)
	}
	if err := c.StartDaemon(SyncMaster, SyncDaemon{Interface: "eth1"}); !errors.Is(err, ErrNoSync) {
		t.Errorf("no sync: start %v", err)
	}
}

func TestSyncConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f, err := ReadFile(write("a.yaml", `services: []
sync:
  master: {interface: eth1, syncid: 7, maxlen: 1400, group: 239.1.1.1, port: 9000, ttl: 2}
  backup:
    interface: eth2
`), "")
	if err != nil {
		t.Fatal(err)
	}
	want := &SyncConfig{
		Master: &SyncDaemon{Interface: "eth1", SyncID: 7, MaxLen: 1400, Group: netip.MustParseAddr("239.1.1.1"), Port: 9000, TTL: 2},
		Backup: &SyncDaemon{Interface: "eth2"},
	}
	if !SameSync(f.Sync, want) {
		t.Errorf("sync %+v %+v", f.Sync.Master, f.Sync.Backup)
	}
	for _, bad := range []struct{ text, msg string }{
		{"sync:\n  master: {syncid: 1}\n", "sync.master.interface: is required"},
		{"sync:\n  master: {interface: eth1, syncid: 256}\n", "sync.master.syncid: 256 is out of range 0..255"},
		{"sync:\n  master: {interface: eth1, group: 198.18.0.1}\n", "is not a multicast address"},
		{"sync:\n  primary: {interface: eth1}\n", `unknown field "primary"`},
		{"sync: {}\n", "names no daemon"},
		{"sync:\n  follow: {interface: eth1}\n", "sync.follow.vrrp_instance: is required"},
		{"sync:\n  follow: {vrrp_instance: VI_1, interface: eth1}\n", `no vrrp: instance is named "VI_1"`},
	} {
		_, err := ReadFile(write("bad.yaml", bad.text), FormatYAML)
		if err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%q: %v, want %q", bad.text, err, bad.msg)
		}
	}

	f, err = ReadFile(write("f.yaml", `vrrp:
  - name: VI_1
    interface: eth1
    virtual_router_id: 51
    virtual_ipaddress: [198.18.0.10/32]
sync:
  follow: {vrrp_instance: VI_1, interface: eth1, syncid: 7}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if !SameSync(f.Sync, &SyncConfig{Follow: &SyncFollows{Instance: "VI_1", SyncDaemon: SyncDaemon{Interface: "eth1", SyncID: 7}}}) {
		t.Errorf("yaml follow %+v", f.Sync)
	}

	// keepalived's lvs_sync_daemon follows its instance.
	f, err = ReadFile("../keepalived/testdata/vrrp.conf", FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	fw := &SyncConfig{Follow: &SyncFollows{Instance: "VI_1", SyncDaemon: SyncDaemon{Interface: "eth1", SyncID: 7, MaxLen: 1400,
		Port: 8848, TTL: 1, Group: connsync.Group}}}
	if !SameSync(f.Sync, fw) {
		t.Errorf("keepalived sync %+v", f.Sync.Follow)
	}
	vrrpOnly := "vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 5\n virtual_ipaddress {\n 198.18.0.10\n }\n}\n"
	f, err = ReadFile(write("k1.conf", "global_defs {\n lvs_sync_daemon eth1 id 2\n}\n"+vrrpOnly), FormatKeepalived)
	if err != nil || f.Sync == nil || f.Sync.Follow.Instance != "VI_1" {
		t.Errorf("the only instance: %+v %v", f, err)
	}
	f, err = ReadFile(write("k2.conf", "global_defs {\n lvs_sync_daemon eth1 VI_9\n}\n"+vrrpOnly), FormatKeepalived)
	if err != nil || f.Sync != nil || len(f.Warnings) == 0 || !strings.Contains(strings.Join(f.Warnings, "\n"), "VI_9, which is not defined") {
		t.Errorf("an unknown instance: %+v %v", f, err)
	}
}

func TestSyncMetrics(t *testing.T) {
	st := SyncStatus{Daemons: []SyncDaemonStatus{{Role: SyncBackup}}, Unsent: 3,
		Engine: SyncFigures{ConnsSent: 5, Installed: 2, Updated: 1, Refused: map[string]uint64{"no-real": 4}}}
	st.Backup.DroppedBy[2] = 6
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewSyncMetrics(func() SyncStatus { return st }))
	want := `
# HELP xvs_sync_daemon_running 1 while a sync daemon of the role runs.
# TYPE xvs_sync_daemon_running gauge
xvs_sync_daemon_running{role="backup"} 1
xvs_sync_daemon_running{role="master"} 0
# HELP xvs_sync_conns_refused_total Entries the engine refused, by reason.
# TYPE xvs_sync_conns_refused_total counter
xvs_sync_conns_refused_total{reason="no-real"} 4
# HELP xvs_sync_conns_unsent_total Entries the packet path handed over while no master ran.
# TYPE xvs_sync_conns_unsent_total counter
xvs_sync_conns_unsent_total 3
# HELP xvs_sync_conns_installed_total Entries the engine installed, new or updating one.
# TYPE xvs_sync_conns_installed_total counter
xvs_sync_conns_installed_total{result="new"} 2
xvs_sync_conns_installed_total{result="updated"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "xvs_sync_daemon_running", "xvs_sync_conns_refused_total",
		"xvs_sync_conns_unsent_total", "xvs_sync_conns_installed_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "xvs_sync_messages_dropped_total"); err != nil || n != len(connsync.DecodeErrors) {
		t.Errorf("dropped series %d %v", n, err)
	}
}
