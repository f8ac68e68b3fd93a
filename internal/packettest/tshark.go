package packettest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Tshark writes frames to a pcap file and returns what tshark prints for
// it with args (after -n -r FILE), standard output only: tshark's warning
// about running as root goes to standard error. tshark is the independent
// decoder the wire tests check xvs's bytes with; when it is missing it is
// installed with scripts/deps.sh (as root; otherwise the test is skipped,
// saying why).
func Tshark(t testing.TB, frames [][]byte, args ...string) string {
	t.Helper()
	bin := needTshark(t)
	path := filepath.Join(t.TempDir(), "frames.pcap")
	if err := os.WriteFile(path, PcapFile(frames...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append([]string{"-n", "-r", path}, args...)...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	return string(out)
}

func needTshark(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("tshark"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("tshark is not installed and installing it needs root (scripts/deps.sh)")
	}
	_, here, _, _ := runtime.Caller(0)
	deps := filepath.Join(filepath.Dir(here), "..", "..", "scripts", "deps.sh")
	if out, err := exec.Command("bash", deps).CombinedOutput(); err != nil {
		t.Fatalf("scripts/deps.sh: %v\n%s", err, out)
	}
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatal("scripts/deps.sh ran but tshark is still missing")
	}
	return p
}
