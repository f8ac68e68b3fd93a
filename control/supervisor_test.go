package control

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

// switchChecker passes while up is set.
type switchChecker struct{ up atomic.Bool }

func (c *switchChecker) Check(context.Context) health.Result {
	if c.up.Load() {
		return health.Result{OK: true}
	}
	return health.Result{Reason: "switched off"}
}

func (c *switchChecker) Describe() (health.Kind, string) { return health.KindTCP, "switch" }

var fastTiming = health.Timing{DelayLoop: 20 * time.Millisecond, Timeout: 10 * time.Millisecond, DelayBeforeRetry: 10 * time.Millisecond}

var (
	svcWeb = service.Service{Proto: service.TCP, Addr: netip.MustParseAddr("198.18.0.10"), Port: 80, Scheduler: "wrr",
		Reals: []service.Real{
			{Addr: netip.MustParseAddr("198.18.1.2"), Port: 80, Weight: 3, Method: service.MethodNAT},
			{Addr: netip.MustParseAddr("198.18.1.3"), Port: 80, Weight: 1, Method: service.MethodNAT},
		}}
	svcDNS = service.Service{Proto: service.UDP, Addr: netip.MustParseAddr("198.18.0.10"), Port: 53, Scheduler: "rr",
		Reals: []service.Real{{Addr: netip.MustParseAddr("198.18.1.4"), Port: 53, Weight: 1, Method: service.MethodNAT}}}
	sorryWeb = service.Real{Addr: netip.MustParseAddr("198.18.1.9"), Port: 80, Weight: 1, Method: service.MethodNAT}
)

// checkedFile is web (checked: one switch per real) and dns (unchecked).
func checkedFile(a, b *switchChecker, sorry bool) *File {
	web := health.Service{Key: svcWeb.Key(), Name: "web", Quorum: 1}
	for i, c := range []*switchChecker{a, b} {
		r := svcWeb.Reals[i]
		web.Reals = append(web.Reals, health.Real{Key: r.Key(), Name: r.Addr.String(), Weight: int(r.Weight),
			Checks: []health.Check{{Checker: c, Timing: fastTiming}}})
	}
	f := &File{Path: "test", Format: FormatYAML,
		Services: &service.Config{Services: []service.Service{svcWeb, svcDNS}}, Health: []health.Service{web}}
	if sorry {
		f.Health[0].Sorry = &health.Real{Key: sorryWeb.Key(), Name: "sorry", Weight: 1}
		f.Sorry = map[service.Key]service.Real{svcWeb.Key(): sorryWeb}
	}
	return f
}

// realsOf returns "addr:weight" of service k as the engine has it.
func realsOf(e Engine, k service.Key) []string {
	for _, s := range e.Config().Services {
		if s.Key() == k {
			var out []string
			for _, r := range s.Reals {
				out = append(out, netip.AddrPortFrom(r.Addr, uint16(r.Weight)).String())
			}
			slices.Sort(out)
			return out
		}
	}
	return nil
}

