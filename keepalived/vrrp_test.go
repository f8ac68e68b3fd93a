package keepalived

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/vrrp"
)

func TestVRRPFile(t *testing.T) {
	c, err := ParseFile("testdata/vrrp.conf")
	if err != nil {
		t.Fatal(err)
	}
	g := c.Global
	if g.VRRPVersion != 3 || g.GARPMasterDelay != 2*time.Second || g.GARPMasterRepeat != 3 || g.SyncDaemon == nil {
		t.Fatalf("global_defs %+v", g)
	}
	if d := *g.SyncDaemon; d.Interface != "eth1" || d.Instance != "VI_1" || d.SyncID != 7 || d.MaxLen != 1400 ||
		d.Port != 8848 || d.TTL != 1 || d.Group.String() != "224.0.0.81" {
		t.Errorf("lvs_sync_daemon %+v", d)
	}
	if len(c.VRRPScripts) != 1 {
		t.Fatalf("scripts %+v", c.VRRPScripts)
	}
	if s := c.VRRPScripts[0]; s.Name != "chk_xvs" || !slices.Equal(s.Script, []string{"/usr/bin/pgrep", "-x", "xvs"}) ||
		s.Interval != 2*time.Second || s.Timeout != 2*time.Second || s.Weight != -30 || s.Fall != 2 || s.Rise != 3 {
		t.Errorf("vrrp_script %+v", s)
	}
	if len(c.VRRPInstances) != 2 {
		t.Fatalf("instances %+v", c.VRRPInstances)
	}
	v := c.VRRPInstances[0]
	if v.Name != "VI_1" || v.State != "BACKUP" || v.Interface != "eth1" || v.VRID != 51 || v.Priority != 150 ||
		v.AdvertInt != 100*time.Millisecond || v.Version != 3 || !v.NoPreempt || len(v.VIPs) != 2 ||
		v.VIPs[0].Prefix.String() != "198.18.0.10/32" || v.VIPs[0].Dev != "eth0" ||
		v.VIPs[1].Prefix.String() != "198.18.0.11/32" || v.VIPs[1].Dev != "eth1" ||
		len(v.TrackInterfaces) != 1 || v.TrackInterfaces[0].Name != "eth0" || v.TrackInterfaces[0].Weight != -20 ||
		!v.TrackInterfaces[0].WeightSet || len(v.TrackScripts) != 1 || v.TrackScripts[0].Name != "chk_xvs" ||
		v.TrackScripts[0].WeightSet ||
		!slices.Equal(v.Notify, []string{"/etc/xvs/notify.sh"}) ||
		!slices.Equal(v.NotifyMaster, []string{"/etc/xvs/master.sh", "--now"}) {
		t.Errorf("VI_1 %+v", v)
	}
	// IPv6 forces version 3 over the instance's own version 2; defaults.
	if v6 := c.VRRPInstances[1]; v6.Version != 3 || v6.Priority != 100 || v6.AdvertInt != time.Second ||
		v6.State != "BACKUP" || v6.VIPs[0].Prefix.String() != "2001:db8::10/128" {
		t.Errorf("VI_6 %+v", v6)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
}

// TestVRRPRefuses: each bad instance is refused with file:line, naming the
// instance and the keyword; nothing of the file is kept.
func TestVRRPRefuses(t *testing.T) {
	inst := func(body string) string {
		return "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 198.18.0.10\n }\n" + body + "\n}\n"
	}
	for _, tc := range []struct{ name, src, want string }{
		{"vrid-0", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 0\n}\n",
			"t.conf:3: vrrp_instance VI_1: virtual_router_id: bad value \"0\" (want 1..255)"},
		{"priority-256", inst(" priority 256"), "t.conf:7: vrrp_instance VI_1: priority: bad value \"256\" (want 1..255)"},
		{"state", inst(" state PRIMARY"), "t.conf:7: vrrp_instance VI_1: state: want MASTER or BACKUP, not \"PRIMARY\""},
		{"v2-subsecond", inst(" advert_int 0.5"), "t.conf:1: vrrp_instance VI_1: vrrp_instance: advert_int 500ms: version 2 takes whole seconds"},
		{"no-interface", "vrrp_instance VI_1 {\n virtual_router_id 51\n}\n", "t.conf:1: vrrp_instance VI_1: vrrp_instance: needs an interface"},
		{"no-vips", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n}\n",
			"t.conf:1: vrrp_instance VI_1: vrrp_instance: needs a virtual_ipaddress block"},
		{"bad-vip", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 198.18.0.300\n }\n}\n",
			"t.conf:5: vrrp_instance VI_1: 198.18.0.300: bad virtual address \"198.18.0.300\""},
		{"mixed-families", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 198.18.0.10\n 2001:db8::1\n }\n}\n",
			"t.conf:6: vrrp_instance VI_1: 2001:db8::1: addresses of both families in one instance"},
		{"auth-ah", inst(" authentication {\n auth_type AH\n auth_pass x\n }"),
			"t.conf:8: vrrp_instance VI_1: auth_type: auth_type \"AH\": only PASS is implemented"},
		{"sync-daemon-id", "global_defs {\n lvs_sync_daemon eth0 id 300\n}\n",
			"t.conf:2: global_defs: lvs_sync_daemon: id \"300\": want 0..255"},
		{"script-weight", "vrrp_script chk {\n script /bin/true\n weight -3 0\n}\n", "t.conf:3: vrrp_script chk: weight: too many values"},
		{"track-weight", inst(" track_interface {\n eth1 weight 300\n }"),
			"t.conf:8: vrrp_instance VI_1: eth1: weight \"300\": want -253..253"},
		{"script-without-command", "vrrp_script chk {\n interval 1\n}\n", "t.conf:1: vrrp_script chk: vrrp_script: needs a script"},
	} {
		_, err := Parse("t.conf", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
	}
	// Warned, not refused: nopreempt with state MASTER, an unknown option.
	c, err := Parse("t.conf", []byte(inst(" state MASTER\n nopreempt\n smtp_alert")))
	if err != nil {
		t.Fatal(err)
	}
	var ws []string
	for _, w := range c.Warnings {
		ws = append(ws, w.String())
	}
	if got := strings.Join(ws, "\n"); !strings.Contains(got, "nopreempt and preempt_delay need state BACKUP") ||
		!strings.Contains(got, `keyword "smtp_alert" in vrrp_instance VI_1 is not implemented`) || c.VRRPInstances[0].NoPreempt {
		t.Errorf("warnings:\n%s", got)
	}
}

