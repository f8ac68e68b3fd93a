package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"
)

// childCheckd is the checked servers' HTTP server.
const childCheckd = "__checkd"

// CheckdConfig is the checked servers' HTTP server: Ports ports from
// checkPortBase on Addr.
type CheckdConfig struct {
	Addr  netip.Addr
	Ports int
}

// CheckdReport is the HTTP server's answer to any request line: the
// requests it has answered so far.
type CheckdReport struct {
	Requests uint64
}

// RunCheckd serves "200 OK" on every port until stdin closes (or SIGTERM),
// answering each line read from in with a CheckdReport.
func RunCheckd(cfg CheckdConfig, in io.Reader, out io.Writer) error {
	if cfg.Ports < 1 || cfg.Ports > maxCheckedReals {
		return fmt.Errorf("checkd: %d ports not in 1..%d", cfg.Ports, maxCheckedReals)
	}
	var served atomic.Uint64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			served.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	defer srv.Close()
	for i := range cfg.Ports {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(cfg.Addr, uint16(checkPortBase+i)).String())
		if err != nil {
			return fmt.Errorf("checkd: %w", err)
		}
		go func() { _ = srv.Serve(ln) }()
	}
	if _, err := fmt.Fprintln(out, genReady); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		if err := enc.Encode(CheckdReport{Requests: served.Load()}); err != nil {
			return err
		}
	}
	return sc.Err()
}
