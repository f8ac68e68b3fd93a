package forwarder_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/xvs-project/xvs/forwarder"
	"github.com/xvs-project/xvs/link"
	"github.com/xvs-project/xvs/link/backends"
	"github.com/xvs-project/xvs/link/linktest"
	"github.com/xvs-project/xvs/service"
)

// A Go program embedding xvs on a real director: attach to an interface
// (AF_XDP where it can, else AF_PACKET, as xvs run --backend auto), start
// the engine, add a virtual service with two real servers while it
// runs, and read the statistics. (Needs root and an interface; not run as a
// test.)
func Example() {
	backend, err := backends.Open(backends.Auto, []string{"eth0"}, backends.Options{})
	if err != nil {
		log.Fatal(err)
	}
	router, err := forwarder.NewNetlinkRouter(backend.Ifindexes(), nil)
	if err != nil {
		backend.Close()
		log.Fatal(err)
	}
	engine, err := forwarder.New(forwarder.Options{Backend: backend, Router: router})
	if err != nil {
		backend.Close()
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go engine.Run(ctx) // detaches from eth0 when ctx ends

	vip := service.Service{Proto: service.TCP, Addr: netip.MustParseAddr("192.168.8.200"), Port: 80, Scheduler: "rr"}
	err = engine.Apply(func(c *service.Config) error {
		if err := c.AddService(vip); err != nil {
			return err
		}
		for _, ip := range []string{"192.168.8.20", "192.168.8.21"} {
			r := service.Real{Addr: netip.MustParseAddr(ip), Weight: 1, Method: service.MethodDR}
			if err := c.AddReal(vip.Key(), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err) // e.g. "Destination already exists": nothing was changed
	}
	for _, s := range engine.Stats().Services {
		fmt.Println(s.Key, s.Counters.Conns, "connections")
	}
}

// The same engine over the in-memory backend, as tests and benchmarks run
// it: frames go in and out of Go slices, next hops come from a fixed table.
func Example_inMemory() {
	mem := linktest.NewMemBackend(1)
	engine, err := forwarder.New(forwarder.Options{
		Backend: mem,
		Router:  &linktest.StaticRouter{Default4: &link.Hop{Ifindex: 1, MTU: 1500, DstMAC: [6]byte{2, 0, 0, 0, 0, 1}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	err = engine.Apply(func(c *service.Config) error {
		return c.AddService(service.Service{Proto: service.UDP, Addr: netip.MustParseAddr("198.18.0.10"), Port: 53})
	})
	fmt.Println(err, len(engine.Config().Services), engine.Config().Services[0].Scheduler)
	// Output: <nil> 1 wlc
}
