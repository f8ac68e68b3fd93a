package forwarder

// The connection journal: the table kept where the next daemon finds it.
// Every worker writes the entries its sync hook produces (SyncMaster: on
// ESTABLISHED, on every change of state, again at half the timeout) into a
// segment of its own (journal_segment.go), so the packet path takes no
// lock; a compaction now and then dumps the whole table (DumpSync) into a
// snapshot file after the workers moved on to fresh segments, and then
// deletes the segments they left and the older snapshots. RestoreJournal
// (restore.go) replays what a killed daemon left.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvs-project/xvs/connsync"
)

// Journal defaults.
const (
	// DefaultJournalSegment is a worker segment's size. An IPv4 TCP
	// connection's life (ESTABLISHED, FIN_WAIT, TIME_WAIT, CLOSE) takes
	// about 150 bytes, so a segment holds some 28 000 connections'
	// changes; half full triggers a compaction. The file is sparse:
	// only the pages written take memory.
	DefaultJournalSegment = 4 << 20
	// DefaultJournalCompact is how often the table is dumped anyway.
	DefaultJournalCompact = 30 * time.Second
	// journalDumpRate is the dump's pace: a local file, not a network.
	journalDumpRate = 2_000_000
)

// JournalOptions configure OpenJournal.
type JournalOptions struct {
	// SegmentSize is a worker segment's bytes (0: DefaultJournalSegment).
	SegmentSize int
	// CompactEvery is the longest time between compactions (0:
	// DefaultJournalCompact).
	CompactEvery time.Duration
	// Logger gets compactions' failures; nil: slog.Default().
	Logger *slog.Logger
}

// Journal is one daemon's journal in its state directory.
type Journal struct {
	dir     string
	opts    JournalOptions
	log     *slog.Logger
	writers []*JournalWriter
	seq     atomic.Uint64 // names files
	want    atomic.Bool   // a segment is past half full
	// stale are the files a predecessor left (replayed by
	// RestoreJournal): they go once this daemon's first snapshot is in.
	stale []string
	snap  string // the current snapshot file, "" before the first

	stop     chan struct{}
	done     sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool
	compacts atomic.Uint64
}

// JournalWriter is worker i's SyncWriter into the journal. A compaction
// hands it a fresh segment (next), which it takes at its next call.
type JournalWriter struct {
	j       *Journal
	cur     segWriter
	half    int
	next    atomic.Pointer[segment]
	left    atomic.Pointer[segment] // the segment it moved away from
	dropped atomic.Uint64
}

