package control

// The control protocol
//
// The daemon listens on a Unix stream socket (DefaultSocket, or $XVS_SOCKET).
// A client sends requests as JSON objects, one per line (newline-delimited
// JSON); the server answers every request with exactly one JSON line, in
// order, and keeps the connection open for further requests until the client
// closes it or stays idle for IdleTimeout. A request line may be at most
// MaxRequestSize bytes.
//
//	→ {"op":"timeouts"}
//	← {"timeouts":{"tcp":900000000000,"tcpfin":120000000000,"udp":300000000000}}
//	→ {"op":"apply","changes":[{"kind":"delete-service","key":{"Proto":6,"Addr":"198.18.0.1","Port":80,"Group":""}}]}
//	← {"error":{"code":"no-service","message":"No such service","change":1}}
//
// Requests (field "op") and what they carry and return:
//
//	config        → config: the running service.Config
//	apply         changes: []Change, applied in order to a copy of the running
//	              configuration and installed atomically only if all succeed
//	              (ipvsadm -A/-E/-D/-C/-a/-e/-d, and a whole -R file at once)
//	              → warnings: what the installed change cannot do, if anything
//	stats         → stats: Stats (counters, rates, table figures, drops)
//	drops         → drops: DropReport, every loss counter as a (queue,
//	              reason, count) record, and the steering verdicts beside
//	              them (xvsadm -L --drops)
//	mh            → mh: []MHTable, every mh service's Maglev table size,
//	              flags, digest and the slots of each real server, so the
//	              directors behind one ECMP router can be compared
//	              (xvsadm -L --mh)
//	zero          key: service.Key or absent for all → (nothing) (ipvsadm -Z)
//	conns         cursor, max → conns: []Conn, next: cursor of the following
//	              page, 0 when done (ipvsadm -Lc); max is capped at MaxConnsPage
//	timeouts      → timeouts: Timeouts (ipvsadm -L --timeout)
//	set-timeouts  timeouts: Timeouts, zero fields unchanged (ipvsadm --set)
//	reload        re-reads the configuration file through the daemon's reload
//	              hook (the same as SIGHUP)
//	sync          → sync: SyncStatus, the IPVS sync daemons and their counts
//	              (xvsadm -L --daemon, xvsadm --sync)
//	sync-start    role: master|backup, daemon: SyncDaemon → (nothing)
//	              (ipvsadm --start-daemon; "Daemon has already run")
//	sync-stop     role → (nothing) (ipvsadm --stop-daemon; "No daemon is
//	              running")
//	bgp           → bgp: BGPStatus, the BGP peers and the announced VIP
//	              prefixes (xvsadm -L --bgp)
//	drain         withdraws every prefix, forwarding goes on → bgp
//	              (xvsadm --drain)
//	undrain       announces the healthy VIPs again → bgp (xvsadm --undrain)
//
// Durations are JSON numbers of nanoseconds; service.Config and its parts use
// Go's default JSON encoding of the service package's types (addresses and
// prefixes as strings: a Conn's ends are "198.19.0.7:40312", "" where it has
// none; drops are lists of {queue, reason, count} records). A failed request is answered with "error": a stable
// machine-readable code (see the Code* constants), the message to show a
// person — ipvsadm's words where ipvsadm has them — and, for apply, the
// 1-based position of the change that failed.
//
// Only root and the user the daemon runs as may talk to it: the socket is
// created with mode 0600 and the server also checks the peer's credentials
// (SO_PEERCRED); anyone else gets code "permission" and the connection is
// closed.

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
	"github.com/xvs-project/xvs/vrrp"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/xvs/xvs.sock"

// SocketEnv names the environment variable that overrides DefaultSocket for
// both the daemon and xvsadm.
const SocketEnv = "XVS_SOCKET"

// Limits of the protocol.
const (
	// MaxRequestSize bounds one request line (a restore of tens of
	// thousands of rules fits easily).
	MaxRequestSize = 32 << 20
	// MaxConnsPage bounds the entries of one conns answer.
	MaxConnsPage = 10000
	// IdleTimeout closes a connection that sends no request for this long.
	IdleTimeout = 60 * time.Second
)

// Op names a request.
type Op string

