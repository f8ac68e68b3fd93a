package admin

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

func TestListGolden(t *testing.T) {
	cfg := fixtureConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("fixture is not a valid config: %v", err)
	}
	table := &Table{Config: cfg, Stats: fixtureStats()}
	tests := []struct {
		golden string
		args   string
	}{
		{"list.golden", "-L"},
		{"list-n.golden", "-Ln"},
		{"stats.golden", "-L -n --stats"},
		{"stats-exact.golden", "-L -n --stats --exact"},
		{"rate.golden", "-L -n --rate"},
		{"rate-exact.golden", "-L -n --rate --exact"},
		{"thresholds.golden", "-L -n --thresholds"},
		{"persistent-conn.golden", "-L -n --persistent-conn"},
		{"tun-info.golden", "-L -n --tun-info"},
		{"nosort.golden", "-L -n --nosort"},
		{"service.golden", "-L -n -t 198.18.0.1:443"},
		{"service-names.golden", "-l -t www.example.net:http --stats"},
		{"group.golden", "-L -n -f web"},
		{"timeout.golden", "-L --timeout"},
		{"conns.golden", "-L -c"},
		{"conns-n.golden", "-Lnc"},
		{"conns-pc.golden", "-L -n -c --persistent-conn"},
		{"save.golden", "-S"},
		{"save-n.golden", "-S -n"},
	}
	b := &fakeBackend{cfg: cfg, stats: table.Stats, conns: fixtureConns(),
		timeouts: control.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			cmd, err := Parse(strings.Fields(tt.args), testResolver())
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := Run(cmd, b, Env{Stdout: &out, Resolver: testResolver()}); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, out.Bytes())
		})
	}
}

func TestListServiceMissing(t *testing.T) {
	table := &Table{Config: fixtureConfig()}
	err := ListService(&bytes.Buffer{}, table, service.Key{Proto: service.UDP, Addr: addr("198.18.0.1"), Port: 80}, Format{}, nil)
	if !errors.Is(err, service.ErrNoService) || Message(err) != "No such service" {
		t.Errorf("error %v", err)
	}
}

func TestLargeNum(t *testing.T) {
	tests := []struct {
		v     uint64
		exact bool
		want  string
	}{
		{0, false, "        0"},
		{99999999, false, " 99999999"},
		{100000000, false, "  100000K"},
		{999999999, false, "  999999K"},
		{1000000000, false, "    1000M"},
		{99999999999, false, "   99999M"},
		{100000000000, false, "     100G"},
		{99999999999999, false, "   99999G"},
		{100000000000000, false, "     100T"},
		{12345678, true, " 12345678"},
		{123456789, true, " 123456789"},
		{18446744073709551615, true, " 18446744073709551615"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		largeNum(&b, tt.v, tt.exact)
		if b.String() != tt.want {
			t.Errorf("largeNum(%d, %v) = %q, want %q", tt.v, tt.exact, b.String(), tt.want)
		}
	}
}

func TestServiceNameTruncation(t *testing.T) {
	// ipvsadm cuts an IPv4 service name at 33 bytes and a real server's at
	// 28, so a long host name cannot push the columns apart.
	cfg := &service.Config{Services: []service.Service{{
		Proto: service.TCP, Addr: addr("198.18.1.3"), Port: 80, Scheduler: "wlc",
		Reals: []service.Real{{Addr: addr("198.18.1.3"), Port: 80, Weight: 1, Method: service.MethodDR}},
	}}}
	var b bytes.Buffer
	if err := List(&b, &Table{Config: cfg}, Format{}, testResolver()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if want := "TCP  a-real-server-with-a-very-lo wlc"; lines[3] != want {
		t.Errorf("service line %q, want %q", lines[3], want)
	}
	if want := "  -> a-real-server-with-a-very-lo Route   1      0          0         "; lines[4] != want {
		t.Errorf("real line %q, want %q", lines[4], want)
	}
}
