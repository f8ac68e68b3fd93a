package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/service"
	"github.com/xvs-project/xvs/vrrp"
)

// connsPage is the page size Client.AllConns asks for.
const connsPage = 4096

// DialError says the daemon could not be reached at Path. Its message is the
// one xvsadm prints; errors.Is matches ErrNotRunning or ErrPermission.
type DialError struct {
	Path string
	Err  error // ErrNotRunning, ErrPermission or the dial error
}

func (e *DialError) Error() string {
	if errors.Is(e.Err, ErrPermission) {
		return ErrPermission.Error()
	}
	return fmt.Sprintf("cannot reach the xvs daemon at %s (is it running? start it with: xvs run -i IFACE)", e.Path)
}

// Unwrap returns the cause.
func (e *DialError) Unwrap() error { return e.Err }

// Client talks to a daemon over its control socket. Its methods may be called
// from several goroutines; requests are sent one at a time.
type Client struct {
	mu sync.Mutex // guards r, broken and the request/answer sequence
	// connMu guards conn's replacement and closed, so Close can interrupt
	// a request without waiting for mu; conn is replaced with both held.
	connMu sync.Mutex
	conn   net.Conn
	closed bool
	r      *bufio.Reader
	// broken is set once a request failed half-way: the stream may hold a
	// stale answer, so later calls fail rather than read it.
	broken error
	// timeout bounds one request's round trip: a large restore, or the
	// stats of many services on a busy host, can take a while.
	timeout time.Duration
	// path is the socket, for a new connection after a busy answer.
	path string
	// busyWait bounds how long a request is retried while the daemon
	// answers busy.
	busyWait time.Duration
}

// Client-side bounds.
const (
	// dialWait bounds connecting, including retries while the daemon's
	// accept backlog is full (EAGAIN on a Unix socket).
	dialWait = 5 * time.Second
	// busyWait bounds retrying a request the daemon answered busy: it
	// ran nothing, so sending it again is safe. A burst of commands
	// queues on the daemon first; this covers the rare overflow.
	busyWait = 30 * time.Second
	// retryMax caps the pause between two retries.
	retryMax = 500 * time.Millisecond
)

// Dial connects to the daemon's socket at path (use SocketPath() for the
// default). A missing socket or a refused connection is a *DialError that
// matches ErrNotRunning; a socket the caller may not open matches
// ErrPermission.
func Dial(path string) (*Client, error) {
	conn, err := dialSocket(path)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), timeout: 2 * time.Minute,
		path: path, busyWait: busyWait}, nil
}

// dialSocket connects to path, retrying with a growing pause while the listener's
// backlog is full.
func dialSocket(path string) (net.Conn, error) {
	deadline := time.Now().Add(dialWait)
	pause := 5 * time.Millisecond
	for {
		conn, err := net.DialTimeout("unix", path, time.Until(deadline))
		if err == nil {
			return conn, nil
		}
		switch {
		case errors.Is(err, syscall.EAGAIN) && time.Now().Add(pause).Before(deadline):
			time.Sleep(jitter(pause))
			pause = min(2*pause, retryMax)
			continue
		case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
			return nil, &DialError{Path: path, Err: ErrPermission}
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOTDIR):
			return nil, &DialError{Path: path, Err: ErrNotRunning}
		}
		return nil, &DialError{Path: path, Err: err}
	}
}

// jitter spreads d over [d/2, d) so a burst of clients does not retry in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// Close closes the connection; a request in progress fails.
func (c *Client) Close() error {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.closed = true
	return c.conn.Close()
}

// call sends one request and reads its answer. A busy answer means the
// daemon ran nothing: the request is sent again on a new connection, with a
// growing pause, for up to busyWait.
func (c *Client) call(req *Request) (*Response, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", req.Op, err)
	}
	if len(b) > MaxRequestSize {
		return nil, fmt.Errorf("%s request of %d bytes is over the limit of %d: %w", req.Op, len(b), MaxRequestSize, ErrBadRequest)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline := time.Now().Add(c.busyWait)
	pause := 10 * time.Millisecond
	for {
		resp, err := c.roundTrip(req.Op, b)
		if !errors.Is(err, ErrBusy) || !time.Now().Add(pause).Before(deadline) {
			return resp, err
		}
		time.Sleep(jitter(pause))
		pause = min(2*pause, retryMax)
		conn, derr := dialSocket(c.path)
		if derr != nil {
			return nil, derr
		}
		c.connMu.Lock()
		if c.closed {
			c.connMu.Unlock()
			conn.Close()
			return nil, fmt.Errorf("%s: %w", req.Op, net.ErrClosed)
		}
		c.conn.Close()
		c.conn, c.broken = conn, nil
		c.connMu.Unlock()
		c.r.Reset(conn)
	}
}

// roundTrip sends one encoded request and reads its answer; c.mu is held.
func (c *Client) roundTrip(op Op, b []byte) (*Response, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		c.broken = fmt.Errorf("send %s request: %w", op, err)
		// A server that refuses the caller answers before it reads
		// anything and hangs up: its reason is still in the stream.
		c.conn.SetReadDeadline(time.Now().Add(time.Second))
		if line, rerr := readLine(c.r, 1<<20); rerr == nil {
			var resp Response
			if json.Unmarshal(line, &resp) == nil && resp.Error != nil {
				c.broken = resp.Error.remoteError()
			}
		}
		return nil, c.broken
	}
	line, err := readLine(c.r, 1<<31-1)
	if err != nil {
		c.broken = fmt.Errorf("read %s answer: %w", op, err)
		return nil, c.broken
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("decode %s answer: %w", op, err)
	}
	if resp.Error != nil {
		return nil, resp.Error.remoteError()
	}
	return &resp, nil
}