// OpenJournal opens the journal in dir (created if need be) for workers
// workers. The files already there are a predecessor's: call
// RestoreJournal on them first; they are deleted once this journal's first
// snapshot is written.
func OpenJournal(dir string, workers int, opts JournalOptions) (*Journal, error) {
	opts.SegmentSize = cmp.Or(opts.SegmentSize, DefaultJournalSegment)
	opts.CompactEvery = cmp.Or(opts.CompactEvery, DefaultJournalCompact)
	if opts.SegmentSize < 4*minRecord {
		return nil, fmt.Errorf("journal segment of %d bytes: too small", opts.SegmentSize)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	stale, err := journalFiles(dir)
	if err != nil {
		return nil, err
	}
	j := &Journal{dir: dir, opts: opts, log: cmp.Or(opts.Logger, slog.Default()), stale: stale, stop: make(chan struct{})}
	j.seq.Store(uint64(time.Now().UnixNano()))
	for i := range workers {
		s, err := j.newSegment("seg", i)
		if err != nil {
			j.release(false)
			return nil, err
		}
		j.writers = append(j.writers, &JournalWriter{j: j, cur: newSegWriter(s), half: opts.SegmentSize / 2})
	}
	return j, nil
}

// journalFiles lists the journal's files in dir.
func journalFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && filepath.Ext(e.Name()) == ".xj" {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// newSegment creates a segment file named kind-<seq>-<worker>.xj.
func (j *Journal) newSegment(kind string, worker int) (*segment, error) {
	name := kind + "-" + strconv.FormatUint(j.seq.Add(1), 10) + "-" + strconv.Itoa(worker) + ".xj"
	return createSegment(filepath.Join(j.dir, name), j.opts.SegmentSize)
}

// Writer returns worker i's writer (SyncMaster.Writer), nil past the
// workers it was opened for.
func (j *Journal) Writer(i int) SyncWriter {
	if i < 0 || i >= len(j.writers) {
		return nil
	}
	return j.writers[i]
}

// Add implements SyncWriter. It does not allocate.
func (w *JournalWriter) Add(c *connsync.Conn, now time.Time) error {
	w.take()
	err := w.cur.add(c, now)
	if err != nil {
		w.dropped.Add(1)
		w.j.want.Store(true)
		return err
	}
	if w.cur.used() > w.half {
		w.j.want.Store(true)
	}
	return nil
}

// Flush implements SyncWriter: every entry is committed as it is added,
// so there is nothing to send; it is where an idle worker takes a fresh
// segment.
func (w *JournalWriter) Flush(time.Time, bool) { w.take() }

// take moves to the segment a compaction handed over, if any.
func (w *JournalWriter) take() {
	if w.next.Load() == nil {
		return
	}
	if s := w.next.Swap(nil); s != nil {
		w.cur.close()
		w.left.Store(w.cur.seg)
		w.cur = newSegWriter(s)
	}
}

// Start compacts every CompactEvery, and soon after a segment passes half
// full, until ctx ends or Close; the first compaction comes at once, so
// what RestoreJournal installed is in this daemon's own snapshot and the
// predecessor's files can go. Start it once e's workers run; it returns
// at once.
func (j *Journal) Start(ctx context.Context, e *Engine) {
	j.done.Add(1)
	go func() {
		defer j.done.Done()
		j.run(ctx, e)
	}()
}

func (j *Journal) run(ctx context.Context, d dumper) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Time{}
	for {
		if last.IsZero() || time.Since(last) >= j.opts.CompactEvery || j.want.Load() {
			if err := j.compact(ctx, d); err != nil && ctx.Err() == nil {
				j.log.Warn("journal compaction", "err", err)
			}
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-j.stop:
			return
		case <-tick.C:
		}
	}
}

// dumper is what a compaction dumps: the engine (an interface so the
// journal's tests can dump a table of their own).
type dumper interface {
	DumpSync(ctx context.Context, w SyncWriter, opts DumpOptions) (int, error)
}

// Compact hands every worker a fresh segment, dumps the table into a new
// snapshot, and deletes the previous snapshot, the segments the workers
// had left before the dump began, and the predecessor's files. A worker
// that has not moved on within a second keeps its segment until the next
// compaction.
func (j *Journal) Compact(ctx context.Context, e *Engine) error { return j.compact(ctx, e) }

func (j *Journal) compact(ctx context.Context, d dumper) error {
	j.want.Store(false)
	for i, w := range j.writers {
		if w.next.Load() != nil {
			continue // the last one is still to be taken
		}
		s, err := j.newSegment("seg", i)
		if err != nil {
			return err
		}
		w.next.Store(s)
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		moved := true
		for _, w := range j.writers {
			moved = moved && w.next.Load() == nil
		}
		if moved {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var left []*segment
	for _, w := range j.writers {
		if s := w.left.Swap(nil); s != nil {
			left = append(left, s)
		}
	}
	snap, err := j.newSegment("snap", 0)
	if err != nil {
		return err
	}
	sw := &snapWriter{w: newSegWriter(snap)}
	_, err = d.DumpSync(ctx, sw, DumpOptions{Rate: journalDumpRate, Learnt: true})
	if err == nil && sw.err != nil {
		err = fmt.Errorf("journal snapshot: %w", sw.err)
	}
	if err != nil {
		// Keep what the workers left: the snapshot is not whole.
		for _, s := range left {
			_ = s.release(false)
		}
		return errors.Join(err, snap.release(true))
	}
	var errs []error
	errs = append(errs, snap.release(false))
	for _, s := range left {
		errs = append(errs, s.release(true))
	}
	if j.snap != "" {
		errs = append(errs, os.Remove(j.snap))
	}
	j.snap = snap.path
	for _, p := range j.stale {
		errs = append(errs, os.Remove(p))
	}
	j.stale = nil
	j.compacts.Add(1)
	return errors.Join(errs...)
}

// snapWriter is the dump's SyncWriter into a snapshot segment.
type snapWriter struct {
	w   segWriter
	err error
}

func (s *snapWriter) Add(c *connsync.Conn, now time.Time) error {
	if err := s.w.add(c, now); err != nil {
		s.err = cmp.Or(s.err, err)
		return err
	}
	return nil
}

func (s *snapWriter) Flush(time.Time, bool) {}

// JournalStats are a journal's figures.
type JournalStats struct {
	// Compactions done; Dropped entries (a segment full before the
	// compaction came).
	Compactions, Dropped uint64
}

// Stats returns the journal's figures.
func (j *Journal) Stats() JournalStats {
	var s JournalStats
	s.Compactions = j.compacts.Load()
	for _, w := range j.writers {
		s.Dropped += w.dropped.Load()
	}
	return s
}

// Close stops the compactions and, with remove, deletes the journal (a clean stop
// leaves nothing behind); without, the files stay for the next daemon.
// Call it once the workers have stopped. A nil Journal closes as a no-op.
func (j *Journal) Close(remove bool) error {
	if j == nil {
		return nil
	}
	j.closeMu.Lock()
	defer j.closeMu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	close(j.stop)
	j.done.Wait()
	return j.release(remove)
}

func (j *Journal) release(remove bool) error {
	var errs []error
	for _, w := range j.writers {
		for _, s := range []*segment{w.cur.seg, w.next.Swap(nil), w.left.Swap(nil)} {
			if s != nil {
				errs = append(errs, s.release(remove))
			}
		}
	}
	if remove {
		errs = append(errs, os.RemoveAll(j.dir))
	}
	return errors.Join(errs...)
}

// TeeSync returns a SyncWriter that hands every entry to primary and then
// to also (a worker's connection-sync writer and its journal writer): the
// errors are primary's, also counts its own. Either may be nil.
func TeeSync(primary, also SyncWriter) SyncWriter {
	switch {
	case primary == nil:
		return also
	case also == nil:
		return primary
	}
	return &teeSync{primary, also}
}

type teeSync struct{ a, b SyncWriter }

func (t *teeSync) Add(c *connsync.Conn, now time.Time) error {
	err := t.a.Add(c, now)
	_ = t.b.Add(c, now)
	return err
}

func (t *teeSync) Flush(now time.Time, force bool) {
	t.a.Flush(now, force)
	t.b.Flush(now, force)
}
