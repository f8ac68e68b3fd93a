package keepalived_test

import (
	"reflect"
	"testing"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/keepalived"
)

// TestYAMLTwin: a keepalived.conf and the YAML file an operator would write for the same
// forwarding give the same service.Config, so the daemon runs either the same way.
func TestYAMLTwin(t *testing.T) {
	for _, c := range []struct{ name, conf, yaml string }{
		{"two-vs", "", `
services:
  - {proto: tcp, vip: 198.18.0.10, port: 80, scheduler: wrr, persistent: 50,
     reals: [{address: 198.18.1.2, port: 80, weight: 3, method: dr},
             {address: 198.18.1.3, port: 80, weight: 1, method: dr}]}
  - {proto: tcp, vip: 198.18.0.11, port: 5432, scheduler: rr,
     reals: [{address: 198.18.1.12, port: 15432, weight: 1, method: nat},
             {address: 198.18.1.13, port: 15432, weight: 1, method: nat, upper-threshold: 100, lower-threshold: 10}]}
`},
		{"group, tunnel, one-packet", `
virtual_server_group dns {
    198.18.0.52-55 53
    198.18.0.60 0
}
virtual_server group dns {
    protocol UDP
    lb_algo mh
    mh-port
    ops
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    lb_kind TUN type gue port 6080 remcsum
    real_server 198.18.1.53 53
    real_server 198.18.1.54 53 {
        weight 2
        lvs_method NAT
    }
}
virtual_server group dns {
    lb_algo sh
    flag-1
    real_server 198.18.1.53 53
}
`, `
services:
  - group: dns
    match:
      - {proto: udp, prefix: 198.18.0.52/30, ports: "53"}
      - {proto: udp, prefix: 198.18.0.60, ports: "*"}
    scheduler: mh
    flags: [mh-port]
    one-packet: true
    persistent: 600
    netmask: 24
    reals:
      - {address: 198.18.1.53, method: tun, tun-type: gue, tun-port: 6080, tun-csum: remcsum}
      - {address: 198.18.1.54, port: 53, weight: 2, method: nat}
  - group: dns/tcp
    match:
      - {proto: tcp, prefix: 198.18.0.52/30, ports: "53"}
      - {proto: tcp, prefix: 198.18.0.60, ports: "0"}
    scheduler: sh
    flags: sh-fallback
    reals:
      - {address: 198.18.1.53, port: 53, method: nat}
`},
	} {
		var kc *keepalived.Config
		var err error
		if c.conf == "" {
			kc, err = keepalived.ParseFile("testdata/two-vs.conf")
		} else {
			kc, err = keepalived.Parse("t.conf", []byte(c.conf))
		}
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := kc.Services()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want, err := control.ParseConfig("twin.yaml", []byte(c.yaml))
		if err != nil {
			t.Fatalf("%s: yaml: %v", c.name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n keepalived %+v\n yaml       %+v", c.name, got.Services, want.Services)
		}
	}
}
