package health

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// WriteStatus prints checker statuses as the `xvsadm --checks` table: one line per checker with
// its service, real server, kind, target, state, the real server's weight in the pool, the last
// result and its reason, how long ago the state last changed (from now), and the counters.
func WriteStatus(w io.Writer, st []CheckStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tREAL\tKIND\tTARGET\tSTATE\tWEIGHT\tLAST\tREASON\tSINCE\tRUNS\tFAILS\tTRANS")
	for _, s := range st {
		last := "-"
		if s.Runs > 0 {
			last = "fail"
			if s.LastOK {
				last = "pass"
			}
		}
		reason := "-"
		if s.LastReason != "" {
			reason = strconv.Quote(s.LastReason)
		}
		since := "-"
		if !s.LastChange.IsZero() {
			since = now.Sub(s.LastChange).Truncate(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\n", s.Service, s.Real, s.Kind, s.Target,
			s.State(), s.Weight, last, reason, since, s.Runs, s.Failures, s.Transitions)
	}
	return tw.Flush()
}
