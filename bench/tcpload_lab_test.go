package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// labBinaries returns bin/xvs and bin/xvsadm of the module (`make build`
// makes them; CI's unit run comes after it), building them into a
// temporary directory when they are missing.
func labBinaries(t *testing.T) (xvs, adm string) {
	t.Helper()
	xvs, adm = filepath.Join("..", "bin", "xvs"), filepath.Join("..", "bin", "xvsadm")
	if _, err := os.Stat(xvs); err == nil {
		if _, err := os.Stat(adm); err == nil {
			return xvs, adm
		}
	}
	dir := t.TempDir()
	for _, c := range [][2]string{{"xvs", "./cmd/xvs"}, {"xvsadm", "./cmd/xvsadm"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c[0]), c[1])
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v: %s", c[1], err, out)
		}
	}
	return filepath.Join(dir, "xvs"), filepath.Join(dir, "xvsadm")
}

// TestTCPLoadPhase runs one short round of the TCP-load phase in both of
// its labs (the kernel baselines steered by RPS) and checks every figure
// is there and sane: requests answered and none failed, data moved, a
// ratio per row; and that the labs are gone after.
//
//	NAT: client ─ director ─ bridge ─ r1 r2 (nginx; iperf3 -s on r1)
//	DR:  client, director, r1, r2 on one bridge (VIP on the reals' lo)
func TestTCPLoadPhase(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds namespaces, runs nginx, ab, iperf3 and bin/xvs")
	}
	if err := installTCPTools(".."); err != nil {
		t.Fatal(err)
	}
	xvs, adm := labBinaries(t)
	o := DefaultOptions(true)
	o.XVS, o.XVSAdm, o.XVSMode, o.Reals = xvs, adm, "require", 2
	// The smoke run (CI) takes the default path; this one steers the
	// kernel baselines with RPS, so both are exercised.
	o.TCPLoadRPS = true
	o.Progress = testWriter{t}
	r := &runner{opts: o, tmp: t.TempDir(), start: time.Now(), res: &Results{}}
	r.tcpLoadPhase(context.Background())
	if r.fatal != nil {
		t.Fatal(r.fatal)
	}
	if n := len(r.res.TCPTrials); n != 8 {
		t.Fatalf("%d trials, want 8 (2 labs × 2 loads × 2 scenarios)", n)
	}
	for _, tr := range r.res.TCPTrials {
		switch {
		case tr.Err != "":
			t.Errorf("%s %s %s: %s", tr.Lab, tr.Scenario, tr.Load, tr.Err)
		case tr.Load == LoadHTTP && (tr.HTTP == nil || tr.HTTP.Complete == 0 || tr.HTTP.Failed != 0 || tr.HTTP.Non2xx != 0 || !(tr.HTTP.RPS > 0)):
			t.Errorf("%s %s http: %+v", tr.Lab, tr.Scenario, tr.HTTP)
		case tr.Load == LoadBulk && (tr.Bulk == nil || tr.Bulk.Bytes == 0 || !(tr.Bulk.Gbps() > 0)):
			t.Errorf("%s %s bulk: %+v", tr.Lab, tr.Scenario, tr.Bulk)
		case isXVS(tr.Scenario) && tr.DaemonCPU <= 0:
			t.Errorf("%s %s %s: no daemon CPU", tr.Lab, tr.Scenario, tr.Load)
		}
	}
	if !r.res.Options.TCPLoadRPS && r.dirCPU() >= 0 {
		t.Error("RPS asked for but not recorded")
	}
	if r.res.TCPLoad == nil || len(r.res.TCPLoad.Rows) != 4 {
		t.Fatalf("rows: %+v", r.res.TCPLoad)
	}
	for _, row := range r.res.TCPLoad.Rows {
		if !(row.Ratio() > 0) {
			t.Errorf("%s %s: ratio %v", row.Lab, row.Load, row.Ratio())
		}
	}
	t.Logf("\n%s", TCPLoadTable(r.res.TCPLoad))
	// testnet's lab IDs start with "xvs" and this process's pid in base 36.
	mine := "xvs" + strconv.FormatInt(int64(os.Getpid()), 36)
	ents, _ := os.ReadDir(netnsDir)
	var left []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), mine) {
			left = append(left, e.Name())
		}
	}
	if len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
}

// testWriter sends the phase's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
