package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// maxErrors bounds the distinct error messages a Summary keeps.
const maxErrors = 5

// tally collects the outcome of requests from several goroutines.
type tally struct {
	mu   sync.Mutex // guards everything below
	sum  testnet.Summary
	lats []time.Duration
}

func newTally() *tally {
	return &tally{sum: testnet.Summary{PerServer: map[string]int{}}}
}

func (t *tally) ok(server string, lat time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sum.Requests++
	t.sum.OK++
	t.sum.PerServer[server]++
	t.lats = append(t.lats, lat)
}

// maxFailedAt bounds the failure start times a Summary keeps.
const maxFailedAt = 10000

func (t *tally) fail(err error, start time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sum.Requests++
	t.sum.Failures++
	if len(t.sum.FailedAt) < maxFailedAt {
		t.sum.FailedAt = append(t.sum.FailedAt, start)
	}
	msg := err.Error()
	if len(t.sum.Errors) < maxErrors && !slices.Contains(t.sum.Errors, msg) {
		t.sum.Errors = append(t.sum.Errors, msg)
	}
}

// summary returns the totals with the latency percentiles filled in.
func (t *tally) summary() testnet.Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	slices.Sort(t.lats)
	t.sum.P50 = percentile(t.lats, 50)
	t.sum.P99 = percentile(t.lats, 99)
	return t.sum
}

// percentile returns the nearest-rank p-th percentile of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100 // ceil(len*p/100)
	return d[max(i, 1)-1]
}

// newHTTPClient opens a new connection per request and never uses a proxy.
func newHTTPClient(timeout time.Duration) *http.Client {
	return newHTTPClientBuf(timeout, 0)
}

// pacedRcvBuf is the receive buffer of a paced download's socket: small,
// so that what the kernel holds unread (64 ms at 1 MB/s) hides little of
// an outage from the reader's MaxGap.
const pacedRcvBuf = 64 << 10

// newHTTPClientBuf is newHTTPClient whose sockets' SO_RCVBUF is rcvbuf
// (0: the kernel's autotuning).
func newHTTPClientBuf(timeout time.Duration, rcvbuf int) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext:       d.DialContext,
		},
	}
}

func getMain(args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	u := fs.String("url", "", "URL to fetch (required)")
	n := fs.Int("n", 100, "number of requests")
	par := fs.Int("parallel", 4, "requests in flight")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of each request")
	rate := fs.Int("rate", 0, "requests started per second at most (0: as fast as they finish)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *u == "" || *n < 1 || *par < 1 || *rate < 0 {
		return errors.New("get: need -url, -n >= 1, -parallel >= 1, -rate >= 0")
	}
	return printJSON(os.Stdout, get(context.Background(), *u, *n, *par, *rate, *timeout))
}

