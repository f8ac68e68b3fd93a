package control

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestVRRPYAMLTwin: a vrrp: list and its keepalived.conf twin give the
// daemon the same instances and scripts.
func TestVRRPYAMLTwin(t *testing.T) {
	dir := t.TempDir()
	yml := `vrrp:
  - name: VI_1
    state: BACKUP
    interface: eth0
    virtual_router_id: 51
    priority: 150
    advert_int: 0.1
    version: 3
    nopreempt: true
    preempt: false
    unicast_src_ip: 198.18.0.2
    unicast_peer: [198.18.0.3]
    virtual_ipaddress: [198.18.0.10/32, "198.18.0.11/32 dev eth0"]
    notify_master: "/usr/local/bin/became master"
    garp_master_repeat: 3
`
	conf := `vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    version 3
    nopreempt
    unicast_src_ip 198.18.0.2
    unicast_peer {
        198.18.0.3
    }
    virtual_ipaddress {
        198.18.0.10/32
        198.18.0.11/32 dev eth0
    }
    notify_master "/usr/local/bin/became master"
    garp_master_repeat 3
}
`
	read := func(name, body string) *File {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := ReadFile(p, "")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	y, k := read("x.yaml", yml), read("keepalived.conf", conf)
	if len(y.VRRP) != 1 || y.VRRP[0].VRID != 51 || y.VRRP[0].Priority != 150 || !y.VRRP[0].NoPreempt || len(y.VRRP[0].VIPs) != 2 {
		t.Fatalf("YAML instance: %+v", y.VRRP)
	}
	if !reflect.DeepEqual(y.VRRP, k.VRRP) {
		t.Errorf("YAML\n%+v\nkeepalived.conf\n%+v", y.VRRP, k.VRRP)
	}
}

func TestVRRPYAMLErrors(t *testing.T) {
	for _, tc := range []struct{ yml, want string }{
		{"vrrp: {name: VI_1}\n", "x.yaml:1: vrrp: expected a list"},
		{"vrrp:\n  - interface: eth0\n", "x.yaml:2: vrrp[0].name: missing"},
		{"vrrp:\n  - name: VI_1\n    interface: eth0\n    virtual_router_id: 51\n    priority: 300\n    virtual_ipaddress: [198.18.0.10/32]\n", "x.yaml:5:"},
		{"vrrp:\n  - name: VI_1\n    interface: eth0\n    virtual_router_id: 51\n    virtual_ipaddress: [{a: b}]\n", "x.yaml:5: vrrp[0].virtual_ipaddress: expected a list of values"},
	} {
		_, err := parseYAMLFile("x.yaml", []byte(tc.yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yml, err, tc.want)
		}
	}
}
