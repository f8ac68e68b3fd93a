package admin

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/xvs-project/xvs/vrrp"
)

// VRRPBackend is a Backend that also runs VRRP instances (xvsadm --vrrp);
// *control.Client is one.
type VRRPBackend interface {
	VRRP() ([]vrrp.Status, error)
}

// ListVRRP prints xvsadm --vrrp: one line per instance with its state, its
// priority (as tracking moved it), the master's address, how long it has
// been in that state and why it got there, and its advertisement counters
// (adverts discarded, by reason).
func ListVRRP(w io.Writer, st []vrrp.Status, now time.Time) error {
	if len(st) == 0 {
		_, err := fmt.Fprintln(w, "No VRRP instances are configured.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tSTATE\tPRIORITY\tMASTER\tSINCE\tWHY\tSENT\tRECEIVED\tDISCARDED")
	for _, s := range st {
		since := "-"
		if !s.Since.IsZero() {
			since = now.Sub(s.Since).Truncate(time.Second).String()
		}
		master, why := "-", "-"
		if s.Master.IsValid() {
			master = s.Master.String()
		}
		if s.Why != "" {
			why = s.Why
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Name, s.State, s.Priority, master, since, why,
			s.Sent, s.Received, discarded(s.Discarded))
	}
	return tw.Flush()
}

// discarded is "reason=n reason=n" sorted by reason, or "-".
func discarded(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%s=%d", k, m[k])
	}
	return out
}
