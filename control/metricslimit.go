package control

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of the metrics endpoint. Anyone who can reach the port can open
// connections to it (it is often on a port every local user can reach), so
// its cost to the daemon is capped: a flood of idle keep-alive connections
// costs at most metricsMaxConns descriptors and their buffers, and the
// daemon goes on forwarding and answering its control socket.
const (
	// metricsMaxConns bounds the connections open at once. At the cap
	// the connection that has been idle longest (no request in flight) is
	// closed to admit the new one; when every one is busy, accepting
	// waits until one finishes, which the timeouts below bound. Closed
	// connections whose goroutine has not yet run keep their descriptor
	// a moment: up to a quarter more descriptors are open.
	metricsMaxConns = 64
	// metricsReadHeaderTimeout bounds a new connection's wait for its
	// request's headers.
	metricsReadHeaderTimeout = 5 * time.Second
	// metricsReadTimeout bounds reading a whole request.
	metricsReadTimeout = 10 * time.Second
	// metricsWriteTimeout bounds writing a scrape (a large one included).
	metricsWriteTimeout = 30 * time.Second
	// metricsIdleTimeout closes a keep-alive connection between requests;
	// Prometheus scrapes every 15 s to 1 min and reconnects when needed.
	metricsIdleTimeout = 30 * time.Second
	// metricsMaxHeaderBytes bounds a request's headers.
	metricsMaxHeaderBytes = 8 << 10
	// metricsMaxScrapes bounds the scrapes computed at once; more are
	// answered 503 Service Unavailable.
	metricsMaxScrapes = 4
)

// capListener caps the connections it has accepted and that are still open.
// http.Server reports each connection's state to track, so the listener
// knows which are idle: at the cap it closes the oldest idle one rather than
// leave a newcomer (a real scrape) queued behind idle floods.
type capListener struct {
	net.Listener
	max int

	mu     sync.Mutex // guards conns, closing, closed
	conns  map[net.Conn]*capState
	closed bool
	// closing counts evicted connections whose server goroutine has not
	// yet closed them: their descriptors are still open until it has
	// (a Read in progress holds the descriptor), so they count.
	closing int
	freed   *sync.Cond // signalled when a connection closes or turns idle, or on Close
}

// capState is one open connection's state.
type capState struct {
	idle    bool // new or between requests: may be closed for room
	closing bool // evicted, not yet reported closed
	since   time.Time
}

func newCapListener(l net.Listener, max int) *capListener {
	cl := &capListener{Listener: l, max: max, conns: make(map[net.Conn]*capState)}
	cl.freed = sync.NewCond(&cl.mu)
	return cl
}

// Accept accepts a connection, making room for it first.
func (l *capListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Admit once fewer than max connections are live and fewer than
	// max+maxClosing descriptors are open, evicted ones included (a Read
	// in progress keeps an evicted connection's descriptor open until its
	// goroutine has run). A few evictions at a time drain a flood
	// quickly on a loaded machine.
	for !l.closed {
		live := len(l.conns) - l.closing
		if live < l.max && len(l.conns) < l.max+l.maxClosing() {
			break
		}
		if live >= l.max && l.closing < l.maxClosing() && l.evictLocked() {
			continue
		}
		l.freed.Wait()
	}
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[c] = &capState{idle: true, since: time.Now()}
	return c, nil
}

// maxClosing bounds the evicted connections not yet closed by their
// goroutine.
func (l *capListener) maxClosing() int { return max(1, l.max/4) }

// evictLocked closes the connection idle longest, if any, and reports
// whether there was one; it stays counted until the server reports it
// closed. l.mu must be held.
func (l *capListener) evictLocked() bool {
	var victim net.Conn
	var vs *capState
	for c, st := range l.conns {
		if st.idle && !st.closing && (vs == nil || st.since.Before(vs.since)) {
			victim, vs = c, st
		}
	}
	if victim == nil {
		return false
	}
	vs.closing = true
	l.closing++
	victim.Close()
	return true
}

// track is http.Server's ConnState hook.
func (l *capListener) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew, http.StateIdle:
		if st, ok := l.conns[c]; ok {
			st.idle, st.since = true, time.Now()
			l.freed.Broadcast()
		}
	case http.StateActive:
		if st, ok := l.conns[c]; ok {
			st.idle = false
		}
	case http.StateClosed, http.StateHijacked:
		if st, ok := l.conns[c]; ok && st.closing {
			l.closing--
		}
		delete(l.conns, c)
		l.freed.Broadcast()
	}
}

// Close closes the listener and wakes an Accept waiting for room.
func (l *capListener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.freed.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// open returns the number of connections open.
func (l *capListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
