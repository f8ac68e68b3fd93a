package sched

import (
	"errors"
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	want := []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v", got)
	}
	for _, n := range want {
		s, err := New(n, nil, Options{})
		if err != nil || s.Name() != n || !Known(n) {
			t.Errorf("New(%q): %v, %v", n, s, err)
		}
	}
	if Known("wrrr") || FlagsFor("wrrr") != 0 || FlagsFor("rr") != 0 {
		t.Error("unknown or flagless scheduler takes flags")
	}
	if FlagsFor("sh") != FlagSHFallback|FlagSHPort || FlagsFor("mh") != FlagMHFallback|FlagMHPort {
		t.Errorf("FlagsFor: sh %v, mh %v", FlagsFor("sh"), FlagsFor("mh"))
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		sched, flag string
		want        Flags
		err         error
	}{
		{"sh", "sh-port", FlagSHPort, nil},
		{"sh", "flag-1", FlagSHFallback, nil},
		{"sh", "flag-2", FlagSHPort, nil},
		{"mh", "flag-1", FlagMHFallback, nil},
		{"mh", "mh-port", FlagMHPort, nil},
		{"sh", "flag-3", 0, ErrBadFlag},
		{"rr", "flag-1", 0, ErrBadFlag},
		{"mh", "sh-port", 0, ErrBadFlag},
		{"nosuch", "sh-port", 0, ErrBadFlag},
		{"sh", "port", 0, ErrUnknownFlag},
		{"sh", "", 0, ErrUnknownFlag},
		{"sh", "flag-4", 0, ErrUnknownFlag},
	}
	for _, tt := range tests {
		got, err := ParseIPVSFlag(tt.sched, tt.flag)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseIPVSFlag(%q, %q) = %v, %v; want %v, %v", tt.sched, tt.flag, got, err, tt.want, tt.err)
		}
	}
	if f, err := ParseFlags("sh", []string{"sh-port", "sh-fallback", "sh-port"}); f != FlagSHFallback|FlagSHPort || err != nil {
		t.Errorf("ParseFlags: %v, %v", f, err)
	}
	if _, err := ParseFlags("sh", []string{"flag-1"}); !errors.Is(err, ErrUnknownFlag) {
		t.Errorf("ParseFlags takes generic flags: %v", err)
	}
	if n := (FlagSHPort | FlagSHFallback).Names(); !slices.Equal(n, []string{"sh-fallback", "sh-port"}) {
		t.Errorf("Names() = %v", n)
	}
	if Flags(0).Names() != nil {
		t.Error("no flags have names")
	}
}
