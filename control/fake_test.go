package control

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/xvs-project/xvs/service"
)

// fakeEngine implements Engine over a service.Config, with canned figures.
type fakeEngine struct {
	mu       sync.Mutex
	cfg      *service.Config
	stats    Stats
	conns    []Conn
	timeouts Timeouts
	zeroed   []*service.Key
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		cfg:      &service.Config{},
		timeouts: Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second},
	}
}

func (e *fakeEngine) Config() *service.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg.Clone()
}

func (e *fakeEngine) Apply(fn func(*service.Config) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.cfg.Clone()
	if err := fn(n); err != nil {
		return err
	}
	if err := n.Validate(); err != nil {
		return err
	}
	e.cfg = n
	return nil
}

func (e *fakeEngine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *fakeEngine) ZeroStats(k *service.Key) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k != nil && e.cfg.Find(*k) < 0 {
		return service.ErrNoService
	}
	e.zeroed = append(e.zeroed, k)
	return nil
}

func (e *fakeEngine) Conns(cursor uint64, max int) ([]Conn, uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cursor >= uint64(len(e.conns)) {
		return nil, 0
	}
	end := min(cursor+uint64(max), uint64(len(e.conns)))
	next := end
	if end == uint64(len(e.conns)) {
		next = 0
	}
	return append([]Conn(nil), e.conns[cursor:end]...), next
}

func (e *fakeEngine) Timeouts() Timeouts {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.timeouts
}

func (e *fakeEngine) SetCapacity(n int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n < e.stats.Table.Conns {
		return fmt.Errorf("capacity %d is below the %d live entries", n, e.stats.Table.Conns)
	}
	e.stats.Table.Capacity = n
	return nil
}

func (e *fakeEngine) SetTimeouts(t Timeouts) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.TCP != 0 {
		e.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		e.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		e.timeouts.UDP = t.UDP
	}
	return nil
}

var _ Engine = (*fakeEngine)(nil)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func tcpKey(addr string, port uint16) service.Key {
	return service.Key{Proto: service.TCP, Addr: mustAddr(addr), Port: port}
}

func tcpService(addr string, port uint16, sched string) *service.Service {
	return &service.Service{Proto: service.TCP, Addr: mustAddr(addr), Port: port, Scheduler: sched}
}

func natReal(addr string, port uint16, weight int32) *service.Real {
	return &service.Real{Addr: mustAddr(addr), Port: port, Weight: weight, Method: service.MethodNAT}
}
