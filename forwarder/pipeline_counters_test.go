package forwarder

import (
	"testing"
	"time"

	"github.com/xvs-project/xvs/service"
)

// TestStats: the counters add up to what was sent.
func TestStats(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 53, "rr", service.MethodDR, 0, 2))
	var bytes uint64
	for i := 0; i < 10; i++ {
		f := buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(100 + i), dport: 53, udp: true, payload: i})
		bytes += uint64(20 + 8 + i) // IP length: IPVS counts the IP packet, not Ethernet padding
		run(e, mem, f)
	}
	st := e.Stats()
	c := st.Services[0].Counters
	if c.Conns != 10 || c.InPkts != 10 || c.InBytes != bytes {
		t.Errorf("counters %+v, want 10 conns, 10 packets, %d bytes", c, bytes)
	}
	if err := e.ZeroStats(nil); err != nil {
		t.Fatal(err)
	}
	if c := e.Stats().Services[0].Counters; c != (service.Counters{}) {
		t.Errorf("after zero: %+v", c)
	}
}

// TestRates: the estimator turns counter growth into per-second rates.
func TestRates(t *testing.T) {
	e, mem := newTestEngine(t, testService(service.UDP, vip4, 53, "rr", service.MethodDR, 0, 1))
	now := time.Now()
	e.estimate(now)
	for step := 1; step <= 20; step++ {
		for i := 0; i < 100; i++ { // 100 new flows and packets per 2 s tick
			run(e, mem, buildFrame(t, pkt{src: client4, dst: vip4, sport: uint16(step*100 + i), dport: 53, udp: true}))
		}
		e.estimate(now.Add(time.Duration(step) * 2 * time.Second))
	}
	r := e.Stats().Services[0].Rates
	if r.CPS < 45 || r.CPS > 50 || r.InPPS < 45 || r.InPPS > 50 {
		t.Errorf("rates %+v, want about 50 conns/s and packets/s", r)
	}
}
