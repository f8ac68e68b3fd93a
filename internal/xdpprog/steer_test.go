package xdpprog

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// testConfig covers every rule shape: single VIPs, a service group with a
// prefix and a port range, an any-port service, and NAT reply rules.
var testConfig = Config{
	Rules: []Rule{
		{Proto: 6, Prefix: netip.MustParsePrefix("198.18.10.1/32"), PortLo: 80, PortHi: 80},
		{Proto: 17, Prefix: netip.MustParsePrefix("198.18.10.1/32"), PortLo: 53, PortHi: 53},
		{Proto: 6, Prefix: netip.MustParsePrefix("2001:db8:10::1/128"), PortLo: 443, PortHi: 443},
		{Proto: 6, Prefix: netip.MustParsePrefix("198.18.11.0/24"), PortLo: 8000, PortHi: 8010},
		{Proto: 17, Prefix: netip.MustParsePrefix("198.18.12.1/32")},
		{Proto: 6, Prefix: netip.MustParsePrefix("198.18.20.0/24"), PortLo: 80, PortHi: 80, Reply: true},
		{Proto: 17, Prefix: netip.MustParsePrefix("2001:db8:20::/64"), Reply: true},
	},
	Local: []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")},
}

// verdictNames are the counters of which every packet bumps exactly one.
var verdictNames = []string{
	"pass_short", "pass_other", "pass_nomatch", "pass_local",
	"steer_service", "steer_reply", "steer_icmp", "steer_fragment",
}

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
	if ret != xdpPass {
		t.Fatalf("program returned %d, want XDP_PASS (%d)", ret, xdpPass)
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

type steerCase struct {
	name string
	f    func(t testing.TB) []byte
	want string
}

func p(q pkt) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return frame(t, q) }
}

const client4, client6 = "198.18.30.9", "2001:db8:30::9"

