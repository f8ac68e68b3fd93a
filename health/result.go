package health

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Kind names a checker type as keepalived.conf spells it.
type Kind string

// The checker kinds keepalived has and this package implements.
const (
	KindTCP  Kind = "TCP_CHECK"
	KindHTTP Kind = "HTTP_GET"
	KindSSL  Kind = "SSL_GET"
	KindUDP  Kind = "UDP_CHECK"
	KindDNS  Kind = "DNS_CHECK"
	KindMisc Kind = "MISC_CHECK"
)

// Result is the outcome of one probe.
type Result struct {
	// OK says the probe passed.
	OK bool
	// Reason says why it failed ("HTTP status 503"), or, for a pass, what passed when that is
	// worth telling ("digest match"); it is shown in the status listing and log lines.
	Reason string
	// Dynamic is set by a MISC_CHECK with misc_dynamic: Weight then is the server's weight from
	// now on, or -1 for its configured weight (exit status 0).
	Dynamic bool
	Weight  int
}

// Checker runs one probe of one real server. Check must return by the time ctx is done; the
// engine gives it a deadline of the check's timeout (connect_timeout, or misc_timeout). A
// Checker is called from one goroutine at a time.
type Checker interface {
	Check(ctx context.Context) Result
	// Describe says what is probed, for the status listing: kind and target ("198.18.1.2:80/health").
	Describe() (Kind, string)
}

func pass() Result                        { return Result{OK: true} }
func fail(reason string) Result           { return Result{Reason: reason} }
func failErr(op string, err error) Result { return Result{Reason: reason(op, err)} }

// reason turns a network error into keepalived-like short words: "connect: connection refused",
// "read: timeout". The address is left out: the status listing already names the target.
func reason(op string, err error) string {
	if err == nil {
		return op
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return op + ": timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return op + ": timeout"
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		var errno syscall.Errno
		if errors.As(se.Err, &errno) {
			return op + ": " + errno.Error()
		}
		return op + ": " + se.Err.Error()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return op + ": " + errno.Error()
	}
	if errors.Is(err, context.Canceled) {
		return op + ": canceled"
	}
	return op + ": " + err.Error()
}

// deadline is the probe's deadline, or a far one if ctx has none.
func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Hour)
}
