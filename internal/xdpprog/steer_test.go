package xdpprog

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xvs-project/xvs/internal/packettest"

	"github.com/xvs-project/xvs/internal/bpfasm"
)

// testConfig is the steering fixtures' rule set; steerCases replay the
// fixture rows (internal/packettest) through the program.
var testConfig = packettest.SteerRules

var steerCases = packettest.SteerRows

// verdictNames are the counters of which every packet bumps exactly one.
var verdictNames = packettest.Verdicts

func newTestSteering(t testing.TB, cfg Config) *Steering {
	t.Helper()
	needRoot(t)
	s, err := NewSteering(2)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("%+v", ve)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := s.Update(cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

// classify runs the steering program once on f with BPF_PROG_TEST_RUN and
// returns the verdict counter it bumped. With no socket in the XSKMAP the
// redirect falls back to XDP_PASS, so the return value alone cannot tell a
// steered packet from a passed one; the counters can, and every steered
// packet must also count steer_nosocket.
func classify(t testing.TB, s *Steering, f []byte) string {
	t.Helper()
	got, _ := classifyRun(t, s, &ebpf.RunOptions{Data: f, Repeat: 1})
	return got
}

// classifyRun is classify with the run's options given; it also returns
// the counters' changes.
func classifyRun(t testing.TB, s *Steering, opts *ebpf.RunOptions) (string, map[string]uint64) {
	t.Helper()
	before, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := s.prog.Run(opts)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	if ret != bpfasm.XDPPass {
		t.Fatalf("program returned %d, want XDP_PASS (%d)", ret, bpfasm.XDPPass)
	}
	after, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, name := range verdictNames {
		switch d := after[name] - before[name]; d {
		case 0:
		case 1:
			if got != "" {
				t.Fatalf("counters %s and %s both moved", got, name)
			}
			got = name
		default:
			t.Fatalf("counter %s moved by %d", name, d)
		}
	}
	if got == "" {
		t.Fatal("no verdict counter moved")
	}
	nosock := after["steer_nosocket"] - before["steer_nosocket"]
	if steered := got[:5] == "steer"; steered != (nosock == 1) {
		t.Fatalf("verdict %s but steer_nosocket moved by %d", got, nosock)
	}
	delta := make(map[string]uint64, len(after))
	for name, n := range after {
		delta[name] = n - before[name]
	}
	return got, delta
}

const client4, client6 = "198.18.30.9", "2001:db8:30::9"

func TestSteerClassify(t *testing.T) {
	s := newTestSteering(t, testConfig)
	for _, tc := range steerCases {
		t.Run(tc.Name, func(t *testing.T) {
			f := tc.Frame(packettest.Tagged)
			if want := oracleSteer(testConfig, f); want != tc.Want {
				t.Fatalf("oracle says %s, table says %s", want, tc.Want)
			}
			if got := classify(t, s, f); got != tc.Want {
				t.Errorf("got %s, want %s", got, tc.Want)
			}
		})
	}
}

// TestSteerEmpty checks that a fresh Steering passes everything.
func TestSteerEmpty(t *testing.T) {
	s := newTestSteering(t, Config{})
	for _, tc := range steerCases {
		f := tc.Frame(packettest.Tagged)
		got := classify(t, s, f)
		if got[:5] == "steer" || got == "pass_local" {
			t.Errorf("%s: empty rule set gave %s", tc.Name, got)
		}
	}
}

// TestSteerTruncated runs every prefix of a few frames: nothing crashes,
// every run returns XDP_PASS, and a frame cut before the bytes a decision
// needs counts as pass_short.
func TestSteerTruncated(t *testing.T) {
	s := newTestSteering(t, testConfig)
	for _, tc := range []struct {
		name string
		f    []byte
		need int // bytes needed to reach the verdict
		want string
	}{
		{"tcp4", frame(t, pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80}), 14 + 20 + 4, "steer_service"},
		{"udp6", frame(t, pkt{src: "2001:db8:20::5", dst: client6, proto: 17, sport: 1, dport: 2}), 14 + 40 + 4, "steer_reply"},
		{"vlan tcp4 options", frame(t, pkt{vlan: true, ipv4Opts: true, src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80}), 18 + 24 + 4, "steer_service"},
		{"icmp4", frame(t, pkt{src: "198.18.40.1", dst: "198.18.10.1", proto: 1, icmpType: 3}), 14 + 20 + 1, "steer_icmp"},
		{"icmp6", frame(t, pkt{src: "2001:db8:40::1", dst: "2001:db8:10::1", proto: 58, icmpType: 1}), 14 + 40 + 1, "steer_icmp"},
		{"tcp6 hop-by-hop dstopts", frame(t, pkt{ext6: []uint8{0, 60}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), 14 + 40 + 16 + 4, "steer_service"},
		{"udp6 later fragment", frame(t, pkt{ext6: []uint8{44}, frag6: 16, src: client6, dst: "2001:db8:10::1", proto: 17}), 14 + 40 + 8, "steer_fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The kernel refuses test runs below an Ethernet header.
			for n := 14; n <= len(tc.f); n++ {
				want := tc.want
				if n < tc.need {
					want = "pass_short"
				}
				if got := classify(t, s, tc.f[:n]); got != want {
					t.Fatalf("length %d: got %s, want %s", n, got, want)
				}
			}
		})
	}
}

func TestSteerUpdateSwaps(t *testing.T) {
	oldRule := Rule{Proto: 6, Prefix: netip.MustParsePrefix("198.18.10.1/32"), PortLo: 80, PortHi: 80}
	newRule := Rule{Proto: 17, Prefix: netip.MustParsePrefix("2001:db8:10::/120"), PortLo: 5000, PortHi: 5001}
	oldFrame := frame(t, pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80})
	newFrame := frame(t, pkt{src: client6, dst: "2001:db8:10::42", proto: 17, sport: 1, dport: 5001})

	s := newTestSteering(t, Config{Rules: []Rule{oldRule}})
	if got := classify(t, s, oldFrame); got != "steer_service" {
		t.Fatalf("old rule before update: %s", got)
	}
	if got := classify(t, s, newFrame); got != "pass_nomatch" {
		t.Fatalf("new rule before update: %s", got)
	}
	if err := s.Update(Config{Rules: []Rule{newRule}}); err != nil {
		t.Fatal(err)
	}
	if got := classify(t, s, oldFrame); got != "pass_nomatch" {
		t.Errorf("old rule after update: %s", got)
	}
	if got := classify(t, s, newFrame); got != "steer_service" {
		t.Errorf("new rule after update: %s", got)
	}
	// A rejected update leaves the current set in place.
	bad := Config{Rules: []Rule{{Proto: 1, Prefix: netip.MustParsePrefix("198.18.10.1/32")}}}
	if err := s.Update(bad); !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("bad update: %v, want ErrInvalidRule", err)
	}
	if got := classify(t, s, newFrame); got != "steer_service" {
		t.Errorf("after rejected update: %s", got)
	}
}

