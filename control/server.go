package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
	"github.com/xvs-project/xvs/vrrp"
)

// Server answers the control protocol (see the protocol description in
// protocol.go) for one Engine.
type Server struct {
	engine Engine
	reload func() error
	checks func() ChecksReport
	vrrp   func() []vrrp.Status
	sync   SyncControl
	bgp    BGPControl
	log    *slog.Logger
	// allow decides whether a peer uid may use the API; tests replace it.
	allow func(uid uint32) bool

	lim    limits
	active chan struct{} // handler slots: a request holds one while it is handled and answered
	large  chan struct{} // the one token for reading a line longer than lim.smallLine
	bufs   sync.Pool     // *[]byte of lim.smallLine bytes: read buffers of connections mid-request
	// lineBytes is the size of every request-line buffer in use: what
	// clients make the daemon hold, bounded by the limits.
	lineBytes atomic.Int64

	mu    sync.Mutex // guards conns and every clientConn's waiting and since
	conns map[*clientConn]struct{}

	// largeBuf is the long-line buffer, owned by whoever holds the large
	// token; largeTimer frees it largeKeep after the last long line.
	largeBuf   []byte
	largeMu    sync.Mutex // guards largeTimer
	largeTimer *time.Timer

	acceptLog, busyLog, evictLog rateLog
}

// Option configures a Server.
type Option func(*Server)

// WithReload sets the function a reload request runs; the daemon passes the
// same function it runs on SIGHUP. Without it, reload answers CodeNoReload.
func WithReload(reload func() error) Option {
	return func(s *Server) { s.reload = reload }
}

// WithChecks sets what a checks request answers; the daemon passes its
// Supervisor's Report. Without it the answer is empty.
func WithChecks(report func() ChecksReport) Option {
	return func(s *Server) { s.checks = report }
}

// WithVRRP sets what a vrrp request answers; the daemon passes its Roles'
// Status. Without it the answer is empty.
func WithVRRP(status func() []vrrp.Status) Option {
	return func(s *Server) { s.vrrp = status }
}

// SyncControl is what the server's sync requests drive; *SyncDaemons is
// one.
type SyncControl interface {
	Start(role SyncRole, cfg SyncDaemon) error
	Stop(role SyncRole) error
	Status() SyncStatus
}

// WithSync sets the sync daemons the sync requests drive; the daemon
// passes its SyncDaemons. Without it, sync answers an empty status and
// sync-start and sync-stop answer CodeNoSync.
func WithSync(sc SyncControl) Option {
	return func(s *Server) { s.sync = sc }
}

// WithLogger sets where the server logs connection problems (default: slog's
// default logger).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.log = l }
}

// NewServer returns a server for engine.
func NewServer(engine Engine, opts ...Option) *Server {
	s := &Server{
		engine: engine,
		log:    slog.Default(),
		lim:    defaultLimits,
		conns:  make(map[*clientConn]struct{}),
	}
	euid := uint32(os.Geteuid())
	s.allow = func(uid uint32) bool { return uid == 0 || uid == euid }
	for _, o := range opts {
		o(s)
	}
	s.active = make(chan struct{}, s.lim.maxActive)
	s.large = make(chan struct{}, 1)
	size := s.lim.smallLine
	s.bufs.New = func() any { b := make([]byte, size); return &b }
	return s
}

// SocketPath returns the socket to use: $XVS_SOCKET if set, else
// DefaultSocket.
func SocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	return DefaultSocket
}

// Serve listens on the Unix socket path and answers clients until ctx is
// done; then it closes every connection, removes the socket and returns nil.
// A missing parent directory is created with mode 0700; the socket gets mode
// 0600. A stale socket left by a crashed daemon is replaced, but Serve refuses
// to take over a socket another process still answers on.
func (s *Server) Serve(ctx context.Context, path string) error {
	l, err := Listen(path)
	if err != nil {
		return err
	}
	return s.serveListener(ctx, l)
}

// ServeListener is Serve on a socket Listen made: the daemon listens before
// it says it runs, so a client that starts on that line finds the socket.
func (s *Server) ServeListener(ctx context.Context, l *net.UnixListener) error {
	return s.serveListener(ctx, l)
}

