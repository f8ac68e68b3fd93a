package service

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func vs(addr string, port uint16) Service {
	return Service{Proto: TCP, Addr: netip.MustParseAddr(addr), Port: port, Scheduler: "rr"}
}

func real(addr string, port uint16, m Method) Real {
	return Real{Addr: netip.MustParseAddr(addr), Port: port, Weight: 1, Method: m}
}

func TestOpsIpvsadmErrors(t *testing.T) {
	k := vs("198.18.0.10", 80).Key()
	tests := []struct {
		name string
		op   func(c *Config) error
		want error
	}{
		{"add twice", func(c *Config) error { return c.AddService(vs("198.18.0.10", 80)) }, ErrServiceExists},
		{"edit missing", func(c *Config) error { return c.EditService(vs("198.18.0.11", 80)) }, ErrNoService},
		{"delete missing", func(c *Config) error { return c.DeleteService(vs("198.18.0.11", 80).Key()) }, ErrNoService},
		{"real to missing service", func(c *Config) error {
			return c.AddReal(vs("198.18.0.11", 80).Key(), real("198.18.1.1", 80, MethodDR))
		}, ErrServiceUndef},
		{"duplicate real", func(c *Config) error { return c.AddReal(k, real("198.18.1.1", 80, MethodDR)) }, ErrDestExists},
		{"edit missing real", func(c *Config) error { return c.EditReal(k, real("198.18.1.9", 80, MethodDR)) }, ErrNoDest},
		{"delete missing real", func(c *Config) error {
			return c.DeleteReal(k, RealKey{Addr: netip.MustParseAddr("198.18.1.9"), Port: 80})
		}, ErrNoDest},
		{"zero port non-persistent", func(c *Config) error { return c.AddService(vs("198.18.0.12", 0)) }, ErrZeroPort},
		{"unknown scheduler", func(c *Config) error {
			s := vs("198.18.0.12", 80)
			s.Scheduler = "fastest"
			return c.AddService(s)
		}, ErrNoScheduler},
		{"one-packet on tcp", func(c *Config) error {
			s := vs("198.18.0.12", 80)
			s.OnePacket = true
			return c.AddService(s)
		}, ErrOnePacketNoUDP},
		{"real without method", func(c *Config) error { return c.AddReal(k, real("198.18.1.3", 80, MethodNone)) }, ErrInvalid},
		{"real of other family", func(c *Config) error { return c.AddReal(k, real("2001:db8::1", 80, MethodDR)) }, ErrInvalid},
		{"negative weight", func(c *Config) error {
			r := real("198.18.1.3", 80, MethodDR)
			r.Weight = -1
			return c.AddReal(k, r)
		}, ErrInvalid},
		{"flag of another scheduler", func(c *Config) error {
			s := vs("198.18.0.12", 80)
			s.SchedFlags = []string{"sh-port"}
			return c.AddService(s)
		}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{}
			if err := c.AddService(vs("198.18.0.10", 80)); err != nil {
				t.Fatal(err)
			}
			if err := c.AddReal(k, real("198.18.1.1", 80, MethodDR)); err != nil {
				t.Fatal(err)
			}
			before := c.Clone()
			err := tt.op(c)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if len(c.Services) != len(before.Services) || len(c.Services[0].Reals) != len(before.Services[0].Reals) {
				t.Fatalf("a refused operation changed the config")
			}
		})
	}
}

func TestNormalizeRealPorts(t *testing.T) {
	c := &Config{}
	s := vs("198.18.0.10", 80)
	s.Scheduler = ""
	if err := c.AddService(s); err != nil {
		t.Fatal(err)
	}
	if got := c.Services[0].Scheduler; got != DefaultScheduler {
		t.Fatalf("default scheduler = %q", got)
	}
	k := s.Key()
	for _, r := range []Real{real("198.18.1.1", 8080, MethodNAT), real("198.18.1.2", 8080, MethodDR), real("198.18.1.3", 0, MethodNAT)} {
		if err := c.AddReal(k, r); err != nil {
			t.Fatal(err)
		}
	}
	want := []uint16{8080, 80, 80}
	for i, r := range c.Services[0].Reals {
		if r.Port != want[i] {
			t.Errorf("real %d port = %d, want %d", i, r.Port, want[i])
		}
	}
}

func TestPersistentPortZero(t *testing.T) {
	c := &Config{}
	s := vs("198.18.0.10", 0)
	s.Persistence = &Persistence{}
	if err := c.AddService(s); err != nil {
		t.Fatal(err)
	}
	if got := c.Services[0].Persistence.Timeout; got != 300*time.Second {
		t.Fatalf("default persistence timeout = %v", got)
	}
}

func TestCloneIsDeep(t *testing.T) {
	c := &Config{}
	s := vs("198.18.0.10", 80)
	s.Persistence = &Persistence{Timeout: time.Minute}
	_ = c.AddService(s)
	_ = c.AddReal(s.Key(), real("198.18.1.1", 80, MethodDR))
	n := c.Clone()
	n.Services[0].Reals[0].Weight = 7
	n.Services[0].Persistence.Timeout = time.Hour
	if c.Services[0].Reals[0].Weight == 7 || c.Services[0].Persistence.Timeout == time.Hour {
		t.Fatal("clone shares memory with the original")
	}
}

func TestGroupValidation(t *testing.T) {
	g := Service{Group: "web", Scheduler: "rr", Persistence: &Persistence{},
		Matches: []Match{{Proto: TCP, Prefix: netip.MustParsePrefix("198.18.0.10/32"), PortLo: 80, PortHi: 80},
			{Proto: TCP, Prefix: netip.MustParsePrefix("2001:db8::10/128"), PortLo: 443, PortHi: 443}}}
	c := &Config{}
	if err := c.AddService(g); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mixed-family group: got %v", err)
	}
	g.Matches = g.Matches[:1]
	if err := c.AddService(g); err != nil {
		t.Fatal(err)
	}
}
