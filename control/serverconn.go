package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// Limits of the control socket
//
// Whatever its clients do — hundreds of idle connections, a line that never
// ends, a byte every few seconds, requests never read back — the daemon's
// memory, descriptors and goroutines stay bounded, and a burst of real
// xvsadm commands queues instead of failing. The socket is 0600, so these
// clients are root or the daemon's own user: not attackers so much as stuck
// scripts and runaway loops, which must not take forwarding or the other
// clients down with them.
//
//	open connections   maxConns; at the limit the connection that has waited
//	                   longest for its client (idle, or trickling a short
//	                   line) is closed to admit the new one, if it has
//	                   waited evictAfter; otherwise the new one is told busy
//	idle connection    a goroutine and a socket, no buffer: idleTimeout
//	request line       read into a pooled smallLine buffer that goes back to
//	                   the pool when the client has nothing more pending;
//	                   complete within lineTimeout of its first byte
//	long line          (a restore) one at a time, up to maxLine, complete
//	                   within largeLineTimeout; others wait up to queueWait;
//	                   read into one buffer that the next long line reuses
//	                   (so repeated ones make no garbage) and that is freed
//	                   largeKeep after the last one
//	handling           maxActive requests are decoded, run and answered at
//	                   once, each answer written within writeTimeout; the
//	                   rest wait in arrival order up to queueWait, then are
//	                   told busy (not run, so the client may send it again)
//
// So the line buffers in use are at most maxConns×smallLine + maxLine, and
// answers in flight at most maxActive.
type limits struct {
	maxConns         int
	evictAfter       time.Duration
	maxActive        int
	queueWait        time.Duration
	smallLine        int
	maxLine          int
	lineTimeout      time.Duration
	largeLineTimeout time.Duration
	idleTimeout      time.Duration
	writeTimeout     time.Duration
	largeKeep        time.Duration
}

var defaultLimits = limits{
	maxConns:         256,
	evictAfter:       time.Second,
	maxActive:        16,
	queueWait:        30 * time.Second,
	smallLine:        16 << 10,
	maxLine:          MaxRequestSize,
	lineTimeout:      10 * time.Second,
	largeLineTimeout: time.Minute,
	idleTimeout:      IdleTimeout,
	writeTimeout:     10 * time.Second,
	largeKeep:        5 * time.Second,
}

// withLimits replaces the limits (tests shrink them).
func withLimits(l limits) Option {
	return func(s *Server) { s.lim = l }
}

// clientConn is one client's connection and its read state.
type clientConn struct {
	c *net.UnixConn
	// buf is a pooled smallLine buffer, nil while the client is idle with
	// nothing pending; buf[off:end] is read but not yet consumed. Only the
	// connection's goroutine touches them.
	buf      *[]byte
	off, end int
	first    [1]byte // where an idle connection's next byte lands

	// waiting is set while the connection waits for its client, since
	// when; guarded by Server.mu.
	waiting bool
	since   time.Time
}

// errLargeBusy says another long line held the token for queueWait.
var errLargeBusy = errors.New("another long request is being read")

func (s *Server) serveConn(ctx context.Context, cc *clientConn) {
	uid, err := peerUID(cc.c)
	if err != nil || !s.allow(uid) {
		if err != nil {
			s.log.Warn("control: cannot read peer credentials", "err", err)
		}
		s.refuse(cc.c, ErrPermission)
		return
	}
	for {
		s.setWaiting(cc, true)
		line, large, err := s.readRequest(ctx, cc)
		if err != nil {
			switch {
			case errors.Is(err, errLineTooLong):
				s.refuse(cc.c, fmt.Errorf("request longer than %d bytes: %w", s.lim.maxLine, ErrBadRequest))
			case errors.Is(err, errLargeBusy):
				s.refuse(cc.c, ErrBusy)
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err):
				s.log.Debug("control: read", "err", err)
			}
			return
		}
		s.setWaiting(cc, false)
		ok := s.answer(ctx, cc, line)
		if large {
			s.releaseLarge(cc)
		}
		if !ok {
			return
		}
	}
}