// Listen prepares the control socket at path as Serve does: the directory,
// a stale socket replaced, a live one refused, mode 0600.
func Listen(path string) (*net.UnixListener, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("control socket directory: %w", err)
		}
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another daemon is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	l.SetUnlinkOnClose(true)
	// The socket briefly has the umask's mode; the peer check below closes
	// that window for anyone who connects in it.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}

// unixListener is what the accept loop needs of a *net.UnixListener (tests
// inject accept failures through it).
type unixListener interface {
	AcceptUnix() (*net.UnixConn, error)
	Close() error
}

func (s *Server) serveListener(ctx context.Context, l unixListener) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		l.Close()
		s.mu.Lock()
		for cc := range s.conns {
			cc.c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	var backoff time.Duration
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				// Only shutdown closes the listener; anything else
				// is a bug that retrying cannot fix.
				wg.Wait()
				return fmt.Errorf("control socket accept: %w", err)
			}
			// Out of descriptors (EMFILE, ENFILE), out of memory
			// (ENOBUFS, ENOMEM), a peer gone before accept
			// (ECONNABORTED): all pass. The daemon keeps
			// forwarding meanwhile, and the pending client stays in
			// the backlog until the retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if ok, n := s.acceptLog.allow(time.Now()); ok {
				s.log.Warn("control: accept failed; retrying", "err", err, "retry-in", backoff, "suppressed", n)
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// An idle client's descriptor is better spent on
				// the one waiting.
				s.mu.Lock()
				s.evictLocked(time.Now(), s.lim.evictAfter)
				s.mu.Unlock()
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		backoff = 0
		cc := s.admit(ctx, c)
		if cc == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.untrack(cc)
			s.serveConn(ctx, cc)
		}()
	}
}

// admit registers c so shutdown can close it, making room by closing the
// longest-idle client when lim.maxConns are open. It answers busy and
// returns nil when every open connection is working or too young to close,
// and returns nil once ctx is done.
func (s *Server) admit(ctx context.Context, c *net.UnixConn) *clientConn {
	now := time.Now()
	s.mu.Lock()
	if ctx.Err() != nil {
		s.mu.Unlock()
		c.Close()
		return nil
	}
	if len(s.conns) >= s.lim.maxConns && !s.evictLocked(now, s.lim.evictAfter) {
		s.mu.Unlock()
		if ok, n := s.busyLog.allow(now); ok {
			s.log.Warn("control: too many clients at once; refused one", "max", s.lim.maxConns, "suppressed", n)
		}
		// A fresh socket's send buffer is empty: this write does not
		// block the accept loop.
		s.refuse(c, ErrBusy)
		return nil
	}
	cc := &clientConn{c: c, waiting: true, since: now}
	s.conns[cc] = struct{}{}
	s.mu.Unlock()
	return cc
}

// evictLocked closes the connection that has waited longest for its client
// (idle, or slowly sending a short line), if it has waited at least minAge,
// and reports whether it closed one. A connection whose request is queued,
// handled or answered is never closed: that work was accepted. s.mu must be
// held.
func (s *Server) evictLocked(now time.Time, minAge time.Duration) bool {
	var victim *clientConn
	for cc := range s.conns {
		if cc.waiting && now.Sub(cc.since) >= minAge && (victim == nil || cc.since.Before(victim.since)) {
			victim = cc
		}
	}
	if victim == nil {
		return false
	}
	delete(s.conns, victim)
	victim.c.Close()
	if ok, n := s.evictLog.allow(now); ok {
		s.log.Info("control: closed the longest-idle client to make room", "idle", now.Sub(victim.since).Round(time.Millisecond), "suppressed", n)
	}
	return true
}

func (s *Server) untrack(cc *clientConn) {
	s.mu.Lock()
	delete(s.conns, cc)
	s.mu.Unlock()
	cc.c.Close()
	s.putBuf(cc)
}

// setWaiting records whether cc waits for its client (and may be evicted).
func (s *Server) setWaiting(cc *clientConn, waiting bool) {
	s.mu.Lock()
	cc.waiting, cc.since = waiting, time.Now()
	s.mu.Unlock()
}

// peerUID reads the connecting process's uid from the socket (SO_PEERCRED).
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return cred.Uid, nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads one newline-terminated line of at most max bytes, without
// the newline. A last line without a newline is returned too.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max+1 {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

