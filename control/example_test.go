package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/xvs-project/xvs/health"
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

// A program that embeds an engine reloads its file the way xvs run does:
// the same Reloader answers SIGHUP and the socket's reload request, and a
// bad file leaves the running configuration as it was.
func ExampleReloader() {
	dir, _ := os.MkdirTemp("", "xvs-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "xvs.yaml")
	os.WriteFile(path, []byte("services:\n  - {proto: tcp, vip: 198.18.0.1, port: 80, reals: [{address: 198.18.1.2, method: dr}]}\n"), 0o600)

	engine := newFakeEngine()
	r := &Reloader{Path: path, Engine: engine, Logger: quietLog}
	// A daemon also passes r.Reload to NewServer (WithReload) and calls
	// r.Watch(ctx, syscall.SIGHUP).
	fmt.Println("reload:", r.Reload(), len(engine.Config().Services))

	os.WriteFile(path, []byte("services:\n  - {proto: tcp, vip: 198.18.0.1, port: 80, reals: [{address: 198.18.1.2, method: dr}]}\n  - {proto: tcp}\n"), 0o600)
	fmt.Println("bad file refused:", r.Reload() != nil, len(engine.Config().Services))
	// Output:
	// reload: <nil> 1
	// bad file refused: true 1
}

// A Go program that embeds the forwarder runs a file's health checks on its
// engine with a Supervisor: here a real server whose port is closed leaves
// the pool, the other stays.
func ExampleSupervisor() {
	open, _ := net.Listen("tcp", "127.0.0.1:0")
	defer open.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closed.Close()
	port := func(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }

	dir, _ := os.MkdirTemp("", "xvs-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "xvs.yaml")
	os.WriteFile(path, []byte(`services:
  - proto: tcp
    vip: 198.18.0.10
    port: 80
    check:
      delay_loop: 1
      warmup: 0
      TCP_CHECK: {connect_timeout: 1, retry: 0}
    reals:
      - {address: 127.0.0.1, port: `+port(open)+`, method: nat}
      - {address: 127.0.0.2, port: `+port(closed)+`, method: nat}
`), 0o600)
	f, err := ReadFile(path, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	engine := newFakeEngine() // a *forwarder.Engine in a real program
	sup := NewSupervisor(engine, SupervisorOptions{Health: health.Options{Logger: quietLog}})
	if err := sup.Install(f); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sup.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	settled := func() bool {
		for _, st := range sup.Status() {
			if st.Runs == 0 {
				return false
			}
		}
		return len(engine.Config().Services[0].Reals) == 1
	}
	for !settled() {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("in the pool:", engine.Config().Services[0].Reals[0].Addr)
	for _, st := range sup.Status() {
		fmt.Println(st.Real[:9], st.State())
	}
	// Output:
	// in the pool: 127.0.0.1
	// 127.0.0.1 up
	// 127.0.0.2 down
}
