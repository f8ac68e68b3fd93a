package admin

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/xvs-project/xvs/control"
)

// DropsBackend is a Backend that also reports loss counters (-L --drops);
// *control.Client is one.
type DropsBackend interface {
	Drops() (control.DropReport, error)
}

// checkListing enforces where an xvs-only listing option (--drops, --mh)
// may appear, when on: only with -L, and not with another listing (-c,
// --timeout, --daemon, the other xvs one) or a service, in ipvsadm's words
// for such mistakes. These options are outside the legal table because
// ipvsadm has no such options.
func (p *parser) checkListing(name string, on bool) error {
	c := &p.cmd
	if !on {
		return nil
	}
	if c.Op != OpList {
		return syntaxf(ErrIllegalOption, "Illegal '%s' option with the '%s' command", name, c.Op)
	}
	for _, o := range []opt{optService, optConnection, optTimeout, optDaemon} {
		if p.set.has(o) {
			return syntaxf(ErrConflict, "The option '%s' conflicts with the '%s' option in the '%s' command", name, optNames[o], c.Op)
		}
	}
	if c.Drops && c.MH && name == "mh" {
		return syntaxf(ErrConflict, "The option 'mh' conflicts with the 'drops' option in the '%s' command", c.Op)
	}
	return nil
}

// ListDrops prints a drop report (xvsadm -L --drops): one line per reason
// and queue ("-" for a counter not kept per queue), a subtotal for a reason
// seen on more than one queue, the total of all losses, and then the
// counters that are not losses (the steering program's verdicts) under a
// heading of their own. Numbers are exact. An empty report prints the
// header and a total of 0.
func ListDrops(w io.Writer, rep control.DropReport) error {
	type row struct {
		reason, queue string
		n             uint64
	}
	var drops, events []row
	var total uint64
	sorted := sortedByReason(rep.Drops)
	for i := 0; i < len(sorted); {
		j, sub := i, uint64(0)
		for ; j < len(sorted) && sorted[j].Reason == sorted[i].Reason; j++ {
			drops = append(drops, row{sorted[j].Reason, queueOr(sorted[j].Queue), sorted[j].Count})
			sub += sorted[j].Count
		}
		if j-i > 1 {
			drops = append(drops, row{sorted[i].Reason, "all", sub})
		}
		total += sub
		i = j
	}
	drops = append(drops, row{"total", "", total})
	for _, e := range sortedByReason(rep.Events) {
		events = append(events, row{e.Reason, queueOr(e.Queue), e.Count})
	}
	wr, wq, wn := len("Not dropped"), len("Queue"), len("Packets")
	for _, r := range append(slices.Clip(drops), events...) {
		wr, wq, wn = max(wr, len(r.reason)), max(wq, len(r.queue)), max(wn, len(strconv.FormatUint(r.n, 10)))
	}
	bw := bufio.NewWriter(w)
	print := func(head string, rows []row) {
		fmt.Fprintf(bw, "%-*s  %-*s  %*s\n", wr, head, wq, "Queue", wn, "Packets")
		for _, r := range rows {
			fmt.Fprintf(bw, "%-*s  %-*s  %*d\n", wr, r.reason, wq, r.queue, wn, r.n)
		}
	}
	print("Reason", drops)
	if len(events) > 0 {
		bw.WriteString("\n")
		print("Not dropped", events)
	}
	return bw.Flush()
}

func queueOr(q string) string {
	if q == "" {
		return "-"
	}
	return q
}

// sortedByReason returns a copy of d ordered by reason, then queue.
func sortedByReason(d []control.Drop) []control.Drop {
	d = slices.Clone(d)
	slices.SortFunc(d, func(a, b control.Drop) int {
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Queue, b.Queue))
	})
	return d
}