func writeResponse(w io.Writer, resp *Response) error {
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(&Response{Error: errorReply(fmt.Errorf("encode answer: %w", err))})
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// handle answers one request line.
func (s *Server) handle(line []byte) *Response {
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return &Response{Error: errorReply(fmt.Errorf("decode request: %v: %w", err, ErrBadRequest))}
	}
	resp, err := s.do(&req)
	if err != nil {
		return &Response{Error: errorReply(err)}
	}
	return resp
}

func (s *Server) do(req *Request) (*Response, error) {
	switch req.Op {
	case OpConfig:
		return &Response{Config: s.engine.Config()}, nil
	case OpApply:
		changes := req.Changes
		fn := func(cfg *service.Config) error { return ApplyChanges(cfg, changes) }
		var warnings []string
		var err error
		if w, ok := s.engine.(Warner); ok {
			warnings, err = w.ApplyWarn(fn)
		} else {
			err = s.engine.Apply(fn)
		}
		if err != nil {
			return nil, err
		}
		if len(changes) > 0 {
			s.log.Info("control: configuration changed", "changes", len(changes), "warnings", len(warnings))
		}
		return &Response{Warnings: warnings}, nil
	case OpStats:
		st := s.engine.Stats()
		return &Response{Stats: &st}, nil
	case OpDrops:
		d := EngineDrops(s.engine)
		return &Response{Drops: &d}, nil
	case OpMH:
		if mr, ok := s.engine.(MHReporter); ok {
			return &Response{MH: mr.MaglevTables()}, nil
		}
		return &Response{}, nil
	case OpZero:
		return &Response{}, s.engine.ZeroStats(req.Key)
	case OpConns:
		max := req.Max
		if max <= 0 || max > MaxConnsPage {
			max = MaxConnsPage
		}
		conns, next := s.engine.Conns(req.Cursor, max)
		if conns == nil {
			conns = []Conn{}
		}
		return &Response{Conns: conns, Next: next}, nil
	case OpTimeouts:
		t := s.engine.Timeouts()
		return &Response{Timeouts: &t}, nil
	case OpSetTimeouts:
		if req.Timeouts == nil {
			return nil, fmt.Errorf("set-timeouts without timeouts: %w", ErrBadRequest)
		}
		t := *req.Timeouts
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrBadRequest)
		}
		return &Response{}, s.engine.SetTimeouts(t)
	case OpSetCapacity:
		if req.Capacity <= 0 {
			return nil, fmt.Errorf("capacity %d is not positive: %w", req.Capacity, ErrBadRequest)
		}
		return &Response{}, s.engine.SetCapacity(req.Capacity)
	case OpChecks:
		rep := ChecksReport{Checks: []health.CheckStatus{}, Services: []health.ServiceStatus{}}
		if s.checks != nil {
			rep = s.checks()
		}
		return &Response{Checks: &rep}, nil
	case OpVRRP:
		st := []vrrp.Status{}
		if s.vrrp != nil {
			st = append(st, s.vrrp()...)
		}
		return &Response{VRRP: st}, nil
	case OpSync, OpSyncStart, OpSyncStop:
		return s.doSync(req)
	case OpBGP, OpDrain, OpUndrain:
		return s.doBGP(req)
	case OpReload:
		if s.reload == nil {
			return nil, ErrNoReload
		}
		if err := s.reload(); err != nil {
			return nil, err
		}
		return &Response{}, nil
	}
	return nil, fmt.Errorf("unknown op %q: %w", req.Op, ErrBadRequest)
}

// doSync answers the sync requests.
func (s *Server) doSync(req *Request) (*Response, error) {
	if req.Op == OpSync {
		st := SyncStatus{Daemons: []SyncDaemonStatus{}}
		if s.sync != nil {
			st = s.sync.Status()
		}
		return &Response{Sync: &st}, nil
	}
	if s.sync == nil {
		return nil, ErrNoSync
	}
	if req.Op == OpSyncStop {
		if err := s.sync.Stop(req.Role); err != nil {
			return nil, err
		}
		s.log.Info("control: sync daemon stopped", "role", req.Role)
		return &Response{}, nil
	}
	if req.Daemon == nil {
		return nil, fmt.Errorf("sync-start without a daemon: %w", ErrBadRequest)
	}
	if err := s.sync.Start(req.Role, *req.Daemon); err != nil {
		return nil, err
	}
	return &Response{}, nil
}