// Config returns the running configuration.
func (c *Client) Config() (*service.Config, error) {
	resp, err := c.call(&Request{Op: OpConfig})
	if err != nil {
		return nil, err
	}
	if resp.Config == nil {
		return &service.Config{}, nil
	}
	return resp.Config, nil
}

// Apply makes all changes or none; a failure is a *BatchError naming the
// change that failed.
func (c *Client) Apply(changes []Change) error {
	_, err := c.ApplyWarn(changes)
	return err
}

// ApplyWarn is Apply that also returns the daemon's warnings about the
// change it made (see Response.Warnings).
func (c *Client) ApplyWarn(changes []Change) ([]string, error) {
	resp, err := c.call(&Request{Op: OpApply, Changes: changes})
	if err != nil {
		return nil, err
	}
	return resp.Warnings, nil
}

// Stats returns the engine's counters, rates and table figures.
func (c *Client) Stats() (Stats, error) {
	resp, err := c.call(&Request{Op: OpStats})
	if err != nil || resp.Stats == nil {
		return Stats{}, err
	}
	return *resp.Stats, nil
}

// MaglevTables returns every mh service's Maglev table as the daemon built
// it: size, flags, digest and each real server's slots (xvsadm -L --mh).
func (c *Client) MaglevTables() ([]MHTable, error) {
	resp, err := c.call(&Request{Op: OpMH})
	if err != nil {
		return nil, err
	}
	return resp.MH, nil
}

// Drops returns the engine's loss counters as (queue, reason, count)
// records, with the steering verdicts as Events.
func (c *Client) Drops() (DropReport, error) {
	resp, err := c.call(&Request{Op: OpDrops})
	if err != nil || resp.Drops == nil {
		return DropReport{}, err
	}
	return *resp.Drops, nil
}

// Checks returns the daemon's health checks (xvsadm --checks).
func (c *Client) Checks() (ChecksReport, error) {
	resp, err := c.call(&Request{Op: OpChecks})
	if err != nil || resp.Checks == nil {
		return ChecksReport{}, err
	}
	return *resp.Checks, nil
}

// VRRP returns the daemon's VRRP instances (xvsadm --vrrp).
func (c *Client) VRRP() ([]vrrp.Status, error) {
	resp, err := c.call(&Request{Op: OpVRRP})
	if err != nil {
		return nil, err
	}
	return resp.VRRP, nil
}

// Sync returns the daemon's sync daemons and their counts (xvsadm -L
// --daemon, --sync).
func (c *Client) Sync() (SyncStatus, error) {
	resp, err := c.call(&Request{Op: OpSync})
	if err != nil || resp.Sync == nil {
		return SyncStatus{}, err
	}
	return *resp.Sync, nil
}

// StartDaemon starts a sync daemon (ipvsadm --start-daemon).
func (c *Client) StartDaemon(role SyncRole, cfg SyncDaemon) error {
	_, err := c.call(&Request{Op: OpSyncStart, Role: role, Daemon: &cfg})
	return err
}

// StopDaemon stops a sync daemon (ipvsadm --stop-daemon).
func (c *Client) StopDaemon(role SyncRole) error {
	_, err := c.call(&Request{Op: OpSyncStop, Role: role})
	return err
}

// ZeroStats clears the counters of service k, or of all services when k is nil.
func (c *Client) ZeroStats(k *service.Key) error {
	_, err := c.call(&Request{Op: OpZero, Key: k})
	return err
}

// Conns returns at most max connection entries from cursor and the cursor of
// the next page (0 when done).
func (c *Client) Conns(cursor uint64, max int) ([]Conn, uint64, error) {
	resp, err := c.call(&Request{Op: OpConns, Cursor: cursor, Max: max})
	if err != nil {
		return nil, 0, err
	}
	return resp.Conns, resp.Next, nil
}

// AllConns pages through every connection entry. The table changes while it
// is read, so an entry may be missing or appear twice, as with
// /proc/net/ip_vs_conn.
func (c *Client) AllConns() ([]Conn, error) {
	var all []Conn
	var cursor uint64
	for {
		page, next, err := c.Conns(cursor, connsPage)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == 0 || next == cursor {
			return all, nil
		}
		cursor = next
	}
}

// Timeouts returns the TCP, TCP FIN and UDP timeouts.
func (c *Client) Timeouts() (Timeouts, error) {
	resp, err := c.call(&Request{Op: OpTimeouts})
	if err != nil || resp.Timeouts == nil {
		return Timeouts{}, err
	}
	return *resp.Timeouts, nil
}

// SetCapacity changes the connection table's capacity at run time.
func (c *Client) SetCapacity(n int) error {
	_, err := c.call(&Request{Op: OpSetCapacity, Capacity: n})
	return err
}

// SetTimeouts changes the timeouts; zero fields keep their value.
func (c *Client) SetTimeouts(t Timeouts) error {
	_, err := c.call(&Request{Op: OpSetTimeouts, Timeouts: &t})
	return err
}

// Reload asks the daemon to re-read its configuration file.
func (c *Client) Reload() error {
	_, err := c.call(&Request{Op: OpReload})
	return err
}