// answer handles one request line and writes the answer, holding a handler
// slot for both; it reports whether the connection is still usable.
func (s *Server) answer(ctx context.Context, cc *clientConn, line []byte) bool {
	select {
	case s.active <- struct{}{}:
	default:
		t := time.NewTimer(s.lim.queueWait)
		select {
		case s.active <- struct{}{}:
			t.Stop()
		case <-t.C:
			if ok, n := s.busyLog.allow(time.Now()); ok {
				s.log.Warn("control: request waited too long for a handler; answered busy", "wait", s.lim.queueWait, "suppressed", n)
			}
			return s.write(cc, &Response{Error: errorReply(ErrBusy)})
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	defer func() { <-s.active }()
	return s.write(cc, s.handle(line))
}

func (s *Server) write(cc *clientConn, resp *Response) bool {
	cc.c.SetWriteDeadline(time.Now().Add(s.lim.writeTimeout))
	if err := writeResponse(cc.c, resp); err != nil {
		s.log.Debug("control: write", "err", err)
		return false
	}
	return true
}

// readRequest returns the next request line, without its newline; it is
// valid until the next call. large reports that the line took the long-line
// token, which the caller gives back once the line is handled. A last line
// without a newline before the client's EOF counts.
func (s *Server) readRequest(ctx context.Context, cc *clientConn) (line []byte, large bool, err error) {
	if cc.off == cc.end {
		// Idle: give the buffer back and wait for one byte.
		s.putBuf(cc)
		cc.c.SetReadDeadline(time.Now().Add(s.lim.idleTimeout))
		n, err := cc.c.Read(cc.first[:])
		if n == 0 {
			if err == nil {
				err = io.EOF
			}
			return nil, false, err
		}
		s.getBuf(cc)
		(*cc.buf)[0] = cc.first[0]
		cc.off, cc.end = 0, 1
	}
	cc.c.SetReadDeadline(time.Now().Add(s.lim.lineTimeout))
	b := *cc.buf
	scanned := cc.off
	for {
		if i := bytes.IndexByte(b[scanned:cc.end], '\n'); i >= 0 {
			nl := scanned + i
			line, cc.off = b[cc.off:nl], nl+1
			return line, false, nil
		}
		scanned = cc.end
		if cc.end == len(b) {
			if cc.off > 0 {
				// A pipelined request starts mid-buffer: move it
				// to the front.
				cc.end = copy(b, b[cc.off:cc.end])
				scanned, cc.off = cc.end, 0
				continue
			}
			return s.readLarge(ctx, cc)
		}
		n, err := cc.c.Read(b[cc.end:])
		cc.end += n
		if err != nil {
			if errors.Is(err, io.EOF) && cc.end > cc.off {
				line, cc.off = b[cc.off:cc.end], cc.end
				return line, false, nil
			}
			return nil, false, err
		}
	}
}

// readLarge goes on with a line that filled the whole small buffer: it waits
// for the long-line token, then reads the line into a buffer of its own that
// grows up to maxLine. It reads at most smallLine bytes at a time, so what
// follows the newline fits back into the small buffer.
func (s *Server) readLarge(ctx context.Context, cc *clientConn) ([]byte, bool, error) {
	// A legitimate restore in progress: not to be closed for room.
	s.setWaiting(cc, false)
	t := time.NewTimer(s.lim.queueWait)
	select {
	case s.large <- struct{}{}:
		t.Stop()
	case <-t.C:
		return nil, false, errLargeBusy
	case <-ctx.Done():
		t.Stop()
		return nil, false, net.ErrClosed
	}
	fail := func(err error) ([]byte, bool, error) {
		s.releaseLarge(cc)
		return nil, false, err
	}
	cc.c.SetReadDeadline(time.Now().Add(s.lim.largeLineTimeout))
	small := *cc.buf
	// The token holder owns s.largeBuf.
	s.largeBuf = s.largeBuf[:0]
	if want := min(4*len(small), s.lim.maxLine+1); cap(s.largeBuf) < want {
		s.growLarge(want)
	}
	big := s.largeBuf[:cc.end]
	copy(big, small[:cc.end])
	cc.off, cc.end = 0, 0
	for {
		if len(big) == cap(big) {
			if len(big) > s.lim.maxLine {
				return fail(errLineTooLong)
			}
			s.largeBuf = big
			s.growLarge(min(2*cap(big), s.lim.maxLine+1))
			big = s.largeBuf
		}
		chunk := big[len(big):min(cap(big), len(big)+len(small))]
		n, err := cc.c.Read(chunk)
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			line := big[:len(big)+i]
			if len(line) > s.lim.maxLine {
				return fail(errLineTooLong)
			}
			cc.end = copy(small, chunk[i+1:n])
			return line, true, nil
		}
		big = big[:len(big)+n]
		if err != nil {
			if errors.Is(err, io.EOF) && len(big) > 0 {
				if len(big) > s.lim.maxLine {
					return fail(errLineTooLong)
				}
				return big, true, nil
			}
			return fail(err)
		}
	}
}

// growLarge replaces the long-line buffer by one of capacity n keeping its
// contents; the caller holds the token.
func (s *Server) growLarge(n int) {
	nb := make([]byte, len(s.largeBuf), n)
	copy(nb, s.largeBuf)
	s.lineBytes.Add(int64(n - cap(s.largeBuf)))
	s.largeBuf = nb
}

// releaseLarge gives back the long-line token after a long line was handled
// or refused, and arranges for the buffer to be freed if no other long line
// comes within largeKeep. The parameter documents which connection held it.
func (s *Server) releaseLarge(*clientConn) {
	<-s.large
	s.largeMu.Lock()
	defer s.largeMu.Unlock()
	if s.largeTimer == nil {
		s.largeTimer = time.AfterFunc(s.lim.largeKeep, s.dropLarge)
	} else {
		s.largeTimer.Reset(s.lim.largeKeep)
	}
}

// dropLarge frees the long-line buffer once long lines have stopped, and
// gives the pages of it and of the requests decoded from it back to the
// OS now rather than at the next GC cycle, which an idle daemon may not
// reach for minutes. A long line in progress reschedules it when done.
func (s *Server) dropLarge() {
	select {
	case s.large <- struct{}{}:
	default:
		return
	}
	freed := cap(s.largeBuf)
	s.largeBuf = nil
	s.lineBytes.Add(-int64(freed))
	<-s.large
	if freed > 0 {
		debug.FreeOSMemory()
	}
}

func (s *Server) getBuf(cc *clientConn) {
	if cc.buf == nil {
		cc.buf = s.bufs.Get().(*[]byte)
		s.lineBytes.Add(int64(len(*cc.buf)))
	}
}

func (s *Server) putBuf(cc *clientConn) {
	if cc.buf != nil {
		s.lineBytes.Add(-int64(len(*cc.buf)))
		s.bufs.Put(cc.buf)
		cc.buf, cc.off, cc.end = nil, 0, 0
	}
}

// refuse answers one error line and closes c.
func (s *Server) refuse(c net.Conn, err error) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	writeResponse(c, &Response{Error: errorReply(err)})
	c.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rateLog lets one log line through per interval and counts the rest, so a
// flood of the same failure costs the log one line a few seconds.
type rateLog struct {
	mu         sync.Mutex // guards next and suppressed
	next       time.Time
	suppressed int
}

// rateLogEvery is the interval of every rateLog.
const rateLogEvery = 5 * time.Second

// allow reports whether to log now, and how many were suppressed since the
// last line that was.
func (r *rateLog) allow(now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Before(r.next) {
		r.suppressed++
		return false, 0
	}
	n := r.suppressed
	r.next, r.suppressed = now.Add(rateLogEvery), 0
	return true, n
}
