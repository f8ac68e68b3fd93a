package sched

import "errors"

// Sentinel errors. Functions wrap them with context ("scheduler \"xx\": %w"); test with errors.Is.
var (
	// ErrUnknownScheduler: the name is not one of Names().
	ErrUnknownScheduler = errors.New("unknown scheduler")
	// ErrBadFlag: a flag that the scheduler does not take (sh-* on anything but sh, mh-* on anything but mh).
	ErrBadFlag = errors.New("flag does not apply to scheduler")
	// ErrUnknownFlag: a string that is no scheduler flag's name.
	ErrUnknownFlag = errors.New("unknown scheduler flag")
	// ErrBadWeight: a weight outside 0..MaxWeight.
	ErrBadWeight = errors.New("weight out of range")
	// ErrBadTableSize: Options.MHTableSize is not a prime in the accepted range.
	ErrBadTableSize = errors.New("maglev table size must be a prime between 3 and 16777213")
	// ErrTooManyDests: more destinations than Maglev table slots (the kernel's -EINVAL).
	ErrTooManyDests = errors.New("more destinations than maglev table slots")
	// ErrNilDest: a nil *Dest in a destination list.
	ErrNilDest = errors.New("nil destination")
	// ErrDuplicateDest: the same *Dest twice in one destination list.
	ErrDuplicateDest = errors.New("destination listed twice")
)
