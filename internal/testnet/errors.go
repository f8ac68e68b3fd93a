package testnet

import (
	"errors"
	"strings"
)

// Errors returned by the package; test for them with errors.Is.
var (
	// ErrOptions wraps every problem with Options.
	ErrOptions = errors.New("invalid lab options")
	// ErrClosed is returned by methods of a lab that was closed.
	ErrClosed = errors.New("lab closed")
	// ErrUnavailable says this machine or process cannot build labs; its
	// text says why (see Unavailable).
	ErrUnavailable = errors.New("network namespaces unavailable")
	// ErrNoGo says the go command, needed to build labserver, is missing.
	ErrNoGo = errors.New("go command not found")
	// ErrNotReady says a started program did not print its ready line.
	ErrNotReady = errors.New("program not ready")
	// ErrNoReply says an address did not answer Host.Ping in time.
	ErrNoReply = errors.New("no echo reply")
)

// CmdError is a command that failed inside (or, for namespace management,
// about) a lab namespace. Output is its combined, trimmed output.
type CmdError struct {
	NS     string
	Args   []string
	Output string
	Err    error
}

func (e *CmdError) Error() string {
	s := strings.Join(e.Args, " ")
	if e.NS != "" {
		s = e.NS + ": " + s
	}
	s += ": " + e.Err.Error()
	if e.Output != "" {
		s += ": " + e.Output
	}
	return s
}

// Unwrap returns the underlying exec error.
func (e *CmdError) Unwrap() error { return e.Err }
