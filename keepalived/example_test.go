package keepalived_test

import (
	"fmt"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/keepalived"
)

// Read a keepalived.conf, map its virtual servers onto xvs's services and hand the same
// virtual servers to the health engine.
func Example() {
	cfg, err := keepalived.Parse("keepalived.conf", []byte(`
virtual_server_group dns {
    198.18.0.53-54 53
    fwmark 7
}
virtual_server 198.18.0.10 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    smtp_alert
    real_server 198.18.1.2 80 {
        weight 3
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 3
        }
    }
}
virtual_server group dns {
    protocol UDP
    ops
    real_server 198.18.1.53 53 {
        DNS_CHECK {
            name www.example.test
        }
    }
}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range cfg.Warnings {
		fmt.Println("warning:", w)
	}
	vs := cfg.VirtualServers[0]
	chk := vs.Reals[0].Checks[0]
	fmt.Println(vs.Name(), vs.Scheduler, vs.Method, chk.Kind, chk.Timing.DelayLoop, chk.Timing.Retry, chk.Timing.DelayBeforeRetry)

	services, warnings, err := cfg.Services()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	for _, s := range services.Services {
		fmt.Println(s.Key(), s.Scheduler, s.Matches, "one-packet:", s.OnePacket, s.Reals)
	}

	var checked []health.Service
	for _, v := range cfg.Forwarded() {
		checked = append(checked, v.Health()) // keys: service.Key and service.RealKey
	}
	_, err = health.New(checked, nil, health.Options{}) // a real caller passes its health.Actions
	fmt.Println("engine:", err)
	// Output:
	// warning: keepalived.conf:10: keyword "smtp_alert" in virtual_server is not implemented; ignored
	// TCP 198.18.0.10:80 wrr DR HTTP_GET 6s 1 3s
	// warning: keepalived.conf:4: fwmark 7 in virtual_server_group dns is left out: firewall marks are set by netfilter, which xvs's XDP path never sees; list the marked addresses and ports in the group instead
	// TCP 198.18.0.10:80 wrr [] one-packet: false [{198.18.1.2 80 3 Route {ipip 0 nocsum} 0 0}]
	// group dns wlc [{UDP 198.18.0.53/32 53 53} {UDP 198.18.0.54/32 53 53}] one-packet: true [{198.18.1.53 53 1 Masq {ipip 0 nocsum} 0 0}]
	// engine: <nil>
}
