package keepalived_test

import (
	"fmt"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/keepalived"
)

// Read a keepalived.conf and hand its virtual servers to the health engine.
func Example() {
	cfg, err := keepalived.Parse("keepalived.conf", []byte(`
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

	var services []health.Service
	for _, v := range cfg.VirtualServers {
		services = append(services, v.Health())
	}
	_, err = health.New(services, nil, health.Options{}) // a real caller passes its health.Actions
	fmt.Println("engine:", err)
	// Output:
	// warning: keepalived.conf:6: keyword "smtp_alert" in virtual_server is not implemented; ignored
	// TCP 198.18.0.10:80 wrr DR HTTP_GET 6s 1 3s
	// engine: <nil>
}
