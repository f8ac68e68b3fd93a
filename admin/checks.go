package admin

import (
	"fmt"
	"io"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/health"
)

// ChecksBackend is a Backend that also reports its health checks
// (xvsadm --checks); *control.Client is one.
type ChecksBackend interface {
	Checks() (control.ChecksReport, error)
}

// ListChecks prints xvsadm --checks: one line per checker (service, real
// server, kind, target, state, the server's weight in the pool, the last
// result and its reason, how long the state has held, and its counters),
// then each checked service's quorum.
func ListChecks(w io.Writer, rep control.ChecksReport, now time.Time) error {
	if len(rep.Checks) == 0 && len(rep.Services) == 0 {
		_, err := fmt.Fprintln(w, "No health checks are configured.")
		return err
	}
	if err := health.WriteStatus(w, rep.Checks, now); err != nil {
		return err
	}
	if len(rep.Services) > 0 {
		fmt.Fprintln(w)
	}
	for _, s := range rep.Services {
		state := "quorum up"
		if !s.QuorumUp {
			state = "quorum down"
		}
		sorry := ""
		if s.SorryActive {
			sorry = ", sorry server in"
		}
		if _, err := fmt.Fprintf(w, "%s: %s (live weight %d)%s\n", s.Name, state, s.LiveWeight, sorry); err != nil {
			return err
		}
	}
	return nil
}
