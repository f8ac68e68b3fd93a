package main

import (
	"log/slog"
	"time"

	"github.com/xvs-project/xvs/forwarder"
	"github.com/xvs-project/xvs/internal/xdpprog"
)

// defaultStateDir is --state-dir's default: a tmpfs, gone at reboot with
// the connections it describes.
const defaultStateDir = "/run/xvs/state"

// openJournal opens the connection journal of this network namespace
// under dir for workers workers; nil (and a log line) when dir is empty or
// unusable: forwarding matters more than outliving a crash.
func openJournal(dir string, workers int, log *slog.Logger) *forwarder.Journal {
	if dir == "" {
		return nil
	}
	nsDir, err := xdpprog.NetnsDir(dir)
	if err == nil {
		var j *forwarder.Journal
		if j, err = forwarder.OpenJournal(nsDir, workers, forwarder.JournalOptions{Logger: log}); err == nil {
			return j
		}
	}
	log.Warn("no connection journal: a restart of the daemon will lose its connections", "err", err)
	return nil
}

// restoreJournal installs what a killed predecessor journaled.
func restoreJournal(j *forwarder.Journal, eng *forwarder.Engine, log *slog.Logger) {
	if j == nil {
		return
	}
	st, err := j.Restore(eng, time.Now())
	if err != nil {
		log.Warn("restoring the connection table", "err", err)
	}
	if st.Files > 0 {
		log.Info("connection table restored", "installed", st.Installed, "expired", st.Expired, "refused", st.Refused,
			"entries", st.Entries, "files", st.Files, "took", st.Took.String())
	}
}