// get makes n requests, par at a time, each on a new connection, starting
// at most rate per second (0: no limit).
func get(ctx context.Context, u string, n, par, rate int, timeout time.Duration) testnet.Summary {
	c := newHTTPClient(timeout)
	t := newTally()
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				start := time.Now()
				server, err := getOne(ctx, c, u)
				if err != nil {
					t.fail(err, start)
					continue
				}
				t.ok(server, time.Since(start))
			}
		}()
	}
	begin := time.Now()
	for i := range n {
		if rate > 0 {
			time.Sleep(time.Until(begin.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		}
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	return t.summary()
}

// getOne fetches u and returns the answering server's name.
func getOne(ctx context.Context, c *http.Client, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if s := resp.Header.Get("X-Real"); s != "" {
		return s, nil
	}
	return strings.TrimSpace(string(body)), nil
}

func blobMain(args []string) error {
	fs := flag.NewFlagSet("blob", flag.ContinueOnError)
	u := fs.String("url", "", "blob URL, http://HOST/blob?size=N (required)")
	timeout := fs.Duration("timeout", 60*time.Second, "timeout of the download")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *u == "" {
		return errors.New("blob: need -url")
	}
	return printJSON(os.Stdout, blob(context.Background(), *u, *timeout))
}

func blobsMain(args []string) error {
	fs := flag.NewFlagSet("blobs", flag.ContinueOnError)
	u := fs.String("url", "", "blob URL, http://HOST/blob?size=N (required)")
	n := fs.Int("n", 1, "downloads at once, each on its own connection")
	rate := fs.Int64("rate", 0, "bytes per second each download reads at most (0: as fast as they come)")
	timeout := fs.Duration("timeout", 60*time.Second, "timeout of each download")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *u == "" || *n < 1 || *rate < 0 {
		return errors.New("blobs: need -url, -n >= 1, -rate >= 0")
	}
	return printJSON(os.Stdout, blobs(context.Background(), *u, *n, *rate, *timeout))
}

// blobs runs n downloads of u at once, each read at rate, and returns
// their results in start order.
func blobs(ctx context.Context, u string, n int, rate int64, timeout time.Duration) []testnet.BlobResult {
	out := make([]testnet.BlobResult, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = blobAt(ctx, u, timeout, rate) }()
	}
	wg.Wait()
	return out
}

// blob downloads u and checks it against the deterministic blob of the size
// the URL asked for.
func blob(ctx context.Context, u string, timeout time.Duration) testnet.BlobResult {
	return blobAt(ctx, u, timeout, 0)
}

// blobAt is blob reading at most rate bytes a second (0: no limit), a
// slow reader whose window keeps the server's sends paced, so that one
// download spans seconds. It notes the longest wait for data (MaxGap):
// the time one read blocked, the reader's own pacing excluded; a paced
// download's small receive buffer (pacedRcvBuf) keeps that close to the
// network's outage.
func blobAt(ctx context.Context, u string, timeout time.Duration, rate int64) testnet.BlobResult {
	r := testnet.BlobResult{URL: u}
	pu, err := url.Parse(u)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	size, err := strconv.ParseInt(pu.Query().Get("size"), 10, 64)
	if err != nil {
		r.Error = "url has no size: " + err.Error()
		return r
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	rcvbuf := 0
	if rate > 0 {
		rcvbuf = pacedRcvBuf
	}
	resp, err := newHTTPClientBuf(timeout, rcvbuf).Do(req)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer resp.Body.Close()
	r.Server = resp.Header.Get("X-Real")
	h := sha256.New()
	r.Bytes, err = pacedCopy(h, resp.Body, rate, &r)
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	switch {
	case err != nil:
		r.Error = "read body: " + err.Error()
	case resp.StatusCode != http.StatusOK:
		r.Error = "status " + strconv.Itoa(resp.StatusCode)
	case r.Bytes != size:
		r.Error = fmt.Sprintf("got %d bytes, want %d", r.Bytes, size)
	case r.SHA256 != testnet.BlobSHA256(size):
		r.Error = "content differs from the deterministic blob"
	default:
		r.OK = true
	}
	return r
}

func udpMain(args []string) error {
	fs := flag.NewFlagSet("udp", flag.ContinueOnError)
	addr := fs.String("addr", "", "server HOST:PORT (required)")
	n := fs.Int("n", 100, "number of datagrams")
	timeout := fs.Duration("timeout", time.Second, "how long to wait for each answer")
	each := fs.Bool("new-socket-each", false, "send every datagram from a new socket (new source port)")
	interval := fs.Duration("interval", 0, "time from one datagram's send to the next's at least (0: at once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *n < 1 || *interval < 0 {
		return errors.New("udp: need -addr, -n >= 1 and -interval >= 0")
	}
	return printJSON(os.Stdout, udpPaced(*addr, *n, *timeout, *each, *interval))
}

// udpClient sends n datagrams one after the other and counts the answers by
// server name. Without each, all go from one connected socket.
func udpClient(addr string, n int, timeout time.Duration, each bool) testnet.Summary {
	return udpPaced(addr, n, timeout, each, 0)
}

// udpPaced is udpClient with the datagrams' sends at least interval apart
// (a stream of known rate, whose lost datagrams FailedAt dates).
func udpPaced(addr string, n int, timeout time.Duration, each bool, interval time.Duration) testnet.Summary {
	t := newTally()
	begin := time.Now()
	var conn net.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	buf := make([]byte, 64*1024)
	for i := range n {
		if interval > 0 {
			time.Sleep(time.Until(begin.Add(time.Duration(i) * interval)))
		}
		if conn == nil || each {
			if conn != nil {
				_ = conn.Close()
			}
			var err error
			if conn, err = net.DialTimeout("udp", addr, timeout); err != nil {
				t.fail(err, time.Now())
				conn = nil
				continue
			}
		}
		start := time.Now()
		server, err := udpOne(conn, buf, "seq "+strconv.Itoa(i), timeout)
		if err != nil {
			t.fail(err, start)
			continue
		}
		t.ok(server, time.Since(start))
	}
	return t.summary()
}

// udpOne sends payload and waits for the answer "NAME payload", skipping
// late answers to earlier datagrams.
func udpOne(c net.Conn, buf []byte, payload string, timeout time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(payload)); err != nil {
		return "", err
	}
	for {
		n, err := c.Read(buf)
		if err != nil {
			return "", err
		}
		name, rest, ok := strings.Cut(string(buf[:n]), " ")
		if ok && rest == payload {
			return name, nil
		}
	}
}

// pacedCopy copies body into w at most rate bytes a second (0: no limit)
// and records the longest read in r.MaxGap and when it began in r.GapAt.
func pacedCopy(w io.Writer, body io.Reader, rate int64, r *testnet.BlobResult) (int64, error) {
	buf := make([]byte, 32<<10)
	begin := time.Now()
	var total int64
	for {
		t0 := time.Now()
		n, err := body.Read(buf)
		if d := time.Since(t0); n > 0 && d > r.MaxGap {
			r.MaxGap, r.GapAt = d, t0
		}
		w.Write(buf[:n]) //nolint:errcheck // a hash never fails
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if rate > 0 {
			time.Sleep(time.Until(begin.Add(time.Duration(total) * time.Second / time.Duration(rate))))
		}
	}
}
