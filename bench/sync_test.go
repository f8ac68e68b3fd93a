package bench

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/flow"
)

// The sync scenarios' YAML is read by the daemon's own reader as xvs-nat's
// services plus one sync daemon of the role, on the interface given, with
// the kernel's defaults left to the daemon.
func TestSyncConfigReadByDaemon(t *testing.T) {
	reals := []netip.Addr{realAddr(1), realAddr(2), realAddr(3)}
	for _, role := range []control.SyncRole{control.SyncMaster, control.SyncBackup} {
		path := filepath.Join(t.TempDir(), "xvs.yaml")
		text := xvsConfig(labVIP, reals, "nat") + syncConfig(string(role), "xvs1-dx")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := control.ReadFile(path, "")
		if err != nil {
			t.Fatalf("%s: %v\n%s", role, err, text)
		}
		want, err := control.ParseConfig("xvs-nat.yaml", []byte(xvsConfig(labVIP, reals, "nat")))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(f.Services.Services); got != len(want.Services) {
			t.Errorf("%s: %d services, want xvs-nat's %d", role, got, len(want.Services))
		}
		if f.Sync == nil {
			t.Fatalf("%s: no sync block read from\n%s", role, text)
		}
		d, other := f.Sync.Master, f.Sync.Backup
		if role == control.SyncBackup {
			d, other = other, d
		}
		if d == nil || other != nil || f.Sync.Follow != nil {
			t.Fatalf("%s: sync = %+v", role, f.Sync)
		}
		if !d.Same(&control.SyncDaemon{Interface: "xvs1-dx"}) {
			t.Errorf("%s: daemon %+v, want only the interface set", role, *d)
		}
	}
}

func TestSyncLoadName(t *testing.T) {
	if got := syncLoad.String(); got != "64B/10k+new/32" {
		t.Errorf("sync load = %q", got)
	}
	if got := (Load{Proto: UDP, Size: 64, Flows: 10_000}).String(); got != "64B/10k" {
		t.Errorf("plain load = %q", got)
	}
	if !isSync(ScXVSNATSync) || isSync(ScXVSNAT) || isChecks(ScXVSNATSync) || isAFP(ScXVSNATSync) {
		t.Error("scenario predicates")
	}
	if xvsMode(ScXVSNATSync) != "nat" || xvsBackend(ScXVSNATSync) != backendXDP || scenarioArms(ScXVSNATSync) != 2 {
		t.Error("xvs-nat-sync runs xvs-nat's daemon in the two-armed lab")
	}
}

// The generator's mixed load: the cycled flows in turn, and every
// newEvery-th frame a flow above them that was never sent.
func TestGeneratorNewFlows(t *testing.T) {
	g := &generator{flows: 4, flow: 2, newEvery: 3}
	var got []uint64
	for range 9 {
		got = append(got, g.nextFlow())
	}
	want := []uint64{2, 3, 4, 0, 1, 5, 2, 3, 6}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("flows %v, want %v", got, want)
		}
	}
	plain := &generator{flows: 3}
	for i := range 7 {
		if f := plain.nextFlow(); f != uint64(i%3) {
			t.Fatalf("without newEvery frame %d: flow %d", i, f)
		}
	}
	c := genConfig(&Lab{VIP: labVIP}, ScXVSNATSync, syncLoad, 0)
	if c.NewEvery != syncNewEvery || c.Flows != 10_000 || c.Proto != UDP {
		t.Errorf("genConfig of the sync load: %+v", c)
	}
}

func TestSyncTrialsAlternate(t *testing.T) {
	tr := syncTrials(2)
	if len(tr) != 4 {
		t.Fatalf("%d trials", len(tr))
	}
	if tr[0].Scenario != ScXVSNAT || tr[1].Scenario != ScXVSNATSync || tr[2].Scenario != ScXVSNATSync || tr[3].Scenario != ScXVSNAT {
		t.Errorf("order %v", tr)
	}
	for _, x := range tr {
		if x.Load != syncLoad {
			t.Errorf("%v not under the sync load", x)
		}
	}
}