// TestSteerUpdateAtomic classifies a packet of a rule present in every
// generation while another goroutine keeps replacing the rest of the rule
// set: it must never miss.
func TestSteerUpdateAtomic(t *testing.T) {
	stable := Rule{Proto: 6, Prefix: netip.MustParsePrefix("198.18.10.1/32"), PortLo: 80, PortHi: 80}
	f := frame(t, pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80})
	s := newTestSteering(t, Config{Rules: []Rule{stable}})

	var stop atomic.Bool
	var wg sync.WaitGroup
	var updates atomic.Int64
	var updateErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			cfg := Config{Rules: []Rule{
				{Proto: 17, Prefix: netip.MustParsePrefix("198.18.50.0/24"), PortLo: uint16(1000 + i%7), PortHi: uint16(1200 + i%13)},
				stable,
			}}
			if err := s.Update(cfg); err != nil {
				updateErr = err
				return
			}
			updates.Add(1)
		}
	}()
	// Run until enough generations went by, bounded in time.
	runs := uint64(0)
	deadline := time.Now().Add(10 * time.Second)
	for updates.Load() < 20 && time.Now().Before(deadline) {
		ret, err := s.prog.Run(&ebpf.RunOptions{Data: f, Repeat: 1})
		if err != nil || ret != bpfasm.XDPPass {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("run: %d, %v", ret, err)
		}
		runs++
	}
	stop.Store(true)
	wg.Wait()
	if updateErr != nil {
		t.Fatal(updateErr)
	}
	c, err := s.Counters()
	if err != nil {
		t.Fatal(err)
	}
	misses := c["pass_nomatch"]
	t.Logf("%d updates during %d runs; steered %d, missed %d", updates.Load(), runs, c["steer_service"], misses)
	if misses != 0 || c["steer_service"] != runs {
		t.Errorf("counters %v: a packet of a stable rule missed during updates", c)
	}
	if updates.Load() < 20 {
		t.Errorf("only %d updates ran concurrently; the test proved nothing", updates.Load())
	}
}

