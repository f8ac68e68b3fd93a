package admin

import (
	"errors"
	"fmt"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// Kinds of command-line errors. A *SyntaxError matches ErrSyntax and one of
// these with errors.Is; its message is ipvsadm's wording.
var (
	ErrSyntax           = errors.New("syntax error")
	ErrTryHelp          = errors.New("no command given")
	ErrUnknownOption    = errors.New("unknown option")
	ErrMissingArgument  = errors.New("missing argument")
	ErrInvalidOption    = errors.New("invalid option")
	ErrUnexpectedArg    = errors.New("unexpected argument")
	ErrMultipleOptions  = errors.New("multiple options")
	ErrMissingOption    = errors.New("missing option")
	ErrIllegalOption    = errors.New("illegal option")
	ErrConflict         = errors.New("conflicting options")
	ErrIllegalService   = errors.New("illegal virtual service")
	ErrIllegalReal      = errors.New("illegal real server")
	ErrIllegalWeight    = errors.New("illegal weight")
	ErrIllegalThreshold = errors.New("illegal threshold")
	ErrIllegalNetmask   = errors.New("illegal netmask")
	ErrInvalidTimeout   = errors.New("invalid timeout")
	ErrInvalidGroup     = errors.New("invalid service group")
	ErrInvalidMatch     = errors.New("invalid match")
	ErrSchedFlag        = errors.New("bad scheduler flag")
	ErrTunnel           = errors.New("bad tunnel option")
	ErrFamily           = errors.New("address family mismatch")
	ErrUnsupported      = errors.New("not supported by xvs")
	ErrNotConfig        = errors.New("not a configuration command")
)

// SyntaxError is a problem with a command line, worded as ipvsadm words it.
type SyntaxError struct {
	// Msg is the whole message, e.g. "illegal weight specified".
	Msg string
	// Kind is one of the Err* kinds above, or a service sentinel when
	// ipvsadm itself catches what the service package would (zero port,
	// one-packet scheduling of TCP, an unknown persistence engine).
	Kind error
	// Status is the exit status ipvsadm uses for it: 2, or 255 for the
	// "Try ... -h" answer to a command line without a command.
	Status int
}

func (e *SyntaxError) Error() string { return e.Msg }

// Is matches ErrSyntax and the error's kind.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax || target == e.Kind }

func syntaxf(kind error, format string, args ...any) *SyntaxError {
	return &SyntaxError{Msg: fmt.Sprintf(format, args...), Kind: kind, Status: 2}
}

// LineError says which line of a rules file (-R) is wrong. Nothing of the
// file was applied.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, Message(e.Err)) }

// Unwrap returns the line's own error.
func (e *LineError) Unwrap() error { return e.Err }

// Message is what xvsadm prints for err: ipvsadm's words for the errors
// ipvsadm has words for (a syntax error, "No such service", "Destination
// already exists", ...), and the full explanation otherwise (an invalid
// address says which field of which object is wrong).
func Message(err error) string {
	var le *LineError
	if errors.As(err, &le) {
		return le.Error()
	}
	var se *SyntaxError
	if errors.As(err, &se) {
		return se.Msg
	}
	// A service sentinel's words are all ipvsadm prints. Only "Invalid
	// operation" would hide which field of which object is wrong, so that
	// one keeps the full explanation.
	if s := control.ServiceSentinel(err); s != nil && s != service.ErrInvalid {
		return s.Error()
	}
	return err.Error()
}

// ExitStatus is the exit status xvsadm ends with after err: 0 for nil, the
// SyntaxError's status for command-line errors (2, or 255), 1 otherwise.
func ExitStatus(err error) int {
	if err == nil {
		return 0
	}
	var se *SyntaxError
	if errors.As(err, &se) && se.Status != 0 {
		return se.Status
	}
	return 1
}
