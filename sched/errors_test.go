package sched

import (
	"errors"
	"testing"
)

func errorIs(err, target error) bool { return errors.Is(err, target) }

// TestBadInput: unknown names, foreign flags, out-of-range weights, nil and duplicate destinations.
func TestBadInput(t *testing.T) {
	d := NewDest(1, v4(10, 0, 0, 1), 80, 1)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"unknown scheduler", func() error { _, err := New("wrrr", nil, Options{}); return err }(), ErrUnknownScheduler},
		{"validate unknown", ValidateFlags("", 0), ErrUnknownScheduler},
		{"sh flag on rr", func() error { _, err := New("rr", nil, Options{Flags: FlagSHPort}); return err }(), ErrBadFlag},
		{"mh flag on sh", ValidateFlags("sh", FlagMHFallback), ErrBadFlag},
		{"sh flag on mh", ValidateFlags("mh", FlagSHFallback), ErrBadFlag},
		{"undefined bit", ValidateFlags("sh", 1<<10), ErrBadFlag},
		{"negative weight", ValidateWeight(-1), ErrBadWeight},
		{"weight above INT_MAX", ValidateWeight(MaxWeight + 1), ErrBadWeight},
		{"nil dest", func() error { _, err := New("wlc", []*Dest{d, nil}, Options{}); return err }(), ErrNilDest},
		{"duplicate dest", func() error { _, err := New("rr", []*Dest{d, d}, Options{}); return err }(), ErrDuplicateDest},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	good := []struct {
		name string
		err  error
	}{
		{"sh flags on sh", ValidateFlags("sh", FlagSHFallback|FlagSHPort)},
		{"mh flags on mh", ValidateFlags("mh", FlagMHFallback|FlagMHPort)},
		{"no flags on wlc", ValidateFlags("wlc", 0)},
		{"weight 0", ValidateWeight(0)},
		{"weight max", ValidateWeight(MaxWeight)},
	}
	for _, g := range good {
		if g.err != nil {
			t.Errorf("%s: %v", g.name, g.err)
		}
	}
	for _, n := range Names() {
		s, err := New(n, nil, Options{})
		if err != nil {
			t.Fatalf("%s with no servers: %v", n, err)
		}
		if s.Name() != n {
			t.Errorf("Name() = %q, want %q", s.Name(), n)
		}
		if got := s.Pick(&Flow{}); got != nil {
			t.Errorf("%s with no servers picked %v", n, got)
		}
	}
	if got := (FlagSHFallback | FlagSHPort).String(); got != "sh-fallback,sh-port" {
		t.Errorf("Flags.String = %q", got)
	}
}