// The requests the server answers.
const (
	OpConfig      Op = "config"
	OpApply       Op = "apply"
	OpStats       Op = "stats"
	OpZero        Op = "zero"
	OpConns       Op = "conns"
	OpTimeouts    Op = "timeouts"
	OpSetTimeouts Op = "set-timeouts"
	OpSetCapacity Op = "set-capacity"
	OpReload      Op = "reload"
	OpDrops       Op = "drops"
	OpMH          Op = "mh"
	OpChecks      Op = "checks"
	OpVRRP        Op = "vrrp"
	OpSync        Op = "sync"
	OpSyncStart   Op = "sync-start"
	OpSyncStop    Op = "sync-stop"
	OpBGP         Op = "bgp"
	OpDrain       Op = "drain"
	OpUndrain     Op = "undrain"
)

// Request is one line a client sends.
type Request struct {
	Op Op `json:"op"`
	// Changes are the edits of an apply request.
	Changes []Change `json:"changes,omitempty"`
	// Key selects the service of a zero request; nil zeroes everything.
	Key *service.Key `json:"key,omitempty"`
	// Cursor and Max page a conns request; Cursor 0 starts at the beginning.
	Cursor uint64 `json:"cursor,omitempty"`
	Max    int    `json:"max,omitempty"`
	// Timeouts are the new values of a set-timeouts request.
	Timeouts *Timeouts `json:"timeouts,omitempty"`
	// Capacity is the new connection table capacity of a set-capacity request.
	Capacity int `json:"capacity,omitempty"`
	// Role and Daemon are the sync daemon of a sync-start or sync-stop
	// request.
	Role   SyncRole    `json:"role,omitempty"`
	Daemon *SyncDaemon `json:"daemon,omitempty"`
}

// Response is the line the server answers a Request with. Only the fields of
// the request's kind are set; Error is set instead when it failed.
type Response struct {
	Error    *ErrorReply     `json:"error,omitempty"`
	Config   *service.Config `json:"config,omitempty"`
	Stats    *Stats          `json:"stats,omitempty"`
	Conns    []Conn          `json:"conns,omitempty"`
	Next     uint64          `json:"next,omitempty"`
	Timeouts *Timeouts       `json:"timeouts,omitempty"`
	// Warnings of an apply that succeeded: what the new configuration
	// cannot do (a real server no served interface routes to). The change
	// is made all the same.
	Warnings []string `json:"warnings,omitempty"`
	// Drops answers a drops request.
	Drops *DropReport `json:"drops,omitempty"`
	// MH answers an mh request (empty: no mh service).
	MH []MHTable `json:"mh,omitempty"`
	// Checks answers a checks request.
	Checks *ChecksReport `json:"checks,omitempty"`
	// VRRP answers a vrrp request: every instance's status.
	VRRP []vrrp.Status `json:"vrrp,omitempty"`
	// Sync answers a sync request.
	Sync *SyncStatus `json:"sync,omitempty"`
	// BGP answers bgp, drain and undrain.
	BGP *BGPStatus `json:"bgp,omitempty"`
}

// ChecksReport is the health checks' state (xvsadm --checks): every
// checker, and the quorum view of every checked service.
type ChecksReport struct {
	Checks   []health.CheckStatus   `json:"checks"`
	Services []health.ServiceStatus `json:"services"`
}

// Warner is an Engine that can say what an applied change cannot do; the
// server answers an apply with its warnings when the engine is one.
type Warner interface {
	// ApplyWarn is Engine.Apply that also returns warnings about the
	// installed configuration; they never make the change fail.
	ApplyWarn(fn func(*service.Config) error) ([]string, error)
}

// ErrorReply describes a failed request.
type ErrorReply struct {
	// Code is stable and machine-readable; see the Code* constants.
	Code string `json:"code"`
	// Message is what to show a person (ipvsadm's words where it has them).
	Message string `json:"message"`
	// Change is the 1-based position of the failing change of an apply
	// request, 0 otherwise.
	Change int `json:"change,omitempty"`
}