// The install entries are new ESTABLISHED NAT connections to the VIP's
// TCP port, one client each, the real servers in turn, and encodable.
func TestInstallEntry(t *testing.T) {
	lab := &Lab{VIP: labVIP, Reals: []Real{{Addr: realAddr(1)}, {Addr: realAddr(2)}}}
	seen := map[netip.AddrPort]bool{}
	var m connsync.Message
	m.Reset(nil, 0, connsync.DefaultMaxLen)
	for _, i := range []uint64{0, 1, PortsPerAddr - 1, PortsPerAddr, 99_999} {
		var c connsync.Conn
		installEntry(&c, lab, i)
		if c.Proto != flow.TCP || c.State != 1 || c.Flags != connsync.FwdMasq || c.Timeout == 0 {
			t.Errorf("entry %d: %+v", i, c)
		}
		if c.Virtual != netip.AddrPortFrom(labVIP, synPort) || c.Dest != netip.AddrPortFrom(lab.Reals[i%2].Addr, synPort) {
			t.Errorf("entry %d: virtual %v dest %v", i, c.Virtual, c.Dest)
		}
		if !netip.MustParsePrefix("198.19.0.0/16").Contains(c.Client.Addr()) || seen[c.Client] {
			t.Errorf("entry %d: client %v", i, c.Client)
		}
		seen[c.Client] = true
		if err := m.Add(&c); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
}

// syncResults is a run with both sync rows: two rounds of xvs-nat and
// xvs-nat-sync under the sync load, and two offers per round.
func syncResults() *Results {
	trial := func(s string, round int, delivered uint64, y *SyncCounts, tot *SyncTotals) TrialResult {
		return TrialResult{Trial: Trial{Round: round, Load: syncLoad, Scenario: s}, Sent: 320_000, Delivered: delivered,
			Elapsed: time.Second, DaemonCPU: 900 * time.Millisecond, Sync: y, SyncTotals: tot}
	}
	y := &SyncCounts{Datagrams: 250, Entries: 10_000, Window: time.Second}
	res := &Results{Options: OptionsSummary{Rounds: 2, SyncInstall: 1000, SyncRates: []float64{200_000, 0}}}
	res.Trials = []TrialResult{
		trial(ScXVSNAT, 0, 300_000, nil, nil), trial(ScXVSNATSync, 0, 291_000, y, &SyncTotals{Sent: 20_000, Received: 20_000}),
		trial(ScXVSNATSync, 1, 270_000, y, &SyncTotals{Sent: 20_000, Received: 19_000}), trial(ScXVSNAT, 1, 300_000, nil, nil),
		// Another load's xvs-nat trial is not the sync row's.
		{Trial: Trial{Load: Load{Proto: UDP, Size: 64, Flows: 10_000}, Scenario: ScXVSNAT}, Sent: 1, Delivered: 1, Elapsed: time.Second},
	}
	for round := range 2 {
		res.SyncInstall = append(res.SyncInstall,
			InstallResult{Round: round, Rate: 200_000, Offered: 1000, Datagrams: 25, SendTime: 5 * time.Millisecond,
				Received: 1000, Installed: 1000, Window: 10 * time.Millisecond, RecvDatagrams: 25},
			InstallResult{Round: round, Rate: 0, Offered: 1000, Datagrams: 25, SendTime: time.Millisecond,
				Received: 800, Installed: 800, Window: 4 * time.Millisecond, RecvDatagrams: 20, RcvbufErrors: 5})
	}
	res.SyncInstall = append(res.SyncInstall, InstallResult{Round: 1, Rate: 0, Err: "daemon fell over"})
	res.Rows = Aggregate(res.Trials)
	res.Sync = ConnSync(res)
	return res
}

func TestConnSyncRow(t *testing.T) {
	res := syncResults()
	s := res.Sync
	if s == nil {
		t.Fatal("no sync row")
	}
	if s.On.N != 2 || s.Off.N != 2 || s.PerRound.N != 2 {
		t.Fatalf("on %+v off %+v per round %+v", s.On, s.Off, s.PerRound)
	}
	if math.Abs(s.PerRound.Min-0.9) > 1e-9 || math.Abs(s.PerRound.Max-0.97) > 1e-9 {
		t.Errorf("same-round ratios %+v, want 0.90 and 0.97", s.PerRound)
	}
	if s.NewConns.Median != 8765 || s.NewOffered.Median != 10_000 || s.Datagrams.Median != 250 || s.Entries.Median != 10_000 {
		t.Errorf("new conns %v, datagrams %v, entries %v", s.NewConns.Median, s.Datagrams.Median, s.Entries.Median)
	}
	if s.Sent != 40_000 || s.Received != 39_000 || math.Abs(s.ReceivedShare()-0.975) > 1e-9 {
		t.Errorf("totals %d of %d", s.Received, s.Sent)
	}
	table := SyncTable(s)
	for _, want := range []string{"| 64B/10k+new/32 | 8765 [8437–9093] (10000) |", "0.300", "0.94×", "39000 of 40000 (97.5 %)"} {
		if !strings.Contains(table, want) {
			t.Errorf("sync table lacks %q:\n%s", want, table)
		}
	}
	inst := SyncInstallTable(s)
	for _, want := range []string{"| 200000 entries/s | 1000 | 200000 [200000–200000] | 50 | 0 | 50 | 0 | 2000 | 2000 |", "| unpaced | 1000 | 1000000 [1000000–1000000] | 50 | 0 | 40 | 10 | 1600 | 1600 |",
		"| 100000 [100000–100000] | 0.50× [0.50–0.50] |", "round 2, offered unpaced: daemon fell over"} {
		if !strings.Contains(inst, want) {
			t.Errorf("install table lacks %q:\n%s", want, inst)
		}
	}
	sum := strings.Join(SyncSummary(s), "\n")
	for _, want := range []string{"÷ without 0.94×", "8765 new connections/s", "97.5 %", "installed 100000 entries/s offered at 200000 entries/s (2000 of 2000 installed)",
		"offered unpaced (1000000 entries/s written) (1600 of 2000 installed)"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	tc := syncTarget(res)
	if tc.Status != NotMet || !strings.Contains(tc.Measured, "0.94×") || !strings.Contains(tc.Target, "95 %") {
		t.Errorf("target %+v", tc)
	}
	res.Trials[2].Delivered = 300_000
	res.Rows = Aggregate(res.Trials)
	res.Sync = ConnSync(res)
	if tc := syncTarget(res); tc.Status != Met {
		t.Errorf("target at 0.97 and 1.00: %+v", tc)
	}
	res.Targets = EvaluateTargets(res)
	var b strings.Builder
	if err := Markdown(&b, res); err != nil {
		t.Fatal(err)
	}
	if md := b.String(); !strings.Contains(md, "## Connection sync") || !strings.Contains(md, "| a sync master at 9234 new connections/s") {
		t.Errorf("report lacks the sync section or target")
	}
}

func TestParseSNMP(t *testing.T) {
	text := "Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 6357 54 7 6455 189 0\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 0 0\n"
	if n, err := parseSNMP(text, "Udp", "RcvbufErrors"); err != nil || n != 189 {
		t.Errorf("RcvbufErrors = %d, %v", n, err)
	}
	if _, err := parseSNMP(text, "Udp", "Nope"); err == nil {
		t.Error("missing field read")
	}
}

func TestConnSyncAbsent(t *testing.T) {
	res := &Results{Trials: []TrialResult{{Trial: Trial{Load: syncLoad, Scenario: ScXVSNAT}, Sent: 1, Delivered: 1, Elapsed: time.Second}}}
	res.Rows = Aggregate(res.Trials)
	if s := ConnSync(res); s != nil {
		t.Errorf("sync row without xvs-nat-sync or offers: %+v", s)
	}
	if tc := syncTarget(res); tc.Status != NA {
		t.Errorf("target without data: %+v", tc)
	}
	if !strings.Contains(SyncTable(nil), "Not measured") || !strings.Contains(SyncInstallTable(nil), "Not measured") {
		t.Error("nil tables")
	}
}

// The sync pairs run only when asked and neither of their scenarios is
// skipped, and the progress count follows.
func TestRunsSync(t *testing.T) {
	r := &runner{opts: DefaultOptions(true)}
	n := r.countTrials()
	if !r.runsSync() {
		t.Fatal("the smoke run leaves the sync rows out")
	}
	for _, off := range []func(o *Options){
		func(o *Options) { o.Sync = false },
		func(o *Options) { o.Skip = map[string]bool{ScXVSNATSync: true} },
		func(o *Options) { o.Skip = map[string]bool{ScXVSNAT: true} },
	} {
		r := &runner{opts: DefaultOptions(true)}
		off(&r.opts)
		if r.runsSync() {
			t.Errorf("sync rows run with %+v %v", r.opts.Sync, r.opts.Skip)
		}
		if r.opts.Skip[ScXVSNAT] {
			continue // xvs-nat's own trials leave too
		}
		if m := r.countTrials(); m != n-3 {
			t.Errorf("countTrials %d without the sync pair and its paced twin, %d with", m, n)
		}
	}
}

// TestConnSyncPaced: with paced twins the sync row is judged at the sync
// trial's offered load: delivered and the workers' capacity on ÷ paced.
func TestConnSyncPaced(t *testing.T) {
	res := syncResults()
	// The sync trials (indexes 1 and 2) delivered 291 k and 270 k of
	// 320 k sent; their twins at 320 k delivered 300 k each. Workers: 2000
	// ns per frame on, 1960 paced.
	for _, i := range []int{1, 2} {
		on := &res.Trials[i]
		on.WorkerCPU = time.Duration(2000 * on.Delivered)
		twin, ok := pacedTwin(on.Trial, *on)
		if !ok || twin.Rate != 320_000 || twin.Load != syncLoad || twin.Scenario != ScXVSNATPaced {
			t.Fatalf("twin of %v: %+v %v", on.Trial, twin, ok)
		}
		res.Trials = append(res.Trials, TrialResult{Trial: twin, Sent: 320_000, Delivered: 300_000, Elapsed: time.Second,
			WorkerCPU: time.Duration(1960 * 300_000)})
	}
	res.Rows = Aggregate(res.Trials)
	res.Sync = ConnSync(res)
	if s := res.Sync.Paced; s.Offered.Median != 320_000 || s.Paced.Median != 300_000 || math.Abs(s.PerRound.Min-0.9) > 1e-9 ||
		math.Abs(s.Capacity.Median-0.98) > 1e-9 || s.WorkerVariant.Median != 2000 || s.WorkerPaced.Median != 1960 {
		t.Errorf("paced: %+v", s)
	}
	tc := syncTarget(res)
	if tc.Status != NotMet || !strings.Contains(tc.Target, "at the sync trial's offered load") ||
		!strings.HasPrefix(tc.Measured, "delivered 0.94× [0.90–0.97] same-round") || !strings.Contains(tc.Measured, "capacity 0.98× [0.98–0.98]") {
		t.Errorf("target %+v", tc)
	}
	res.Trials[1].Delivered, res.Trials[2].Delivered = 300_000, 299_000
	res.Rows = Aggregate(res.Trials)
	res.Sync = ConnSync(res)
	if tc := syncTarget(res); tc.Status != Met {
		t.Errorf("target with everything delivered: %+v", tc)
	}
	if tab := SyncPacedTable(res.Sync); !strings.Contains(tab, "| 64B/10k+new/32 | 0.320 [0.320–0.320] | 0.300 [0.300–0.300] |") {
		t.Errorf("paced table:\n%s", tab)
	}
	if SyncPacedTable(syncResults().Sync) != "" {
		t.Error("a paced table without twins")
	}
}
