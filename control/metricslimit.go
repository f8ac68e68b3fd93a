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
	// waits until one finishes, which the timeouts below bound.
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
)

// capListener caps the connections it has accepted and that are still open.
// http.Server reports each connection's state to track, so the listener
// knows which are idle: at the cap it closes the oldest idle one rather than
// leave a newcomer (a real scrape) queued behind idle floods.
type capListener struct {
	net.Listener
	max int

	mu     sync.Mutex // guards conns, closed
	conns  map[net.Conn]*capState
	closed bool
	freed  *sync.Cond // signalled when a connection closes, or on Close
}

// capState is one open connection's state.
type capState struct {
	idle  bool // new or between requests: may be closed for room
	since time.Time
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
	for len(l.conns) >= l.max && !l.closed {
		if l.evictLocked() {
			break
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

// evictLocked closes the connection idle longest and reports whether there
// was one. l.mu must be held.
func (l *capListener) evictLocked() bool {
	var victim net.Conn
	var vs *capState
	for c, st := range l.conns {
		if st.idle && (vs == nil || st.since.Before(vs.since)) {
			victim, vs = c, st
		}
	}
	if victim == nil {
		return false
	}
	delete(l.conns, victim)
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
		}
	case http.StateActive:
		if st, ok := l.conns[c]; ok {
			st.idle = false
		}
	case http.StateClosed, http.StateHijacked:
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