// Error codes of ErrorReply. The first group maps one to one onto the
// sentinel errors of package service.
const (
	CodeServiceExists = "service-exists"
	CodeNoService     = "no-service"
	CodeServiceUndef  = "service-undefined"
	CodeDestExists    = "dest-exists"
	CodeNoDest        = "no-dest"
	CodeZeroPort      = "zero-port"
	CodeNoScheduler   = "no-scheduler"
	CodeInvalid       = "invalid"
	CodeNetmaskNoPers = "netmask-no-persistence"
	CodeOnePacketUDP  = "one-packet-udp"

	CodePermission = "permission"  // the caller is neither root nor the daemon's user
	CodeBadRequest = "bad-request" // malformed or unknown request
	CodeNoReload   = "no-reload"   // the daemon has no reload hook
	CodeBusy       = "busy"        // too many clients at once
	CodeInternal   = "internal"    // anything else; Message says what
)

// Error codes of the sync daemons: ErrDaemonRunning, ErrNoDaemon and
// ErrNoDevice (ipvsadm's words), ErrNoSync.
const (
	CodeDaemonRunning = "daemon-running"
	CodeNoDaemon      = "no-daemon"
	CodeNoDevice      = "no-device"
	CodeNoSync        = "no-sync"
)

// Errors of the control plane itself. Errors returned by Client carry the
// server's message and match these (and the service sentinels) with errors.Is.
var (
	// ErrPermission is ipvsadm's answer to a caller who is not root.
	//lint:ignore ST1005 ipvsadm's exact words, printed as is
	ErrPermission = errors.New("Permission denied (you must be root)")
	// ErrNotRunning means nothing answers on the socket.
	ErrNotRunning = errors.New("the xvs daemon is not running")
	// ErrNoReload means the daemon was started without a reload hook.
	ErrNoReload = errors.New("reload is not configured")
	// ErrBadRequest is a malformed or unknown request.
	ErrBadRequest = errors.New("bad request")
	// ErrBusy means the server is serving its maximum number of clients.
	// The request was not run, so it may be sent again; Client does, for
	// a while, before it returns ErrBusy.
	ErrBusy = errors.New("the xvs daemon is busy, try again")
)

// codeError pairs a wire code with the sentinel error it stands for.
type codeError struct {
	code string
	err  error
}

// serviceCodes maps the first group of codes to the sentinels of package
// service, both ways. It is the one list of those sentinels: the server's
// answers, the client's errors and xvsadm's messages (ServiceSentinel) all
// read it, so a sentinel added to service needs one line here.
var serviceCodes = []codeError{
	{CodeServiceExists, service.ErrServiceExists},
	{CodeNoService, service.ErrNoService},
	{CodeServiceUndef, service.ErrServiceUndef},
	{CodeDestExists, service.ErrDestExists},
	{CodeNoDest, service.ErrNoDest},
	{CodeZeroPort, service.ErrZeroPort},
	{CodeNoScheduler, service.ErrNoScheduler},
	{CodeNetmaskNoPers, service.ErrNetmaskNoPers},
	{CodeOnePacketUDP, service.ErrOnePacketNoUDP},
	{CodeInvalid, service.ErrInvalid},
}

// codeErrors is every code that stands for a sentinel: the service's, then
// the control plane's own.
var codeErrors = append(slices.Clip(serviceCodes), []codeError{
	{CodePermission, ErrPermission},
	{CodeBadRequest, ErrBadRequest},
	{CodeNoReload, ErrNoReload},
	{CodeBusy, ErrBusy},
	{CodeDaemonRunning, ErrDaemonRunning},
	{CodeNoDaemon, ErrNoDaemon},
	{CodeNoDevice, ErrNoDevice},
	{CodeNoSync, ErrNoSync},
	{CodeNoBGP, ErrNoBGP},
}...)

// ServiceSentinel returns the sentinel of package service that err
// matches (errors.Is), or nil; it tries them in the order of the codes, so
// the most specific comes first and service.ErrInvalid last. It works on
// an engine's errors and on a Client's alike.
func ServiceSentinel(err error) error {
	for _, ce := range serviceCodes {
		if errors.Is(err, ce.err) {
			return ce.err
		}
	}
	return nil
}

// errorReply turns an error into its wire form.
func errorReply(err error) *ErrorReply {
	r := &ErrorReply{Code: CodeInternal, Message: err.Error()}
	var be *BatchError
	if errors.As(err, &be) {
		r.Change = be.Index + 1
	}
	for _, ce := range codeErrors {
		if errors.Is(err, ce.err) {
			r.Code = ce.code
			break
		}
	}
	return r
}

