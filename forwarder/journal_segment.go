package forwarder

// The connection journal's files (journal.go has the set, restore.go the
// replay). A segment is a fixed-size file mapped MAP_SHARED: what a worker
// stores in it is in the page cache the moment it is stored, so it
// survives the process being killed (not the machine going down: the state
// dir is a tmpfs anyway). It holds records, each one IPVS sync v1 message
// (connsync.Message, the entries connection sync sends) behind a 16-byte
// head:
//
//	0  commit  uint32  journalMagic<<24 | message length; 0: no record yet
//	4  (zero)
//	8  stamp   int64   UnixNano of the record's latest entry
//	16 message          header and entries, padded to 8 bytes
//
// The writer appends an entry to the open record's message in place and
// only then stores the stamp and the new length (atomically, in that
// order): a process killed in the middle of an entry leaves the previous
// length, so a reader never sees a torn entry. Records start 8-aligned.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xvs-project/xvs/connsync"
)

const (
	journalMagic = 0x58 // 'X'
	recordHead   = 16
	// minRecord is the room a record needs: its head, a message header
	// and one IPv4 entry (connsync raises smaller limits to that).
	minRecord = recordHead + 8 + 36
)

// errJournalFull reports an entry that did not fit in the worker's segment.
var errJournalFull = errors.New("journal segment full")

// segment is one mapped journal file.
type segment struct {
	path string
	mem  []byte
}

// createSegment makes a fresh file of size bytes at path and maps it.
func createSegment(path string, size int) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	if err := f.Truncate(int64(size)); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("journal: %w", err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("journal: map %s: %w", path, err)
	}
	return &segment{path: path, mem: mem}, nil
}

// release unmaps the segment; with remove it deletes the file too.
func (s *segment) release(remove bool) error {
	err := unix.Munmap(s.mem)
	s.mem = nil
	if remove {
		err = errors.Join(err, os.Remove(s.path))
	}
	return err
}

// segWriter appends records to one segment. Only its worker uses it.
type segWriter struct {
	seg  *segment
	open int // offset of the open record, -1: none
	end  int // where the next record may start
	msg  connsync.Message
}

func newSegWriter(s *segment) segWriter { return segWriter{seg: s, open: -1} }

// add appends c to the open record (a new one when there is none or it is
// full) and commits it. It does not allocate.
func (w *segWriter) add(c *connsync.Conn, now time.Time) error {
	if w.open < 0 && !w.begin() {
		return errJournalFull
	}
	err := w.msg.Add(c)
	if errors.Is(err, connsync.ErrFull) {
		w.close()
		if !w.begin() {
			return errJournalFull
		}
		err = w.msg.Add(c)
	}
	if err != nil {
		return err
	}
	mem := w.seg.mem
	atomic.StoreInt64((*int64)(unsafe.Pointer(&mem[w.open+8])), now.UnixNano())
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[w.open])), journalMagic<<24|uint32(len(w.msg.Bytes())))
	return nil
}

// begin opens a record at the next 8-aligned offset; false when the
// segment has no room left.
func (w *segWriter) begin() bool {
	off := (w.end + 7) &^ 7
	mem := w.seg.mem
	if off+minRecord > len(mem) {
		return false
	}
	// The message grows in place: its capacity ends with the segment and
	// its limit is within it, so connsync's appends never reallocate.
	room := len(mem) - off - recordHead
	w.msg.Reset(mem[off+recordHead:off+recordHead:len(mem)], 0, min(room, 0xffff))
	w.open = off
	return true
}

// close ends the open record; one that took no entry leaves its place to
// the next.
func (w *segWriter) close() {
	if w.open < 0 {
		return
	}
	if w.msg.Len() > 0 {
		w.end = w.open + recordHead + len(w.msg.Bytes())
	}
	w.open = -1
}

// used is how many bytes of the segment hold records.
func (w *segWriter) used() int {
	if w.open >= 0 {
		return w.open + recordHead + len(w.msg.Bytes())
	}
	return w.end
}

// readRecords calls fn with each committed record of b (a segment's
// content): its stamp and its message. It stops at the first place that
// holds no record: the end of what was written, or a torn or damaged
// head.
func readRecords(b []byte, fn func(stamp int64, msg []byte)) {
	off := 0
	for off+recordHead <= len(b) {
		commit := binary.NativeEndian.Uint32(b[off:])
		n := int(commit & 0xffffff)
		if commit>>24 != journalMagic || off+recordHead+n > len(b) {
			return
		}
		fn(int64(binary.NativeEndian.Uint64(b[off+8:])), b[off+recordHead:off+recordHead+n])
		off = (off + recordHead + n + 7) &^ 7
	}
}
