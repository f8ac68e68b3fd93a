package forwarder

import (
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
)

// syncWorker is one worker's side of a sync master: its writer, the rule,
// and the scratch entry it fills. Only its worker touches it, but for the
// counters, which Engine.SyncStats reads.
type syncWorker struct {
	w      SyncWriter
	policy *connsync.Policy // nil: xvs's rule
	table  *conntrack.Table
	conn   connsync.Conn
	now    time.Time // set once per poll, before the batch
	// flushAfter bounds how long an entry waits; pending is when the
	// first entry since the last flush was added (zero: none).
	flushAfter time.Duration
	pending    time.Time

	conns, tmpls, errs counter
}

// newSyncWorker is worker i's sync state, nil when the engine is no
// master.
func (e *Engine) newSyncWorker(i int) *syncWorker {
	s := e.opts.Sync
	if s == nil || s.Writer == nil {
		return nil
	}
	w := s.Writer(i)
	if w == nil {
		return nil
	}
	flush := s.FlushAfter
	if flush <= 0 {
		flush = DefaultSyncFlush
	}
	return &syncWorker{w: w, policy: s.Policy, table: e.table, now: time.Now(), flushAfter: flush}
}

// tick is the worker's clock for the next batch, and the moment a message
// that waited long enough goes out.
func (s *syncWorker) tick() {
	s.now = time.Now()
	if !s.pending.IsZero() && s.now.Sub(s.pending) >= s.flushAfter {
		s.w.Flush(s.now, true)
		s.pending = time.Time{}
		return
	}
	s.w.Flush(s.now, false)
}

// synced is the TCP states a backup is told about: every state from
// ESTABLISHED on. A connection still opening is not worth sending.
const synced = 1<<conntrack.StateEstablished | 1<<conntrack.StateFinWait | 1<<conntrack.StateTimeWait |
	1<<conntrack.StateClose | 1<<conntrack.StateCloseWait | 1<<conntrack.StateLastAck

// after runs once a packet (of protocol proto) of connection c to r moved
// it from state prev to st: it hands c (and its template) to the writer if the rule says so.
// It does not allocate.
func (s *syncWorker) after(c *conntrack.Conn, r *realState, proto uint8, prev, st conntrack.State) {
	tcp := proto == flow.TCP
	timeout := s.table.StateTimeout(st)
	var send bool
	if s.policy != nil {
		send = s.ipvs(c, proto, prev, st, timeout)
	} else {
		send = s.xvs(c, prev, st, tcp, timeout)
	}
	if !send {
		return
	}
	s.table.MarkSynced(c)
	k := c.Key()
	tm := s.table.TemplateOf(c)
	if tm == nil || s.policy == nil || !s.policy.PersistMode {
		fillConn(&s.conn, &k, st, r, timeout)
		s.add(&s.conn, &s.conns)
	}
	if tm != nil {
		// The kernel sends a connection's template with it, so a
		// backup's new connections from that client stick too; in
		// sync_persist_mode the template alone.
		tk := tm.Key()
		fillTemplate(&s.conn, &tk, r, addrPort(k.Dst, k.DstPort), k.Proto, s.table.Remaining(tm))
		s.add(&s.conn, &s.tmpls)
	}
}

func (s *syncWorker) add(c *connsync.Conn, n *counter) {
	if err := s.w.Add(c, s.now); err != nil {
		s.errs.add(1)
		return
	}
	if s.pending.IsZero() {
		s.pending = s.now
	}
	n.add(1)
}

// xvs is xvs's rule (see SyncMaster.Policy).
func (s *syncWorker) xvs(c *conntrack.Conn, prev, st conntrack.State, tcp bool, timeout time.Duration) bool {
	if tcp {
		if synced&(1<<st) == 0 {
			return false
		}
		if st != prev {
			return true
		}
	}
	since, ok := s.table.SinceSync(c)
	return !ok || since >= timeout/2
}

// ipvs is the kernel's rule, connsync.Policy. What the kernel keeps per
// connection comes from the table: the state last sent is taken as the
// state before this packet (the two differ only after a change the rule
// did not send, to ESTABLISHED before the threshold, whose next packets
// the period check decides alike), and the sent copy's expiry from the
// last sync's time; refresh retries are not counted, and a template goes
// whenever its connection goes.
func (s *syncWorker) ipvs(c *conntrack.Conn, proto uint8, prev, st conntrack.State, timeout time.Duration) bool {
	tcp := proto == flow.TCP
	var t connsync.Track
	if tcp {
		t.OldState = uint16(prev)
	}
	if since, ok := s.table.SinceSync(c); ok {
		t.EndTime = (s.now.UnixNano() - int64(since) + int64(timeout)) &^ 3
	}
	// Persistent stays false: in sync_persist_mode the connection's rule
	// decides when its template goes (after sends the template alone),
	// where the kernel counts the template's own packets.
	p := connsync.Packet{Proto: proto, Pkts: int(c.InPkts()), Timeout: timeout}
	if tcp {
		p.State = uint16(st)
	}
	return s.policy.Needed(&t, p, s.now)
}
