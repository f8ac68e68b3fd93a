package testnet

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// capSysAdmin is CAP_SYS_ADMIN's bit: setns and mounting /run/netns need it.
const capSysAdmin = 21

// Unavailable returns why this process cannot build labs, or "" if it can:
// it must run as root with CAP_SYS_ADMIN and find iproute2's ip and bridge.
func Unavailable() string { return unavailable("ip", "bridge") }

// unavailable is Unavailable for a caller that needs the iproute2 commands
// bins: NewNetNS needs only ip, a lab also bridge.
func unavailable(bins ...string) string {
	if os.Geteuid() != 0 {
		return "needs root to create network namespaces"
	}
	if !hasCap(capSysAdmin) {
		return "needs CAP_SYS_ADMIN to create network namespaces"
	}
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			return "iproute2's " + bin + " is not installed (internal/testnet/deps.sh installs it)"
		}
	}
	return ""
}

// hasCap reads the effective capability set from /proc/self/status.
func hasCap(bit uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<bit) != 0
		}
	}
	return false
}

// NewT builds a lab for a test and closes it in t.Cleanup, also when the
// test fails. It skips the test, saying why, when the machine cannot build
// labs (see Unavailable), and fails it when building fails.
func NewT(t testing.TB, opts Options) *Lab {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		t.Skip("testnet: " + reason)
	}
	l, err := New(opts)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("testnet: %v", err)
		}
	})
	return l
}
