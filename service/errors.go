//lint:file-ignore ST1005 these errors carry ipvsadm's own words, capitals included, for the admin tool to print verbatim.

package service

import "errors"

// Errors of configuration changes, worded as ipvsadm prints them so the admin
// tool can show them verbatim. Use errors.Is to test for them.
var (
	ErrServiceExists  = errors.New("Service already exists")
	ErrNoService      = errors.New("No such service")
	ErrServiceUndef   = errors.New("Service not defined")
	ErrDestExists     = errors.New("Destination already exists")
	ErrNoDest         = errors.New("No such destination")
	ErrZeroPort       = errors.New("Zero port specified for non-persistent service")
	ErrNoScheduler    = errors.New("Scheduler or persistence engine not found")
	ErrInvalid        = errors.New("Invalid operation")
	ErrNetmaskNoPers  = errors.New("Netmask specified for non-persistent service")
	ErrOnePacketNoUDP = errors.New("One-Packet Scheduling is only for UDP virtual services")
)

// FieldError says which field of which service or real server is wrong and
// why. It wraps one of the sentinel errors above when ipvsadm has a word for it.
type FieldError struct {
	// Where names the object: "service TCP 198.18.0.1:80", "real 198.18.1.2:80".
	Where string
	// Field is the offending field's name as the config file spells it.
	Field string
	// Msg says what is wrong.
	Msg string
	// Err is the sentinel the problem maps to, if any.
	Err error
}

func (e *FieldError) Error() string {
	s := e.Where
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// Unwrap returns the sentinel error, if any.
func (e *FieldError) Unwrap() error { return e.Err }
