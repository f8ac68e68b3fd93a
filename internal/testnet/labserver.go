package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// labServerPkg is the import path `go build` is given.
const labServerPkg = "github.com/xvs-project/xvs/internal/testnet/labserver"

// ReadyMark is what `labserver serve` prints (in a JSON line) once every
// listener is bound.
const ReadyMark = `"ready":true`

// serveReadyWait bounds how long Serve waits for the ready line.
const serveReadyWait = 10 * time.Second

// Summary is what `labserver get` and `labserver udp` print: how many
// requests each real server answered.
type Summary struct {
	Requests int `json:"requests"`
	OK       int `json:"ok"`
	Failures int `json:"failures"`
	// PerServer counts answers by the server's name (X-Real, or the UDP
	// reply's first word).
	PerServer map[string]int `json:"per_server"`
	// P50 and P99 are latencies of the successful requests.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	// Errors holds the first few distinct failure messages.
	Errors []string `json:"errors,omitempty"`
	// FailedAt holds when each failed request started (the first 10000).
	FailedAt []time.Time `json:"failed_at,omitempty"`
}

// BlobResult is what `labserver blob` prints.
type BlobResult struct {
	URL    string `json:"url"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	Server string `json:"server"`
	// OK says the body is exactly the deterministic blob of the requested
	// size (BlobSHA256).
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// MaxGap is the longest a read of the body waited for data (a paced
	// reader's own sleeps excluded), and GapAt when that read began: a
	// flow's outage across a failover, less what its receive buffer held
	// (64 KiB for a paced download: 64 ms at 1 MB/s).
	MaxGap time.Duration `json:"max_gap_ns"`
	GapAt  time.Time     `json:"gap_at"`
}

// BlobsOptions configure Host.Blobs.
type BlobsOptions struct {
	// URL is a /blob address (http://VIP/blob?size=N).
	URL string
	// N downloads run at once, each on its own connection (0 means 1).
	N int
	// Rate caps the bytes per second each download reads (0: no limit):
	// a slow reader, so that long-lived transfers span seconds.
	Rate int64
	// Timeout bounds each download (0: labserver's 60 s).
	Timeout time.Duration
}

// ServeOptions configure `labserver serve`.
type ServeOptions struct {
	// Name is the server's name in answers; empty means the host's name.
	Name string
	// HTTP and UDP are listen addresses (":80", "198.18.1.1:8080"). Nil
	// means ":80" and ":53"; an empty non-nil slice means none.
	HTTP, UDP []string
}

// GetOptions configure `labserver get`.
type GetOptions struct {
	URL string
	// N requests (default 100), Parallel at a time (default 4), each with
	// Timeout (default 5 s) on a new TCP connection.
	N, Parallel int
	Timeout     time.Duration
	// Rate, if positive, caps how many requests start per second, so a
	// run spans a known time.
	Rate int
}

// UDPOptions configure `labserver udp`.
type UDPOptions struct {
	// Addr is the server's address, "198.18.0.10:53" or "[2001:db8::10]:53".
	Addr string
	// N datagrams (default 100), each waiting Timeout (default 1 s) for its
	// answer.
	N       int
	Timeout time.Duration
	// NewSocketEach sends every datagram from a new socket (a new source
	// port, so a new connection for a load balancer).
	NewSocketEach bool
	// Interval, if positive, spaces the sends at least that far apart
	// (start to start): a stream whose losses Summary.FailedAt dates.
	Interval time.Duration
}

// HTTPURL returns "http://ADDR:PORT/PATH" with IPv6 addresses bracketed.
func HTTPURL(addr netip.Addr, port uint16, path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "http://" + netip.AddrPortFrom(addr, port).String() + path
}

// Serve starts `labserver serve` in h's namespace and returns once it listens
// on every address. It runs until ctx ends, Proc.Stop or Close.
func (h *Host) Serve(ctx context.Context, o ServeOptions) (*Proc, error) {
	bin, err := h.lab.labServerPath()
	if err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = h.Name
	}
	if o.HTTP == nil {
		o.HTTP = []string{":80"}
	}
	if o.UDP == nil {
		o.UDP = []string{":53"}
	}
	p, err := h.Start(ctx, bin, "serve", "-name", o.Name,
		"-http", strings.Join(o.HTTP, ","), "-udp", strings.Join(o.UDP, ","))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, serveReadyWait)
	defer cancel()
	if err := p.WaitOutput(wctx, ReadyMark); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("%s: serve: %w", h.Name, err)
	}
	return p, nil
}

// HTTPGet runs `labserver get` in h's namespace. Failed requests are counted
// in the Summary; the error is for a client that could not run.
func (h *Host) HTTPGet(ctx context.Context, o GetOptions) (Summary, error) {
	args := []string{"get", "-url", o.URL}
	args = appendIntFlag(args, "-n", o.N)
	args = appendIntFlag(args, "-parallel", o.Parallel)
	args = appendIntFlag(args, "-rate", o.Rate)
	if o.Timeout > 0 {
		args = append(args, "-timeout", o.Timeout.String())
	}
	var s Summary
	err := h.runLabServer(ctx, args, &s)
	return s, err
}

// Blob runs `labserver blob` in h's namespace: it downloads url (a /blob
// address) and checks the content.
func (h *Host) Blob(ctx context.Context, url string) (BlobResult, error) {
	var r BlobResult
	err := h.runLabServer(ctx, []string{"blob", "-url", url}, &r)
	return r, err
}

// Blobs runs `labserver blobs` in h's namespace: o.N downloads of o.URL at
// once, each checked and timed; the results are in start order.
func (h *Host) Blobs(ctx context.Context, o BlobsOptions) ([]BlobResult, error) {
	args := []string{"blobs", "-url", o.URL}
	args = appendIntFlag(args, "-n", o.N)
	if o.Rate > 0 {
		args = append(args, "-rate", strconv.FormatInt(o.Rate, 10))
	}
	if o.Timeout > 0 {
		args = append(args, "-timeout", o.Timeout.String())
	}
	var rs []BlobResult
	err := h.runLabServer(ctx, args, &rs)
	return rs, err
}

// UDP runs `labserver udp` in h's namespace.
func (h *Host) UDP(ctx context.Context, o UDPOptions) (Summary, error) {
	args := []string{"udp", "-addr", o.Addr}
	args = appendIntFlag(args, "-n", o.N)
	if o.Timeout > 0 {
		args = append(args, "-timeout", o.Timeout.String())
	}
	if o.NewSocketEach {
		args = append(args, "-new-socket-each")
	}
	if o.Interval > 0 {
		args = append(args, "-interval", o.Interval.String())
	}
	var s Summary
	err := h.runLabServer(ctx, args, &s)
	return s, err
}

func appendIntFlag(args []string, flag string, v int) []string {
	if v > 0 {
		args = append(args, flag, strconv.Itoa(v))
	}
	return args
}

// runLabServer runs labserver with args in h's namespace and decodes the
// JSON it prints on stdout into v.
func (h *Host) runLabServer(ctx context.Context, args []string, v any) error {
	if err := h.lab.checkOpen(); err != nil {
		return err
	}
	bin, err := h.lab.labServerPath()
	if err != nil {
		return err
	}
	cmd := h.Command(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return &CmdError{NS: h.NS, Args: append([]string{"labserver"}, args...), Output: trimOutput(stderr.Bytes()), Err: err}
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("%s: labserver %s: decode %q: %w", h.NS, args[0], trimOutput(stdout.Bytes()), err)
	}
	return nil
}

// labServerPath returns the lab's labserver binary, building it on first use.
func (l *Lab) labServerPath() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.labServer == "" {
		p, err := LabServerPath()
		if err != nil {
			return "", err
		}
		l.labServer = p
	}
	return l.labServer, nil
}

// labServerBuildPrefix names the per-process build directories in the
// temporary directory; the creator's pid follows it.
const labServerBuildPrefix = "xvs-labserver-"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// LabServerPath builds labserver once per process (`go build`, CGO off, into
// $TMPDIR/xvs-labserver-PID/, which CleanupStale removes once the process is
// gone) and returns the binary's path. The go command must be on PATH and the
// module's source present (as it is for tests and `make demo`).
func LabServerPath() (string, error) {
	buildOnce.Do(func() { buildPath, buildErr = buildLabServer() })
	return buildPath, buildErr
}

func buildLabServer() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build labserver: %w", ErrNoGo)
	}
	dir := filepath.Join(os.TempDir(), labServerBuildPrefix+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build labserver: %w", err)
	}
	out := filepath.Join(dir, "labserver")
	cmd := exec.Command(goBin, "build", "-o", out, labServerPkg)
	// Build from this package's source directory when it exists, so any
	// working directory inside or outside the module will do.
	if _, file, _, ok := runtime.Caller(0); ok {
		if _, err := os.Stat(filepath.Dir(file)); err == nil {
			cmd.Dir = filepath.Dir(file)
		}
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &CmdError{Args: cmd.Args, Output: trimOutput(b), Err: err}
	}
	return out, nil
}

// cleanupStaleBuilds removes the labserver build directories of processes
// that are gone.
func cleanupStaleBuilds() error {
	ents, err := os.ReadDir(os.TempDir())
	if err != nil {
		return nil // nothing to clean
	}
	var errs []error
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), labServerBuildPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(s)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := procStartTime(pid); err == nil {
			continue // alive
		}
		if err := os.RemoveAll(filepath.Join(os.TempDir(), e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// BuildLabServer returns the labserver binary for a test, building it once
// per process. It skips the test if there is no go command and fails it if
// the build fails.
func BuildLabServer(t testing.TB) string {
	t.Helper()
	p, err := LabServerPath()
	if errors.Is(err, ErrNoGo) {
		t.Skip("testnet: labserver: " + err.Error())
	}
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	return p
}