var steerCases = []steerCase{
	{"tcp4 service", p(pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 40000, dport: 80}), "steer_service"},
	{"udp4 service", p(pkt{src: client4, dst: "198.18.10.1", proto: 17, sport: 40000, dport: 53}), "steer_service"},
	{"tcp4 wrong port", p(pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 40000, dport: 81}), "pass_nomatch"},
	{"udp4 on tcp port", p(pkt{src: client4, dst: "198.18.10.1", proto: 17, sport: 40000, dport: 80}), "pass_nomatch"},
	{"tcp4 other address", p(pkt{src: client4, dst: "198.18.10.2", proto: 6, sport: 40000, dport: 80}), "pass_nomatch"},
	{"tcp6 service", p(pkt{src: client6, dst: "2001:db8:10::1", proto: 6, sport: 40000, dport: 443}), "steer_service"},
	{"tcp6 other address", p(pkt{src: client6, dst: "2001:db8:10::2", proto: 6, sport: 40000, dport: 443}), "pass_nomatch"},
	{"tcp6 wrong port", p(pkt{src: client6, dst: "2001:db8:10::1", proto: 6, sport: 40000, dport: 80}), "pass_nomatch"},
	{"group low end", p(pkt{src: client4, dst: "198.18.11.0", proto: 6, sport: 1, dport: 8000}), "steer_service"},
	{"group high end", p(pkt{src: client4, dst: "198.18.11.255", proto: 6, sport: 1, dport: 8010}), "steer_service"},
	{"group inside", p(pkt{src: client4, dst: "198.18.11.77", proto: 6, sport: 1, dport: 8005}), "steer_service"},
	{"group port above", p(pkt{src: client4, dst: "198.18.11.77", proto: 6, sport: 1, dport: 8011}), "pass_nomatch"},
	{"group port below", p(pkt{src: client4, dst: "198.18.11.77", proto: 6, sport: 1, dport: 7999}), "pass_nomatch"},
	{"group outside prefix", p(pkt{src: client4, dst: "198.18.12.77", proto: 6, sport: 1, dport: 8005}), "pass_nomatch"},
	{"any port low", p(pkt{src: client4, dst: "198.18.12.1", proto: 17, sport: 1, dport: 1}), "steer_service"},
	{"any port high", p(pkt{src: client4, dst: "198.18.12.1", proto: 17, sport: 1, dport: 65535}), "steer_service"},
	{"any port zero", p(pkt{src: client4, dst: "198.18.12.1", proto: 17, sport: 1, dport: 0}), "steer_service"},
	{"any port other proto", p(pkt{src: client4, dst: "198.18.12.1", proto: 6, sport: 1, dport: 53}), "pass_nomatch"},
	{"reply to client", p(pkt{src: "198.18.20.5", dst: client4, proto: 6, sport: 80, dport: 40000}), "steer_reply"},
	{"reply to local", p(pkt{src: "198.18.20.5", dst: "198.18.0.1", proto: 6, sport: 80, dport: 40000}), "pass_local"},
	{"reply wrong port", p(pkt{src: "198.18.20.5", dst: client4, proto: 6, sport: 81, dport: 40000}), "pass_nomatch"},
	{"reply wrong proto", p(pkt{src: "198.18.20.5", dst: client4, proto: 17, sport: 80, dport: 40000}), "pass_nomatch"},
	{"reply6 any port", p(pkt{src: "2001:db8:20::5", dst: client6, proto: 17, sport: 1234, dport: 5}), "steer_reply"},
	{"reply6 to local", p(pkt{src: "2001:db8:20::5", dst: "2001:db8::1", proto: 17, sport: 1234, dport: 5}), "pass_local"},
	{"director to real server", p(pkt{src: "198.18.0.1", dst: "198.18.20.5", proto: 6, sport: 40000, dport: 80}), "pass_nomatch"},
	{"icmp unreachable to vip", p(pkt{src: "198.18.40.1", dst: "198.18.10.1", proto: 1, icmpType: 3}), "steer_icmp"},
	{"icmp time exceeded to group", p(pkt{src: "198.18.40.1", dst: "198.18.11.9", proto: 1, icmpType: 11}), "steer_icmp"},
	{"icmp param problem to vip", p(pkt{src: "198.18.40.1", dst: "198.18.10.1", proto: 1, icmpType: 12}), "steer_icmp"},
	{"icmp echo to vip", p(pkt{src: client4, dst: "198.18.10.1", proto: 1, icmpType: 8}), "pass_other"},
	{"icmp echo reply to vip", p(pkt{src: client4, dst: "198.18.10.1", proto: 1, icmpType: 0}), "pass_other"},
	{"icmp error from real server", p(pkt{src: "198.18.20.5", dst: client4, proto: 1, icmpType: 3}), "steer_icmp"},
	{"icmp error from real server to local", p(pkt{src: "198.18.20.5", dst: "198.18.0.1", proto: 1, icmpType: 3}), "pass_local"},
	{"icmp error unrelated", p(pkt{src: "198.18.40.1", dst: "198.18.0.1", proto: 1, icmpType: 3}), "pass_nomatch"},
	{"icmp6 unreachable to vip", p(pkt{src: "2001:db8:40::1", dst: "2001:db8:10::1", proto: 58, icmpType: 1}), "steer_icmp"},
	{"icmp6 too big to vip", p(pkt{src: "2001:db8:40::1", dst: "2001:db8:10::1", proto: 58, icmpType: 2}), "steer_icmp"},
	{"icmp6 param problem from real server", p(pkt{src: "2001:db8:20::5", dst: client6, proto: 58, icmpType: 4}), "steer_icmp"},
	{"icmp6 echo to vip", p(pkt{src: client6, dst: "2001:db8:10::1", proto: 58, icmpType: 128}), "pass_other"},
	{"icmp6 neighbour solicitation", p(pkt{src: client6, dst: "2001:db8:10::1", proto: 58, icmpType: 135}), "pass_other"},
	{"vlan tcp4 service", p(pkt{vlan: true, src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80}), "steer_service"},
	{"vlan tcp6 service", p(pkt{vlan: true, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), "steer_service"},
	{"vlan reply", p(pkt{vlan: true, src: "198.18.20.5", dst: client4, proto: 6, sport: 80, dport: 1}), "steer_reply"},
	{"vlan wrong port", p(pkt{vlan: true, src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 81}), "pass_nomatch"},
	{"ipv4 options", p(pkt{ipv4Opts: true, src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80}), "steer_service"},
	{"ipv4 options wrong port", p(pkt{ipv4Opts: true, src: client4, dst: "198.18.10.1", proto: 6, sport: 80, dport: 81}), "pass_nomatch"},
	{"first fragment to vip", p(pkt{mf: true, src: client4, dst: "198.18.10.1", proto: 17, sport: 1, dport: 9}), "steer_fragment"},
	{"later fragment to vip", p(pkt{fragOff: 100, src: client4, dst: "198.18.10.1", proto: 17, payload: []byte("continuation")}), "steer_fragment"},
	{"fragment from real server", p(pkt{fragOff: 100, src: "198.18.20.5", dst: client4, proto: 6}), "steer_fragment"},
	{"fragment elsewhere", p(pkt{mf: true, src: client4, dst: "198.18.0.1", proto: 17, sport: 1, dport: 53}), "pass_nomatch"},
	{"icmp fragment", p(pkt{mf: true, src: client4, dst: "198.18.10.1", proto: 1, icmpType: 3}), "pass_other"},
	{"ipv6 hop-by-hop", p(pkt{hopByHop: true, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), "steer_service"},
	{"ipv6 destination options", p(pkt{ext6: []uint8{60}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), "steer_service"},
	{"ipv6 hop-by-hop wrong port", p(pkt{ext6: []uint8{0}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 444}), "pass_nomatch"},
	{"ipv6 five headers", p(pkt{ext6: []uint8{0, 60, 43, 44, 60}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), "steer_service"},
	{"ipv6 six headers", p(pkt{ext6: []uint8{0, 60, 60, 60, 60, 60}, src: "2001:db8:20::5", dst: client6, proto: 17, sport: 1, dport: 2}), "steer_reply"},
	{"ipv6 seven headers", p(pkt{ext6: []uint8{0, 60, 60, 60, 60, 60, 60}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), "pass_other"},
	{"ipv6 routing done", p(pkt{ext6: []uint8{43}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), "steer_service"},
	{"ipv6 routing segments left", p(pkt{ext6: []uint8{43}, segLeft: 1, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), "pass_other"},
	{"ipv6 atomic fragment", p(pkt{ext6: []uint8{44}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443}), "steer_service"},
	{"ipv6 first fragment", p(pkt{ext6: []uint8{44}, frag6: 1, src: client6, dst: "2001:db8:10::1", proto: 17, sport: 1, dport: 9}), "steer_fragment"},
	{"ipv6 later fragment", p(pkt{ext6: []uint8{0, 44}, frag6: 1448, src: client6, dst: "2001:db8:10::1", proto: 17}), "steer_fragment"},
	{"ipv6 fragment from real server", p(pkt{ext6: []uint8{44}, frag6: 1448 | 1, src: "2001:db8:20::5", dst: client6, proto: 6}), "steer_fragment"},
	{"ipv6 fragment to local from real server", p(pkt{ext6: []uint8{44}, frag6: 8, src: "2001:db8:20::5", dst: "2001:db8::1", proto: 6}), "pass_local"},
	{"ipv6 fragment elsewhere", p(pkt{ext6: []uint8{44}, frag6: 8, src: client6, dst: "2001:db8:99::1", proto: 17}), "pass_nomatch"},
	{"ipv6 icmp fragment", p(pkt{ext6: []uint8{44}, frag6: 1, src: client6, dst: "2001:db8:10::1", proto: 58, icmpType: 1}), "pass_other"},
	{"ipv6 icmp error after options", p(pkt{ext6: []uint8{60}, src: "2001:db8:40::1", dst: "2001:db8:10::1", proto: 58, icmpType: 1}), "steer_icmp"},
	{"ipv6 options cut short", func(t testing.TB) []byte {
		f := frame(t, pkt{ext6: []uint8{60}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443})
		return f[:14+40+6]
	}, "pass_short"},
	{"ipv6 options longer than the packet", func(t testing.TB) []byte {
		f := frame(t, pkt{ext6: []uint8{60}, src: client6, dst: "2001:db8:10::1", proto: 6, sport: 1, dport: 443})
		f[14+40+1] = 200
		return f
	}, "pass_short"},
	{"gre to vip", p(pkt{src: client4, dst: "198.18.10.1", proto: 47}), "pass_other"},
	{"arp for vip", func(t testing.TB) []byte { return arpFrame(t, "198.18.10.1") }, "pass_other"},
	{"bad ihl", func(t testing.TB) []byte {
		f := frame(t, pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80})
		f[14] = 0x44
		return f
	}, "pass_short"},
	{"ipv4 version 6 inside ethertype 0800", func(t testing.TB) []byte {
		f := frame(t, pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80})
		f[14] = 0x65
		return f
	}, "pass_short"},
	{"ihl beyond frame", func(t testing.TB) []byte {
		f := frame(t, pkt{src: client4, dst: "198.18.10.1", proto: 6, sport: 1, dport: 80})
		f[14] = 0x4f
		return f[:14+24]
	}, "pass_short"},
}

func TestSteerClassify(t *testing.T) {
	s := newTestSteering(t, testConfig)
	for _, tc := range steerCases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f(t)
			if want := oracleSteer(testConfig, f); want != tc.want {
				t.Fatalf("oracle says %s, table says %s", want, tc.want)
			}
			if got := classify(t, s, f); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSteerEmpty checks that a fresh Steering passes everything.
func TestSteerEmpty(t *testing.T) {
	s := newTestSteering(t, Config{})
	for _, tc := range steerCases {
		f := tc.f(t)
		got := classify(t, s, f)
		if got[:5] == "steer" || got == "pass_local" {
			t.Errorf("%s: empty rule set gave %s", tc.name, got)
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
		if err != nil || ret != xdpPass {
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
		f.Add(tc.f(f))
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