func TestSteerSetSocketRange(t *testing.T) {
	s := newTestSteering(t, Config{})
	if err := s.SetSocket(2, 0); !errors.Is(err, ErrInvalidQueue) {
		t.Errorf("queue 2 of 2: %v, want ErrInvalidQueue", err)
	}
	if err := s.SetSocket(-1, 0); !errors.Is(err, ErrInvalidQueue) {
		t.Errorf("queue -1: %v, want ErrInvalidQueue", err)
	}
	if _, err := NewSteering(0); !errors.Is(err, ErrInvalidQueue) {
		t.Errorf("NewSteering(0): %v, want ErrInvalidQueue", err)
	}
}

func TestSteerClosed(t *testing.T) {
	needRoot(t)
	s, err := NewSteering(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Update(Config{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if err := s.Attach(1, ModeGeneric); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v", err)
	}
	if err := s.Detach(); err != nil {
		t.Errorf("Detach after Close: %v", err)
	}
}

// FuzzSteer feeds arbitrary frames to the program and compares its verdict
// with the Go oracle. Seeds are the table's frames.
func FuzzSteer(f *testing.F) {
	needRoot(f)
	for _, tc := range steerCases {
		f.Add(tc.Frame(packettest.Tagged))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 14 || len(b) > 1500 {
			return // the kernel refuses test runs outside these sizes anyway
		}
		s := fuzzSteering(t)
		want := oracleSteer(testConfig, b)
		if got := classify(t, s, b); got != want {
			t.Fatalf("program %s, oracle %s for % x", got, want, b)
		}
	})
}

var (
	fuzzOnce sync.Once
	fuzzS    *Steering
	fuzzErr  error
)

// fuzzSteering shares one loaded program across fuzz iterations (loading
// costs milliseconds); it is never closed, the process exit frees it.
func fuzzSteering(t *testing.T) *Steering {
	needRoot(t)
	fuzzOnce.Do(func() {
		fuzzS, fuzzErr = NewSteering(1)
		if fuzzErr == nil {
			fuzzErr = fuzzS.Update(testConfig)
		}
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzS
}

// BenchmarkSteerUpdate measures a full rule-set swap: a service group with
// a 1000-port range on two protocols plus a few VIPs (about 2000 entries).
func BenchmarkSteerUpdate(b *testing.B) {
	s := newTestSteering(b, Config{})
	cfg := Config{Rules: append([]Rule{
		{Proto: 6, Prefix: netip.MustParsePrefix("198.18.60.0/24"), PortLo: 10000, PortHi: 10999},
		{Proto: 17, Prefix: netip.MustParsePrefix("198.18.60.0/24"), PortLo: 10000, PortHi: 10999},
	}, testConfig.Rules...), Local: testConfig.Local}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Update(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSteerProgram measures the program itself per packet with
// BPF_PROG_TEST_RUN repeat (the kernel's own loop), for a steered service
// packet and for a packet that misses every rule (the longest lookup chain).
//
// "tags" is the program variant that reads offloaded VLAN tags, here from
// the (empty) metadata area: the cost of the tag check on an untagged frame.
// The device-bound variant calls the kfunc instead and cannot be test-run.
func BenchmarkSteerProgram(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchSteer(b, newTestSteering(b, testConfig)) })
	b.Run("tags", func(b *testing.B) { benchSteer(b, newTagTestSteering(b, testConfig)) })
}

func benchSteer(b *testing.B, s *Steering) {
	for _, bc := range []struct {
		name string
		f    []byte
	}{
		{"service_v4", frame(b, pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80})},
		{"nomatch_v4", frame(b, pkt{src: client4, dst: "198.18.0.1", proto: 6, sport: 1, dport: 22})},
		{"reply_v6", frame(b, pkt{src: "2001:db8:20::5", dst: client6, proto: 17, sport: 1, dport: 2})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const repeat = 1000
			var total time.Duration
			for b.Loop() {
				_, d, err := s.prog.Benchmark(bc.f, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += d
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
		})
	}
}