// RemoteError is a failure reported by the server. Error returns the
// server's message unchanged; errors.Is matches the sentinel its code stands
// for (service.ErrNoService, ErrPermission, ...).
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the sentinel error of the code, or nil.
func (e *RemoteError) Unwrap() error {
	for _, ce := range codeErrors {
		if ce.code == e.Code {
			return ce.err
		}
	}
	return nil
}

// remoteError rebuilds an error from its wire form.
func (r *ErrorReply) remoteError() error {
	err := error(&RemoteError{Code: r.Code, Message: r.Message})
	if r.Change > 0 {
		err = &BatchError{Index: r.Change - 1, Err: err}
	}
	return err
}

// BatchError says which change of a batch failed; nothing of the batch was
// applied.
type BatchError struct {
	// Index is the 0-based position of the failing change.
	Index int
	Err   error
}

func (e *BatchError) Error() string { return e.Err.Error() }

// Unwrap returns the change's own error.
func (e *BatchError) Unwrap() error { return e.Err }

// ChangeKind names one ipvsadm-style edit of the configuration.
type ChangeKind string

// The edits a Change can make; each is one ipvsadm command.
const (
	AddService    ChangeKind = "add-service"    // -A: Service
	EditService   ChangeKind = "edit-service"   // -E: Service
	DeleteService ChangeKind = "delete-service" // -D: Key
	Clear         ChangeKind = "clear"          // -C
	AddReal       ChangeKind = "add-real"       // -a: Key, Real
	EditReal      ChangeKind = "edit-real"      // -e: Key, Real
	DeleteReal    ChangeKind = "delete-real"    // -d: Key, RealKey
)

// Change is one edit of the configuration, in the service model's terms.
// Package admin turns ipvsadm commands into Changes; Go programs can build
// them directly.
type Change struct {
	Kind ChangeKind `json:"kind"`
	// Service is the new definition for add-service and edit-service.
	Service *service.Service `json:"service,omitempty"`
	// Key names the service of delete-service and of the real-server edits.
	Key service.Key `json:"key"`
	// Real is the new definition for add-real and edit-real.
	Real *service.Real `json:"real,omitempty"`
	// RealKey names the real server of delete-real.
	RealKey service.RealKey `json:"realkey"`
}

// Apply makes the change on cfg. edit-service keeps the service's real
// servers, its group matches when the edit names none, and the settings
// ipvsadm's syntax cannot express (MHTableSize, ExpireQuiescent), so an
// ipvsadm-style -E does not undo what the configuration file set.
func (ch Change) Apply(cfg *service.Config) error {
	switch ch.Kind {
	case AddService, EditService:
		if ch.Service == nil {
			return fmt.Errorf("%s without a service: %w", ch.Kind, ErrBadRequest)
		}
		s := *ch.Service
		if ch.Kind == AddService {
			return cfg.AddService(s)
		}
		if i := cfg.Find(s.Key()); i >= 0 {
			old := &cfg.Services[i]
			if s.MHTableSize == 0 {
				s.MHTableSize = old.MHTableSize
			}
			s.ExpireQuiescent = s.ExpireQuiescent || old.ExpireQuiescent
		}
		return cfg.EditService(s)
	case DeleteService:
		return cfg.DeleteService(ch.Key)
	case Clear:
		cfg.Clear()
		return nil
	case AddReal, EditReal:
		if ch.Real == nil {
			return fmt.Errorf("%s without a real server: %w", ch.Kind, ErrBadRequest)
		}
		if ch.Kind == AddReal {
			return cfg.AddReal(ch.Key, *ch.Real)
		}
		return cfg.EditReal(ch.Key, *ch.Real)
	case DeleteReal:
		return cfg.DeleteReal(ch.Key, ch.RealKey)
	}
	return fmt.Errorf("unknown change %q: %w", ch.Kind, ErrBadRequest)
}

// ApplyChanges makes every change on cfg in order and stops at the first
// failure, which it reports as a *BatchError. Run it on a clone (as
// Engine.Apply does) so a failure leaves nothing half-done.
func ApplyChanges(cfg *service.Config, changes []Change) error {
	for i, ch := range changes {
		if err := ch.Apply(cfg); err != nil {
			return &BatchError{Index: i, Err: err}
		}
	}
	return nil
}
