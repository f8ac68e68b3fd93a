package bench

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

// Latency is measured with a request/response probe: a UDP echo server on
// the real servers (one socket per real-server address, and one on the VIP
// where the real servers hold it, so replies leave from the address the
// request came to) and a client in the generator namespace that sends one
// request at a time through the director and times the answer.

// EchoConfig is the echo child's setup.
type EchoConfig struct {
	Listen []netip.AddrPort
}

// RunEcho answers every datagram on cfg.Listen with itself until SIGTERM.
func RunEcho(cfg EchoConfig, out io.Writer) error {
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, ap := range cfg.Listen {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if _, err := fmt.Fprintln(out, genReady); err != nil {
		return err
	}
	<-sig
	return nil
}

// ProbeConfig is the probe child's setup.
type ProbeConfig struct {
	Target   netip.AddrPort
	Count    int
	Interval time.Duration
	Timeout  time.Duration
}

// ProbeResult holds the round-trip times of the answered probes, sorted,
// and the number lost (no answer within the timeout).
type ProbeResult struct {
	RTTs []time.Duration
	Lost int
}

// errProbe says a probe run was not usable.
var errProbe = errors.New("probe failed")

// RunProbe prints "ready", waits for a line on stdin, sends cfg.Count
// requests one at a time and prints a ProbeResult.
func RunProbe(cfg ProbeConfig, out io.Writer) error {
	if cfg.Count <= 0 || cfg.Count > 1_000_000 {
		return fmt.Errorf("%w: count %d", errProbe, cfg.Count)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 50 * time.Millisecond
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(cfg.Target))
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer c.Close()
	if _, err := fmt.Fprintln(out, genReady); err != nil {
		return err
	}
	var line [1]byte
	if _, err := os.Stdin.Read(line[:]); err != nil {
		return fmt.Errorf("probe: waiting for go: %w", err)
	}
	res := ProbeResult{RTTs: make([]time.Duration, 0, cfg.Count)}
	req := make([]byte, 64)
	resp := make([]byte, 2048)
	for i := range cfg.Count {
		binary.BigEndian.PutUint64(req, uint64(i))
		start := time.Now()
		if _, err := c.Write(req); err != nil {
			res.Lost++
			continue
		}
		deadline := start.Add(cfg.Timeout)
		for {
			_ = c.SetReadDeadline(deadline)
			n, err := c.Read(resp)
			if err != nil {
				res.Lost++
				break
			}
			if n >= 8 && binary.BigEndian.Uint64(resp) == uint64(i) {
				res.RTTs = append(res.RTTs, time.Since(start))
				break
			}
			// A late answer to an earlier probe: keep waiting for ours.
		}
		if cfg.Interval > 0 {
			time.Sleep(cfg.Interval)
		}
	}
	slices.Sort(res.RTTs)
	return json.NewEncoder(out).Encode(res)
}
