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
	// Busy is the machine's busy time (all cores, /proc/stat) over the
	// measured window; Others what unrelated processes used meanwhile and
	// LabCPU what the lab's processes and the packet kernel threads used
	// (procscan.go). GenCPU and DirCPU split LabCPU (see attributeCPU).
	Busy, Others, LabCPU, GenCPU, DirCPU time.Duration
	// GenProcCPU is the generator process's own getrusage time. On veth it
	// includes the receive half of the director's port, which runs in
	// softirq inside the generator's sendto calls and, without
	// CONFIG_IRQ_TIME_ACCOUNTING, is charged to it.
	GenProcCPU time.Duration
	// DaemonCPU is the xvs daemon's own CPU time (all its threads) over
	// the measured window, for xvs scenarios.
	DaemonCPU time.Duration `json:",omitempty"`
	// WorkerCPU is the CPU time of the daemon's threads pinned to the
	// director's core, its forwarding workers (workercpu.go), over the
	// measured window; zero when the run is not pinned.
	WorkerCPU time.Duration `json:",omitempty"`
	// Prefilled counts the frames that established the load's flows before
	// the trial (prefill.go), PrefillDelivered those the sink saw.
	Prefilled, PrefillDelivered uint64 `json:",omitempty"`
	// Checks are the daemon's health checks over the window around the
	// measured one, for the checks scenario.
	Checks *CheckCounts `json:",omitempty"`
	// Sync are the sync master's and the bench's backup's counts over the
	// measured window, SyncTotals every entry sent and received by the
	// trial's end, for the sync scenario.
	Sync       *SyncCounts `json:",omitempty"`
	SyncTotals *SyncTotals `json:",omitempty"`
	Err        string      `json:",omitempty"`
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
	Busy     Summary // cores busy machine-wide (/proc/stat, all cores)
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
		var pps, sent, loss, gen, dir, busy, ns []float64
		for _, t := range series[i] {
			secs := t.Elapsed.Seconds()
			pps = append(pps, t.PPS())
			sent = append(sent, t.SentPPS())
			loss = append(loss, t.Loss())
			gen = append(gen, t.GenCPU.Seconds()/secs)
			dir = append(dir, t.DirCPU.Seconds()/secs)
			busy = append(busy, t.Busy.Seconds()/secs)
			ns = append(ns, t.DirNsPerPacket())
		}
		rows[i].PPS, rows[i].SentPPS, rows[i].Loss = Summarize(pps), Summarize(sent), Summarize(loss)
		rows[i].GenCPU, rows[i].DirCPU, rows[i].NsPerPkt = Summarize(gen), Summarize(dir), Summarize(ns)
		rows[i].Busy = Summarize(busy)
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
	// Backends compares each xvs mode's AF_PACKET and AF_XDP rows.
	Backends []BackendRatio
	// Checks is the health-check row (nil when xvs-nat-checks did not run).
	Checks  *ChecksResult `json:",omitempty"`
	Latency []LatencyResult
	// Wake is what crossing between the generator's and the director's
	// cores costs (wake.go), measured before the latency series.
	Wake []WakeResult `json:",omitempty"`
	// ChecksIdle are the idle daemon measurements of the checks row.
	ChecksIdle []IdleResult `json:",omitempty"`
	// Sync is the connection-sync row (nil when neither of its parts ran);
	// SyncInstall the backup daemon's install measurements.
	Sync          *SyncResult     `json:",omitempty"`
	SyncInstall   []InstallResult `json:",omitempty"`
	Table         []TableMemResult
	GoBench       []GoBench
	GoBenchErrors []string
	// XVS is "ok", "off", or "unavailable: <reason>".
	XVS     string
	XVSStat map[string]string // last `xvsadm -Ln --stats` per scenario
	Profile map[string]string // scenario -> profile file (or why none)
	// ProfileSummary is what each profiled scenario's profile says in
	// brief.
	ProfileSummary map[string]ProfileSummary `json:",omitempty"`
	Targets        []TargetCheck
	Notes          []string

	// TCPLoad is the TCP-load rows (nil when the phase did not run);
	// TCPTrials its trials.
	TCPLoad   *TCPLoadResult `json:",omitempty"`
	TCPTrials []TCPTrial     `json:",omitempty"`
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
	PrefillRate           float64
	Reals                 int
	CheckedReals          int
	CheckIdle             time.Duration
	SyncInstall           int
	SyncRates             []float64
	ProbeCount            int
	ProbeInterval         time.Duration

	// The TCP-load phase's bounds (set by the phase when it runs).
	TCPLoadTime     time.Duration `json:",omitempty"`
	HTTPRequests    int           `json:",omitempty"`
	HTTPConcurrency int           `json:",omitempty"`
	TCPLoadRPS      bool          `json:",omitempty"`
}

// attributeCPU splits each trial's lab CPU (the lab's processes and packet
// kernel threads) between generator and director. The generator process's own time
// cannot be used: veth runs the director port's receive half (NAPI, XDP, the
// AF_XDP copy, kernel forwarding) inside the generator's sendto calls. So the
// generator's cost per sent frame is calibrated in the same run and lab by
// the gen-only trials (frames dropped by XDP at the director's port, nothing
// else) at the same load, and the director gets the rest:
//
//	GenCPU = sent * calibrated cost;  DirCPU = LabCPU - GenCPU
//
// Trials without a calibration keep GenCPU = the process's time.
func attributeCPU(trials []TrialResult) {
	type key struct {
		arms int
		l    Load
	}
	cal := map[key][]float64{}
	for _, t := range trials {
		if isGenOnly(t.Scenario) && t.Err == "" && t.Sent > 0 {
			k := key{scenarioArms(t.Scenario), t.Load}
			cal[k] = append(cal[k], float64(t.LabCPU)/float64(t.Sent))
		}
	}
	for i := range trials {
		t := &trials[i]
		if t.Err != "" {
			continue
		}
		c, ok := cal[key{scenarioArms(t.Scenario), t.Load}]
		if !ok {
			continue
		}
		perSent := Median(c)
		t.GenCPU = time.Duration(perSent * float64(t.Sent))
		t.DirCPU = max(t.LabCPU-t.GenCPU, 0)
	}
}
