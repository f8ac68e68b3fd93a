package admin

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n--- got ---\n%s--- want ---\n%s", name, got, want)
	}
}

// fakeResolver knows a few host names and the built-in service names.
type fakeResolver struct {
	*ServiceTable
	hosts map[netip.Addr]string
}

func (f fakeResolver) HostName(a netip.Addr) (string, bool) {
	n, ok := f.hosts[a]
	return n, ok
}

func (f fakeResolver) LookupHost(name string, ipv6 bool) (netip.Addr, bool) {
	for a, n := range f.hosts {
		if n == name && a.Is6() == ipv6 {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func testResolver() Resolver {
	return fakeResolver{ServiceTable: WellKnown(), hosts: map[netip.Addr]string{
		addr("198.18.0.1"):  "www.example.net",
		addr("198.18.1.2"):  "web1.example.net",
		addr("198.18.1.3"):  "a-real-server-with-a-very-long-name.example.net",
		addr("2001:db8::1"): "v6.example.net",
	}}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// fixtureConfig is a table with one of everything a listing shows, in an
// order that is not the sorted one.
func fixtureConfig() *service.Config {
	return &service.Config{Services: []service.Service{
		{
			Proto: service.UDP, Addr: addr("198.18.0.2"), Port: 53, Scheduler: "sh",
			SchedFlags: []string{"sh-port", "sh-fallback"}, OnePacket: true,
			Reals: []service.Real{
				{Addr: addr("198.18.2.1"), Port: 53, Weight: 1, Method: service.MethodTUN},
				{Addr: addr("198.18.2.3"), Port: 53, Weight: 1, Method: service.MethodTUN, Tunnel: service.Tunnel{Type: service.TunGRE, Csum: service.TunCsum}},
				{Addr: addr("198.18.2.2"), Port: 53, Weight: 2, Method: service.MethodTUN, Tunnel: service.Tunnel{Type: service.TunGUE, Port: 6080}},
				{Addr: addr("198.18.2.4"), Port: 53, Weight: 1, Method: service.MethodTUN, Tunnel: service.Tunnel{Type: service.TunGUE, Port: 6079, Csum: service.TunRemCsum}},
			},
		},
		{
			Group: "web", Scheduler: "wrr",
			Matches: []service.Match{
				{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.10/32"), PortLo: 80, PortHi: 81},
				{Proto: service.TCP, Prefix: netip.MustParsePrefix("198.18.0.10/32"), PortLo: 443, PortHi: 443},
			},
			Persistence: &service.Persistence{Timeout: 900 * time.Second},
			Reals: []service.Real{
				{Addr: addr("198.18.1.4"), Port: 8080, Weight: 2, Method: service.MethodNAT},
				{Addr: addr("198.18.1.2"), Weight: 1, Method: service.MethodDR},
			},
		},
		{
			Proto: service.TCP, Addr: addr("198.18.0.1"), Port: 443, Scheduler: "rr",
			Persistence: &service.Persistence{Timeout: 600 * time.Second, NetmaskBits: 24},
			Reals: []service.Real{
				{Addr: addr("198.18.1.3"), Port: 8443, Weight: 0, Method: service.MethodNAT},
				{Addr: addr("198.18.1.2"), Port: 8443, Weight: 3, Method: service.MethodNAT, UpperThreshold: 100, LowerThreshold: 50},
			},
		},
		{
			Proto: service.TCP, Addr: addr("2001:db8::1"), Port: 80, Scheduler: "mh", SchedFlags: []string{"mh-port"},
			Persistence: &service.Persistence{Timeout: 300 * time.Second, NetmaskBits: 64},
			Reals:       []service.Real{{Addr: addr("2001:db8::10"), Port: 8080, Weight: 1, Method: service.MethodNAT}},
		},
		{
			Proto: service.TCP, Addr: addr("198.18.0.1"), Port: 80, Scheduler: "wlc",
			Reals: []service.Real{
				{Addr: addr("198.18.1.3"), Port: 80, Weight: 2, Method: service.MethodDR},
				{Addr: addr("198.18.1.2"), Port: 80, Weight: 1, Method: service.MethodDR},
			},
		},
		{
			Proto: service.TCP, Addr: addr("198.18.0.3"), Port: 0, Scheduler: "wlc",
			Persistence: &service.Persistence{Timeout: 300 * time.Second},
			Reals:       []service.Real{{Addr: addr("198.18.1.5"), Weight: 1, Method: service.MethodDR}},
		},
	}}
}

// fixtureStats gives the fixture figures that exercise every column width
// and the K/M/G/T scaling.
func fixtureStats() control.Stats {
	tcp := func(a string, p uint16) service.Key { return service.Key{Proto: service.TCP, Addr: addr(a), Port: p} }
	return control.Stats{
		Table: control.TableStats{Conns: 12, Capacity: 4096},
		Services: []control.ServiceStats{
			{
				Key:      tcp("198.18.0.1", 80),
				Counters: control.Counters{Conns: 123456789, InPkts: 987654321, OutPkts: 12345678901, InBytes: 123456789012345, OutBytes: 98765432109876543},
				Rates:    control.Rates{CPS: 12, InPPS: 3456, OutPPS: 2345, InBPS: 123456789, OutBPS: 1234567890},
				Reals: []control.RealStats{
					{Key: service.RealKey{Addr: addr("198.18.1.2"), Port: 80}, ActiveConns: 7, InactConns: 31,
						Counters: control.Counters{Conns: 61728394, InPkts: 500000000, OutPkts: 400000000, InBytes: 99999999, OutBytes: 100000000},
						Rates:    control.Rates{CPS: 6, InPPS: 1728, OutPPS: 1172, InBPS: 61728394, OutBPS: 617283945}},
					{Key: service.RealKey{Addr: addr("198.18.1.3"), Port: 80}, ActiveConns: 5, InactConns: 30, PersistConns: 0,
						Counters: control.Counters{Conns: 61728395, InPkts: 1, OutPkts: 2, InBytes: 3, OutBytes: 4}},
				},
			},
			{
				Key:      tcp("198.18.0.1", 443),
				Counters: control.Counters{Conns: 42, InPkts: 420, OutPkts: 380, InBytes: 42000, OutBytes: 1234567},
				Reals: []control.RealStats{
					{Key: service.RealKey{Addr: addr("198.18.1.2"), Port: 8443}, ActiveConns: 2, InactConns: 1, PersistConns: 9,
						Counters: control.Counters{Conns: 42, InPkts: 420, OutPkts: 380, InBytes: 42000, OutBytes: 1234567}},
				},
			},
			{
				Key:      service.Key{Group: "web"},
				Counters: control.Counters{Conns: 5},
				Reals: []control.RealStats{
					{Key: service.RealKey{Addr: addr("198.18.1.4"), Port: 8080}, ActiveConns: 1, PersistConns: 1, Counters: control.Counters{Conns: 5}},
				},
			},
		},
	}
}

func fixtureConns() []control.Conn {
	ap := netip.MustParseAddrPort
	return []control.Conn{
		{Proto: service.TCP, Expires: 14*time.Minute + 59*time.Second, State: "ESTABLISHED",
			Client: ap("198.19.0.7:40312"), Virtual: ap("198.18.0.1:80"), Real: ap("198.18.1.2:80")},
		{Proto: service.TCP, Expires: 1500 * time.Millisecond, State: "FIN_WAIT",
			Client: ap("198.19.0.8:40313"), Virtual: ap("198.18.0.1:443"), Real: ap("198.18.1.2:8443")},
		{Proto: service.UDP, Expires: 4*time.Minute + 3*time.Second, State: "UDP",
			Client: ap("198.19.0.9:5353"), Virtual: ap("198.18.0.2:53"), Real: ap("198.18.2.1:53")},
		{Proto: service.TCP, Expires: 99 * time.Minute, Template: true,
			Client: ap("198.19.0.0:0"), Virtual: ap("198.18.0.1:443"), Real: ap("198.18.1.2:8443")},
		{Proto: service.TCP, Expires: 65 * time.Second, State: "SYN_RECV",
			Client: ap("[2001:db8:1::7]:51000"), Virtual: ap("[2001:db8::1]:80"), Real: ap("[2001:db8::10]:8080")},
	}
}
