package bench

import (
	"fmt"
	"time"
)

// Established flows at a million: at the lab's rates a 700 ms trial sends
// a few hundred thousand frames, so without help it never comes back to a
// flow of a 1 M-flow load, and every frame would be a new connection: the
// row would measure connection set-up, not the lookups of a big table.
// Before a trial of such a load a stateful director (xvs, nftables DNAT)
// is therefore sent every flow once, paced at Options.PrefillRate, which
// the slowest of them takes without loss; the trial then runs over
// connections it knows. The SYN load stays the new-connection figure.
// Stateless scenarios (the bounce, kernel forwarding, gen-only) keep no
// per-flow state and are not prefilled.

// prefillMinFlows is the smallest load prefilled: below it the warm-up
// already revisits every flow many times.
const prefillMinFlows = 100_000

// isStateful reports whether a scenario's director keeps per-flow state.
func isStateful(s string) bool { return isXVS(s) || s == ScNftDNAT }

// prefillCount is how many frames (one per flow) to send before trial t, 0
// for none.
func (r *runner) prefillCount(t Trial) uint64 {
	if r.opts.PrefillRate <= 0 || t.Load.Proto == SYN || t.Load.Flows < prefillMinFlows || !isStateful(t.Scenario) {
		return 0
	}
	return uint64(t.Load.Flows)
}

// prefill sends every flow of t's load once at the prefill rate and
// records what the sink saw of it. The generator's flow sequence ends where
// it began, so the trial starts on the first flow again.
func (r *runner) prefill(t Trial, gen *proc, sink *Sink, res *TrialResult) error {
	n := r.prefillCount(t)
	if n == 0 {
		return nil
	}
	s0, err := sink.Read()
	if err != nil {
		return err
	}
	timeout := time.Duration(float64(n)/r.opts.PrefillRate*float64(time.Second)) + 10*time.Second
	var g GenResult
	if err := gen.request(GenCommand{Count: n, Rate: r.opts.PrefillRate}, &g, timeout); err != nil || g.Error != "" {
		return fmt.Errorf("prefill: %v %s", err, g.Error)
	}
	time.Sleep(r.opts.Settle)
	s1, err := sink.Read()
	if err != nil {
		return err
	}
	res.Prefilled, res.PrefillDelivered = g.Sent, s1.Sub(s0).Total()
	return nil
}

// prefillNotes says, per load, how the prefill went: how many trials had
// one and the smallest share of its frames the sink saw (a flow whose
// prefill frame was lost is a new connection in the trial).
func prefillNotes(res *Results) []string {
	type agg struct {
		trials int
		worst  float64
		where  string
	}
	by := map[Load]*agg{}
	var order []Load
	for _, t := range res.Trials {
		if t.Prefilled == 0 {
			continue
		}
		a := by[t.Load]
		if a == nil {
			a = &agg{worst: 2}
			by[t.Load] = a
			order = append(order, t.Load)
		}
		a.trials++
		if share := float64(t.PrefillDelivered) / float64(t.Prefilled); share < a.worst {
			a.worst, a.where = share, t.Scenario
		}
	}
	var notes []string
	for _, l := range order {
		a := by[l]
		notes = append(notes, fmt.Sprintf("%s: every flow was sent once at %s frames/s before each of %d trials of a stateful director (xvs, nftables), so the trials run over established flows; the sink saw at least %s of those frames (least: %s).",
			l, formatNum(res.Options.PrefillRate, 0), a.trials, formatPct(min(a.worst, 1)), a.where))
	}
	return notes
}
