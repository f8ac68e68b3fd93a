package sched

import (
	"fmt"
	"strings"
)

// Flags are the per-service scheduler flags (ipvsadm -b).
type Flags uint32

// The flags, in the kernel's bit order (IP_VS_SVC_F_SCHED_SH_FALLBACK ...).
const (
	FlagSHFallback Flags = 1 << iota // sh-fallback: when the hashed server is unavailable, walk the table
	FlagSHPort                       // sh-port: hash the source port too (TCP, UDP, SCTP)
	FlagMHFallback                   // mh-fallback: as sh-fallback, for mh
	FlagMHPort                       // mh-port: as sh-port, for mh

	flagsAll = FlagSHFallback | FlagSHPort | FlagMHFallback | FlagMHPort
)

// flagNames are ipvsadm's spellings, indexed by bit.
var flagNames = [...]string{"sh-fallback", "sh-port", "mh-fallback", "mh-port"}

// registry is the one table of schedulers: their names in ipvsadm's
// documentation order, the flags each takes and how each is made. generic[i]
// is what ipvsadm's generic flag-(i+1) means for the scheduler (the kernel's
// IP_VS_SVC_F_SCHED1..3 bits, which sh and mh give their own names); the
// flags a scheduler takes are exactly those.
var registry = [...]struct {
	name    string
	generic []Flags
	make    func(Options) (Scheduler, error)
}{
	{"rr", nil, func(Options) (Scheduler, error) { return &rrSched{}, nil }},
	{"wrr", nil, func(Options) (Scheduler, error) { return &wrrSched{}, nil }},
	{"lc", nil, least("lc", kindLC)},
	{"wlc", nil, least("wlc", kindWLC)},
	{"lblc", nil, func(o Options) (Scheduler, error) { return newLocSched(o, false), nil }},
	{"lblcr", nil, func(o Options) (Scheduler, error) { return newLocSched(o, true), nil }},
	{"dh", nil, func(Options) (Scheduler, error) { return &dhSched{}, nil }},
	{"sh", []Flags{FlagSHFallback, FlagSHPort}, func(o Options) (Scheduler, error) {
		return &shSched{flags: o.Flags}, nil
	}},
	{"sed", nil, least("sed", kindSED)},
	{"nq", nil, least("nq", kindNQ)},
	{"fo", nil, least("fo", kindFO)},
	{"ovf", nil, least("ovf", kindOVF)},
	{"mh", []Flags{FlagMHFallback, FlagMHPort}, func(o Options) (Scheduler, error) {
		m, err := mhSize(o.MHTableSize)
		if err != nil {
			return nil, err
		}
		return &mhSched{m: m, flags: o.Flags}, nil
	}},
	{"twos", nil, func(Options) (Scheduler, error) { return &twosSched{}, nil }},
}

func least(name string, kind leastKind) func(Options) (Scheduler, error) {
	return func(Options) (Scheduler, error) { return newLeastSched(name, kind), nil }
}

// entry returns the registry index of name, or -1.
func entry(name string) int {
	for i := range registry {
		if registry[i].name == name {
			return i
		}
	}
	return -1
}

// Names returns the scheduler names New accepts, in ipvsadm's documentation
// order.
func Names() []string {
	out := make([]string, len(registry))
	for i := range registry {
		out[i] = registry[i].name
	}
	return out
}

// Known reports whether name is a scheduler New accepts.
func Known(name string) bool { return entry(name) >= 0 }

// FlagsFor returns the flags the named scheduler takes: sh takes
// FlagSHFallback and FlagSHPort, mh takes FlagMHFallback and FlagMHPort, the
// others (and unknown names) none.
func FlagsFor(name string) Flags {
	var f Flags
	if i := entry(name); i >= 0 {
		for _, g := range registry[i].generic {
			f |= g
		}
	}
	return f
}

// FlagByName returns the flag ipvsadm spells s ("sh-port"); ok is false for
// any other string.
func FlagByName(s string) (f Flags, ok bool) {
	for i, n := range flagNames {
		if n == s {
			return 1 << i, true
		}
	}
	return 0, false
}

// ParseFlags turns the flag names of a service of the named scheduler into
// Flags. A name that is no flag wraps ErrUnknownFlag; a flag the scheduler
// does not take (or a name that is no scheduler) wraps ErrBadFlag.
func ParseFlags(scheduler string, names []string) (Flags, error) {
	var out Flags
	for _, n := range names {
		f, ok := FlagByName(n)
		if !ok {
			return 0, fmt.Errorf("scheduler flag %q: %w", n, ErrUnknownFlag)
		}
		if f&^FlagsFor(scheduler) != 0 {
			return 0, fmt.Errorf("scheduler %s, flag %s: %w", scheduler, n, ErrBadFlag)
		}
		out |= f
	}
	return out, nil
}

// ParseIPVSFlag reads one flag as ipvsadm -b takes it for the named
// scheduler: a flag name, or the generic flag-1, flag-2 or flag-3, which
// mean what the scheduler calls its first, second or third flag. Errors are
// as ParseFlags's.
func ParseIPVSFlag(scheduler, s string) (Flags, error) {
	if n, ok := strings.CutPrefix(s, "flag-"); ok && len(n) == 1 && n[0] >= '1' && n[0] <= '3' {
		var gen []Flags
		if i := entry(scheduler); i >= 0 {
			gen = registry[i].generic
		}
		if j := int(n[0] - '1'); j < len(gen) {
			return gen[j], nil
		}
		return 0, fmt.Errorf("scheduler %s, flag %s: %w", scheduler, s, ErrBadFlag)
	}
	return ParseFlags(scheduler, []string{s})
}

// ValidateFlags reports whether every flag in f belongs to the named
// scheduler (see FlagsFor). An unknown name wraps ErrUnknownScheduler.
func ValidateFlags(name string, f Flags) error {
	if !Known(name) {
		return fmt.Errorf("scheduler %q: %w", name, ErrUnknownScheduler)
	}
	if bad := f &^ FlagsFor(name); bad != 0 {
		return fmt.Errorf("scheduler %s, flags %s: %w", name, bad, ErrBadFlag)
	}
	return nil
}

// Names returns ipvsadm's spellings of f in the kernel's bit order (so
// fallback before port), nil for none. Bits that are no flag are left out.
func (f Flags) Names() []string {
	var out []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String returns ipvsadm's spelling, comma separated ("sh-fallback,sh-port").
func (f Flags) String() string {
	parts := f.Names()
	if rest := f &^ flagsAll; rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(rest)))
	}
	return strings.Join(parts, ",")
}
