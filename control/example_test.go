package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/xvs-project/xvs/service"
)

// A daemon serves its engine on a socket; a Go program (or xvsadm) dials it
// and edits the configuration in one atomic batch.
func ExampleServer() {
	dir, _ := os.MkdirTemp("", "xvs-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "xvs.sock")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	srv := NewServer(newFakeEngine(), WithLogger(quietLog), WithReload(func() error { return nil }))
	go func() { done <- srv.Serve(ctx, path) }()
	defer func() { cancel(); <-done }()

	var c *Client
	var err error
	for range 100 {
		if c, err = Dial(path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	vip := service.Key{Proto: service.TCP, Addr: netip.MustParseAddr("198.18.0.1"), Port: 80}
	err = c.Apply([]Change{
		{Kind: AddService, Service: &service.Service{Proto: service.TCP, Addr: vip.Addr, Port: 80, Scheduler: "rr"}},
		{Kind: AddReal, Key: vip, Real: &service.Real{Addr: netip.MustParseAddr("198.18.1.2"), Weight: 1, Method: service.MethodDR}},
	})
	fmt.Println("apply:", err)
	err = c.Apply([]Change{{Kind: DeleteService, Key: service.Key{Proto: service.UDP, Addr: vip.Addr, Port: 53}}})
	var be *BatchError
	fmt.Println("second apply:", err, errors.Is(err, service.ErrNoService), errors.As(err, &be) && be.Index == 0)
	cfg, _ := c.Config()
	fmt.Println(len(cfg.Services), cfg.Services[0].Reals[0].Port)
	// Output:
	// apply: <nil>
	// second apply: No such service true true
	// 1 80
}