func waitReals(t *testing.T, e Engine, k service.Key, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := realsOf(e, k)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: reals (addr:weight) %v, want %v", k, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startSupervisor(t *testing.T, e Engine, f *File) *Supervisor {
	t.Helper()
	s := NewSupervisor(e, SupervisorOptions{})
	if err := s.Install(f); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func TestSupervisorFollowsChecks(t *testing.T) {
	a, b := &switchChecker{}, &switchChecker{}
	a.up.Store(true)
	e := newFakeEngine()
	s := startSupervisor(t, e, checkedFile(a, b, false))
	// keepalived starts every real server alive; b fails its first probe
	// (one failure at start-up takes it down).
	if got := realsOf(e, svcWeb.Key()); len(got) != 2 {
		t.Errorf("right after Install: %v, want both reals", got)
	}
	waitReals(t, e, svcWeb.Key(), "198.18.1.2:3")
	waitReals(t, e, svcDNS.Key(), "198.18.1.4:1")
	b.up.Store(true)
	waitReals(t, e, svcWeb.Key(), "198.18.1.2:3", "198.18.1.3:1")
	if !s.Settle(time.Second) {
		t.Error("Settle timed out")
	}
	var downs int
	for _, st := range s.Status() {
		if st.Transitions > 0 {
			downs++
		}
	}
	if downs != 1 {
		t.Errorf("%d checkers changed state, want 1: %+v", downs, s.Status())
	}
}

func TestSupervisorSorryServer(t *testing.T) {
	a, b := &switchChecker{}, &switchChecker{}
	e := newFakeEngine()
	startSupervisor(t, e, checkedFile(a, b, true))
	waitReals(t, e, svcWeb.Key(), "198.18.1.9:1")
	a.up.Store(true)
	waitReals(t, e, svcWeb.Key(), "198.18.1.2:3")
}

func TestSupervisorReloadKeepsStateAndDropsChecks(t *testing.T) {
	a, b := &switchChecker{}, &switchChecker{}
	a.up.Store(true)
	e := newFakeEngine()
	s := startSupervisor(t, e, checkedFile(a, b, false))
	waitReals(t, e, svcWeb.Key(), "198.18.1.2:3")

	// The same file again: b stays out, not re-added by the reload.
	if err := s.Install(checkedFile(a, b, false)); err != nil {
		t.Fatal(err)
	}
	if got := realsOf(e, svcWeb.Key()); !slices.Equal(got, []string{"198.18.1.2:3"}) {
		t.Errorf("after an unchanged reload: %v, want b still out", got)
	}

	// A file without checks installs every real as written.
	plain := checkedFile(a, b, false)
	plain.Health = nil
	if err := s.Install(plain); err != nil {
		t.Fatal(err)
	}
	waitReals(t, e, svcWeb.Key(), "198.18.1.2:3", "198.18.1.3:1")
	time.Sleep(100 * time.Millisecond) // probes that were in flight must not change it back
	waitReals(t, e, svcWeb.Key(), "198.18.1.2:3", "198.18.1.3:1")
}

// refusingEngine refuses every Apply after the first n.
type refusingEngine struct {
	*fakeEngine
	left atomic.Int32
}

func (e *refusingEngine) Apply(fn func(*service.Config) error) error {
	if e.left.Add(-1) < 0 {
		return errors.New("refused")
	}
	return e.fakeEngine.Apply(fn)
}

func TestSupervisorRefusedFileChangesNothing(t *testing.T) {
	a, b := &switchChecker{}, &switchChecker{}
	a.up.Store(true)
	b.up.Store(true)
	e := &refusingEngine{fakeEngine: newFakeEngine()}
	e.left.Store(1)
	s := NewSupervisor(e, SupervisorOptions{})
	if err := s.Install(checkedFile(a, b, false)); err != nil {
		t.Fatal(err)
	}
	next := checkedFile(a, b, false)
	next.Services.Services = next.Services.Services[:1]
	next.Health[0].Reals = next.Health[0].Reals[:1]
	if err := s.Install(next); err == nil {
		t.Fatal("a refused Apply installed the file")
	}
	if got := realsOf(e, svcDNS.Key()); len(got) != 1 {
		t.Errorf("dns after a refused file: %v", got)
	}
	if n := len(s.Status()); n != 2 {
		t.Errorf("%d checkers after a refused file, want the previous 2", n)
	}
}

func TestSupervisorRouteRefuses(t *testing.T) {
	e := newFakeEngine()
	s := NewSupervisor(e, SupervisorOptions{Route: func(*File) error { return errors.New("no probe namespace") }})
	if err := s.Install(checkedFile(&switchChecker{}, &switchChecker{}, false)); err == nil {
		t.Fatal("Install went on after Route failed")
	}
	if n := len(e.Config().Services); n != 0 {
		t.Errorf("%d services installed", n)
	}
}