func TestVRRPInstanceMapping(t *testing.T) {
	c, err := ParseFile("testdata/vrrp.conf")
	if err != nil {
		t.Fatal(err)
	}
	in := c.VRRPInstances[0].Instance(c.Global)
	if in.Name != "VI_1" || in.VRID != 51 || in.Priority != 150 || in.Interval != 100*time.Millisecond ||
		in.Version != 3 || !in.NoPreempt || len(in.VIPs) != 2 || in.GARPRepeat != 3 || in.GARPDelay != 2*time.Second {
		t.Errorf("%+v", in)
	}
	if sc := c.VRRPInstances[0].Scripts(); !slices.Equal(sc.Master, []string{"/etc/xvs/master.sh", "--now"}) ||
		!slices.Equal(sc.Notify, []string{"/etc/xvs/notify.sh"}) {
		t.Errorf("scripts %+v", sc)
	}
	if in6 := c.VRRPInstances[1].Instance(Global{}); in6.GARPRepeat != 5 || in6.GARPDelay != 5*time.Second {
		t.Errorf("defaults: %+v", in6)
	}
}

// TestGARPDelayZero: garp_master_delay 0 means no second burst, not the
// default 5 s.
func TestGARPDelayZero(t *testing.T) {
	c, err := Parse("t.conf", []byte("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n garp_master_delay 0\n virtual_ipaddress {\n 198.18.0.10\n }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.VRRPInstances[0].Instance(c.Global).GARPDelay; d >= 0 {
		t.Errorf("GARPDelay %v, want negative (no second burst)", d)
	}
}

// TestVRRPTracks: track_interface and track_script lines become package
// vrrp's tracking, a script line without a weight taking its
// vrrp_script's; a missing script is refused at its line.
func TestVRRPTracks(t *testing.T) {
	c, err := ParseFile("testdata/vrrp.conf")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.VRRPInstances[0].Tracks(c.VRRPScripts)
	if err != nil {
		t.Fatal(err)
	}
	want := []vrrp.Track{
		{Interface: "eth0", Weight: -20},
		{Script: []string{"/usr/bin/pgrep", "-x", "xvs"}, Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 3, Fall: 2, Weight: -30},
	}
	if !reflect.DeepEqual(tr, want) {
		t.Errorf("tracks %+v, want %+v", tr, want)
	}
	c2, err := Parse("k.conf", []byte("vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        198.18.0.10\n    }\n    track_script {\n        nosuch weight 5\n    }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.VRRPInstances[0].Tracks(c2.VRRPScripts); err == nil || !strings.Contains(err.Error(), `k.conf:8: vrrp_instance VI_1: track_script: no vrrp_script "nosuch"`) {
		t.Errorf("missing script: %v", err)
	}
}
