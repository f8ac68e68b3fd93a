package forwarder

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/xvs-project/xvs/connsync"
)

// RestoreStats describe one RestoreJournal.
type RestoreStats struct {
	// Files and Bytes read; Records (messages) and Entries in them.
	Files, Records, Entries int
	Bytes                   int64
	// Installed entries; Expired ones (their time ran out while no
	// daemon ran); Refused ones (no such service or real server any
	// more, a full table: SyncRefusal).
	Installed, Expired, Refused int
	// Took is how long the replay took.
	Took time.Duration
}

// journalRecord is one record read back.
type journalRecord struct {
	stamp int64
	msg   []byte
}

// RestoreJournal installs what a killed daemon's journal in dir holds (the
// files OpenJournal finds there; a missing dir holds nothing) into e's
// table, before the workers run. The records of all files (the snapshot
// and every worker's segments) are replayed in the order they were
// written, so the latest state of a connection wins, each entry with the
// time it had left less the time since it was written; entries whose
// time ran out are skipped. It installs as a sync backup does
// (InstallSync's rules) without counting in SyncStats.
func (e *Engine) RestoreJournal(dir string, now time.Time) (RestoreStats, error) {
	files, err := journalFiles(dir)
	if os.IsNotExist(err) || (err != nil && !dirExists(dir)) {
		return RestoreStats{}, nil
	}
	if err != nil {
		return RestoreStats{}, err
	}
	return e.restoreFiles(files, now)
}

// Restore is RestoreJournal of the files a predecessor left in j's
// directory (OpenJournal found them), not j's own.
func (j *Journal) Restore(e *Engine, now time.Time) (RestoreStats, error) {
	return e.restoreFiles(j.stale, now)
}

func (e *Engine) restoreFiles(files []string, now time.Time) (RestoreStats, error) {
	start := time.Now()
	var st RestoreStats
	var recs []journalRecord
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			return st, fmt.Errorf("journal: %w", err)
		}
		st.Files++
		st.Bytes += int64(len(b))
		readRecords(b, func(stamp int64, msg []byte) {
			recs = append(recs, journalRecord{stamp: stamp, msg: msg})
		})
	}
	slices.SortStableFunc(recs, func(a, b journalRecord) int {
		switch {
		case a.stamp < b.stamp:
			return -1
		case a.stamp > b.stamp:
			return 1
		}
		return 0
	})
	var dec connsync.Decoder
	for _, r := range recs {
		st.Records++
		elapsed := now.Sub(time.Unix(0, r.stamp))
		_, _ = dec.Decode(r.msg, func(c *connsync.Conn) {
			st.Entries++
			left := time.Duration(c.Timeout)*time.Second - elapsed
			if c.Timeout == 0 || left <= 0 {
				st.Expired++
				return
			}
			c.Timeout = uint32((left + time.Second - 1) / time.Second)
			if _, _, ok := e.installSync(c); ok {
				st.Installed++
			} else {
				st.Refused++
			}
		})
	}
	st.Took = time.Since(start)
	return st, nil
}

func dirExists(dir string) bool {
	fi, err := os.Stat(filepath.Clean(dir))
	return err == nil && fi.IsDir()
}
