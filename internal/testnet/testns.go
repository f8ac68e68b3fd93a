package testnet

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// testNSHost is the host part of a NewNetNS namespace's name: ID + "-ns".
const testNSHost = "ns"

// NetNS is one fresh network namespace a test made with NewNetNS, for tests
// that wire a few namespaces of their own rather than a whole lab. It starts
// empty but for lo, which is up.
type NetNS struct {
	name string
}

// NewNetNS creates a network namespace for t and deletes it in t.Cleanup,
// also when the test fails, after killing any process still inside. Its name
// is a lab's (ID + "-ns", with a marker file), so it is unique and
// CleanupStale removes it if the test process dies before its cleanup runs;
// the first call of a process removes such leftovers of dead ones. It skips
// the test, saying why, when the machine cannot make namespaces.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	if reason := unavailable("ip"); reason != "" {
		t.Skip("testnet: " + reason)
	}
	if err := cleanupStaleOnce(); err != nil {
		t.Fatalf("testnet: clean up stale labs: %v", err)
	}
	id, err := newID()
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	if err := writeMarker(id, t.Name()); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	n := &NetNS{name: nsName(id, testNSHost)}
	t.Cleanup(func() {
		err := deleteNamespaces([]string{n.name})
		if err == nil {
			// Kept otherwise, so that a later CleanupStale retries.
			err = removeMarker(id)
		}
		if err != nil {
			t.Errorf("testnet: delete namespace %s: %v", n.name, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	if err := ipBatch(ctx, "", []string{"netns add " + n.name}); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	if err := ipBatch(ctx, n.name, []string{"link set lo up"}); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	return n
}

// Name returns the namespace's name under /run/netns, for `ip -n`, `ip netns
// exec` and peers of veth pairs (`... peer name X netns NAME`).
func (n *NetNS) Name() string { return n.name }

// String returns the namespace's name.
func (n *NetNS) String() string { return n.name }

// IP runs iproute2 commands inside the namespace, one `ip` batch for all
// lines (each as after `ip -n NAME`, e.g. "addr add 198.18.0.1/24 dev d0"),
// and fails t if one fails.
func (n *NetNS) IP(t testing.TB, lines ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	if err := ipBatch(ctx, n.name, lines); err != nil {
		t.Fatalf("testnet: %v", err)
	}
}

// Do runs fn on an OS thread inside the namespace and returns its error, as
// Host.Do does: fn runs on another goroutine, so it must not call t.FailNow;
// sockets it opens stay in the namespace.
func (n *NetNS) Do(fn func() error) error { return DoIn(n.name, fn) }

// In runs fn on the calling goroutine with its thread inside the namespace,
// so fn may call t.Fatal (see InNS).
func (n *NetNS) In(t testing.TB, fn func()) {
	t.Helper()
	InNS(t, n.name, fn)
}

// Command returns `ip netns exec NAME name args...`, which runs name inside
// the namespace; it gets SIGKILL when ctx ends.
func (n *NetNS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// InNS runs fn on the calling goroutine, its OS thread switched into the
// named namespace (under /run/netns) and locked there until fn returns, so a
// test's fn may call t.Fatal, and a helper process handed a namespace's name
// may use it. Sockets fn opens stay in the namespace for their lifetime and
// can be used from any goroutine afterwards. A thread that cannot return to
// its namespace stays locked and dies with the goroutine instead of running
// other goroutines in the wrong namespace.
func InNS(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("testnet: own namespace: %v", err)
	}
	target, err := unix.Open(filepath.Join(netnsDir, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(orig)
		runtime.UnlockOSThread()
		t.Fatalf("testnet: namespace %s: %v", ns, err)
	}
	defer func() {
		// Runs on t.Fatal inside fn too (runtime.Goexit runs defers).
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		unix.Close(orig)
		unix.Close(target)
	}()
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		t.Fatalf("testnet: enter namespace %s: %v", ns, err)
	}
	fn()
}
