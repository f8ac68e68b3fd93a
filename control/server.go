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
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/service"
)

// maxClients bounds the connections served at once; more are told CodeBusy.
const maxClients = 32

// writeTimeout bounds the time to send one answer to a slow client.
const writeTimeout = 30 * time.Second

// Server answers the control protocol (see the protocol description in
// protocol.go) for one Engine.
type Server struct {
	engine Engine
	reload func() error
	log    *slog.Logger
	// allow decides whether a peer uid may use the API; tests replace it.
	allow func(uid uint32) bool

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

// Option configures a Server.
type Option func(*Server)

// WithReload sets the function a reload request runs; the daemon passes the
// same function it runs on SIGHUP. Without it, reload answers CodeNoReload.
func WithReload(reload func() error) Option {
	return func(s *Server) { s.reload = reload }
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
		conns:  make(map[net.Conn]struct{}),
	}
	euid := uint32(os.Geteuid())
	s.allow = func(uid uint32) bool { return uid == 0 || uid == euid }
	for _, o := range opts {
		o(s)
	}
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
	l, err := listen(path)
	if err != nil {
		return err
	}
	return s.serveListener(ctx, l)
}

// listen prepares the directory and the socket.
func listen(path string) (*net.UnixListener, error) {
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

func (s *Server) serveListener(ctx context.Context, l *net.UnixListener) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		l.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	sem := make(chan struct{}, maxClients)
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.Close()
			wg.Wait()
			return fmt.Errorf("control socket accept: %w", err)
		}
		select {
		case sem <- struct{}{}:
		default:
			s.refuse(c, ErrBusy)
			continue
		}
		if !s.track(ctx, c) {
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer s.untrack(c)
			s.serveConn(c)
		}()
	}
}

// track registers c so shutdown can close it; it refuses once ctx is done.
func (s *Server) track(ctx context.Context, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// refuse answers one error line and closes c.
func (s *Server) refuse(c net.Conn, err error) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	writeResponse(c, &Response{Error: errorReply(err)})
	c.Close()
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

func (s *Server) serveConn(c *net.UnixConn) {
	uid, err := peerUID(c)
	if err != nil || !s.allow(uid) {
		if err != nil {
			s.log.Warn("control: cannot read peer credentials", "err", err)
		}
		s.refuse(c, ErrPermission)
		return
	}
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(IdleTimeout))
		line, err := readLine(r, MaxRequestSize)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.refuse(c, fmt.Errorf("request longer than %d bytes: %w", MaxRequestSize, ErrBadRequest))
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					s.log.Debug("control: read", "err", err)
				}
			}
			return
		}
		if len(line) == 0 {
			continue
		}
		resp := s.handle(line)
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := writeResponse(c, resp); err != nil {
			s.log.Debug("control: write", "err", err)
			return
		}
	}
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
		if t.TCP < 0 || t.TCPFin < 0 || t.UDP < 0 {
			return nil, fmt.Errorf("negative timeout: %w", ErrBadRequest)
		}
		return &Response{}, s.engine.SetTimeouts(t)
	case OpSetCapacity:
		if req.Capacity <= 0 {
			return nil, fmt.Errorf("capacity %d is not positive: %w", req.Capacity, ErrBadRequest)
		}
		return &Response{}, s.engine.SetCapacity(req.Capacity)
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
