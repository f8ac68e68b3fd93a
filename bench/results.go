package bench

import (
	"math"
	"time"
)

// TrialResult is one measured trial.
type TrialResult struct {
	Trial
	Sent, Delivered uint64
	Elapsed         time.Duration
	// Encap counts delivered frames that arrived IPIP-encapsulated;
	// Unknown those addressed to a MAC that is no real server's.
	Encap, Unknown uint64
	PerReal        []uint64
	// GenCPU is the generator process's CPU time; Busy is the machine's
	// (all cores, /proc/stat) over the measured window; Others is what
	// unrelated processes used meanwhile (procscan.go); DirCPU = Busy -
	// GenCPU - Others: the director and everything else the packets cost.
	GenCPU, Busy, Others, DirCPU time.Duration
	Err                          string `json:",omitempty"`
}

// PPS returns delivered frames per second.
func (t TrialResult) PPS() float64 { return rate(t.Delivered, t.Elapsed) }

// SentPPS returns sent frames per second.
func (t TrialResult) SentPPS() float64 { return rate(t.Sent, t.Elapsed) }

// Loss returns the fraction of sent frames not delivered.
func (t TrialResult) Loss() float64 {
	if t.Sent == 0 {
		return math.NaN()
	}
	return 1 - float64(t.Delivered)/float64(t.Sent)
}

// DirNsPerPacket returns the director's CPU nanoseconds per delivered frame.
func (t TrialResult) DirNsPerPacket() float64 {
	if t.Delivered == 0 {
		return math.NaN()
	}
	return float64(t.DirCPU.Nanoseconds()) / float64(t.Delivered)
}

func rate(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return math.NaN()
	}
	return float64(n) / d.Seconds()
}

// Row aggregates the trials of one scenario under one load.
type Row struct {
	Scenario string
	Load     Load
	Arms     int
	PPS      Summary // delivered frames per second
	SentPPS  Summary
	Loss     Summary // fraction
	GenCPU   Summary // cores (CPU seconds per second)
	DirCPU   Summary // cores
	Others   Summary // cores used by unrelated jobs
	NsPerPkt Summary // director CPU ns per delivered frame
	Errors   []string
}

// Aggregate groups trials by scenario and load, in first-seen order.
func Aggregate(trials []TrialResult) []Row {
	type key struct {
		s string
		l Load
	}
	idx := map[key]int{}
	var rows []Row
	var series [][]TrialResult
	for _, t := range trials {
		k := key{t.Scenario, t.Load}
		i, ok := idx[k]
		if !ok {
			i = len(rows)
			idx[k] = i
			rows = append(rows, Row{Scenario: t.Scenario, Load: t.Load, Arms: scenarioArms(t.Scenario)})
			series = append(series, nil)
		}
		if t.Err != "" {
			rows[i].Errors = append(rows[i].Errors, t.Err)
			continue
		}
		series[i] = append(series[i], t)
	}
	for i := range rows {
		var pps, sent, loss, gen, dir, oth, ns []float64
		for _, t := range series[i] {
			secs := t.Elapsed.Seconds()
			pps = append(pps, t.PPS())
			sent = append(sent, t.SentPPS())
			loss = append(loss, t.Loss())
			gen = append(gen, t.GenCPU.Seconds()/secs)
			dir = append(dir, t.DirCPU.Seconds()/secs)
			oth = append(oth, t.Others.Seconds()/secs)
			ns = append(ns, t.DirNsPerPacket())
		}
		rows[i].PPS, rows[i].SentPPS, rows[i].Loss = Summarize(pps), Summarize(sent), Summarize(loss)
		rows[i].GenCPU, rows[i].DirCPU, rows[i].NsPerPkt = Summarize(gen), Summarize(dir), Summarize(ns)
		rows[i].Others = Summarize(oth)
	}
	return rows
}

// LatencyResult is one latency measurement: a scenario idle or under load.
type LatencyResult struct {
	Scenario string
	Round    int
	// LoadPPS is the background rate (0: idle).
	LoadPPS  float64
	P50, P99 time.Duration
	Max      time.Duration
	Samples  int
	Lost     int
	Err      string `json:",omitempty"`
}

// Results is everything a run measured.
type Results struct {
	Started, Finished time.Time
	Smoke             bool
	Host              HostInfo
	Options           OptionsSummary
	Trials            []TrialResult
	Rows              []Row
	Latency           []LatencyResult
	Table             []TableMemResult
	GoBench           []GoBench
	GoBenchErrors     []string
	// XVS is "ok", "off", or "unavailable: <reason>".
	XVS     string
	XVSStat map[string]string // last `xvsadm -Ln --stats` per scenario
	Profile map[string]string // scenario -> profile file (or why none)
	Targets []TargetCheck
	Notes   []string
}

// HostInfo describes the machine the run measured.
type HostInfo struct {
	// Commit is the checkout measured (git describe), "+dirty" when it
	// has uncommitted changes.
	Commit         string
	Kernel         string
	Cores          int
	LoadAvgStart   string
	LoadAvgEnd     string
	ConntrackMax   string
	PinnedGen      string
	PinnedDirector string
}

// OptionsSummary is the part of Options the report prints.
type OptionsSummary struct {
	Rounds                int
	Trial, Warmup, Settle time.Duration
	Reals                 int
	ProbeCount            int
	ProbeInterval         time.Duration
}
