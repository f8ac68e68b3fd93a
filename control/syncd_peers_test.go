package control

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSyncPeersConfig: a sync daemon's peers: in YAML, in every role, and
// the errors naming the field.
func TestSyncPeersConfig(t *testing.T) {
	dir := t.TempDir()
	read := func(text string) (*File, error) {
		p := filepath.Join(dir, "s.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return ReadFile(p, FormatYAML)
	}
	ap := netip.MustParseAddrPort
	vrrp := "vrrp:\n  - name: VI_1\n    interface: eth1\n    virtual_router_id: 51\n    virtual_ipaddress: [198.18.0.10/32]\n"
	for _, tt := range []struct {
		name, text string
		want       []netip.AddrPort
		daemon     func(*SyncConfig) *SyncDaemon
	}{
		{"master", "sync:\n  master: {interface: eth1, peers: [\"198.18.0.3:8848\", 198.18.0.4]}\n",
			[]netip.AddrPort{ap("198.18.0.3:8848"), ap("198.18.0.4:0")}, func(c *SyncConfig) *SyncDaemon { return c.Master }},
		{"backup", "sync:\n  backup:\n    interface: eth1\n    port: 9000\n    peers:\n      - 198.18.0.2:9000\n",
			[]netip.AddrPort{ap("198.18.0.2:9000")}, func(c *SyncConfig) *SyncDaemon { return c.Backup }},
		{"follow", vrrp + "sync:\n  follow: {vrrp_instance: VI_1, interface: eth1, peers: [\"::ffff:198.18.0.3\"]}\n",
			[]netip.AddrPort{ap("198.18.0.3:0")}, func(c *SyncConfig) *SyncDaemon { return &c.Follow.SyncDaemon }},
	} {
		f, err := read(tt.text)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if d := tt.daemon(f.Sync); !slices.Equal(d.Peers, tt.want) || d.Group.IsValid() {
			t.Errorf("%s: %+v, want peers %v", tt.name, d, tt.want)
		}
	}

	for _, tt := range []struct{ text, msg string }{
		{"sync:\n  master: {interface: eth1, group: 239.1.1.1, peers: [198.18.0.3]}\n", "sync.master.peers: cannot be mixed with group:"},
		{"sync:\n  master: {interface: eth1, peers: []}\n", "sync.master.peers: expected a list"},
		{"sync:\n  master: {interface: eth1, peers: 198.18.0.3}\n", "sync.master.peers: expected a list"},
		{"sync:\n  backup: {interface: eth1, peers: [bogus]}\n", `sync.backup.peers[0]: "bogus" is not ADDR or ADDR:PORT`},
		{"sync:\n  backup: {interface: eth1, peers: [198.18.0.2, \"[2001:db8::1]:8848\"]}\n", "sync.backup.peers[1]: 2001:db8::1: only IPv4 unicast peers"},
		{"sync:\n  backup: {interface: eth1, peers: [224.0.0.81]}\n", "sync.backup.peers[0]: 224.0.0.81: only IPv4 unicast"},
		{"sync:\n  backup: {interface: eth1, peers: [198.18.0.2, 198.18.0.2]}\n", "sync.backup.peers[1]: 198.18.0.2:0 is listed twice"},
		{"sync:\n  backup: {interface: eth1, peers: [[198.18.0.2]]}\n", "sync.backup.peers[0]: expected ADDR or ADDR:PORT"},
	} {
		_, err := read(tt.text)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: %v, want %q", tt.text, err, tt.msg)
		}
	}
}

// TestSameSyncPeers: SameSync tells daemons apart by their peers.
func TestSameSyncPeers(t *testing.T) {
	a := &SyncConfig{Master: &SyncDaemon{Interface: "eth1", Peers: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.3:8848")}}}
	b := &SyncConfig{Master: &SyncDaemon{Interface: "eth1", Peers: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.4:8848")}}}
	c := &SyncConfig{Master: &SyncDaemon{Interface: "eth1"}}
	if !SameSync(a, a) || SameSync(a, b) || SameSync(a, c) {
		t.Error("SameSync does not compare peers")
	}
}
