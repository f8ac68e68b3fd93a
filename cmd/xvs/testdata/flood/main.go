// Command flood opens many idle keep-alive connections to an HTTP port and
// holds them: the control-plane end-to-end test runs it as an unprivileged
// user against the daemon's metrics endpoint. It raises its own open-files
// soft limit to the hard limit first. It prints "opened N failed M" every
// second and when it has tried every connection, holds them until -hold has
// passed since its start, and exits, closing all.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "", "host:port to flood")
	n := flag.Int("n", 1000, "connections to open")
	hold := flag.Duration("hold", 10*time.Second, "how long to hold them")
	scrape := flag.Int("scrape", 10, "every scrape-th connection sends one request first (keep-alive), the rest nothing")
	flag.Parse()

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintln(os.Stderr, "flood: setrlimit:", err)
		}
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	fmt.Printf("uid %d nofile %d/%d\n", os.Getuid(), lim.Cur, lim.Max)

	var (
		mu            sync.Mutex
		conns         []net.Conn
		opened, fails atomic.Int64
		next          atomic.Int64
		wg            sync.WaitGroup
	)
	deadline := time.Now().Add(*hold)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*n) || time.Now().After(deadline) {
					return
				}
				c, err := net.DialTimeout("tcp", *addr, 3*time.Second)
				if err != nil {
					fails.Add(1)
					continue
				}
				if *scrape > 0 && i%int64(*scrape) == 0 {
					c.SetDeadline(time.Now().Add(3 * time.Second))
					fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: flood\r\n\r\n")
					if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					c.SetDeadline(time.Time{})
				}
				opened.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Second):
				fmt.Printf("opened %d failed %d\n", opened.Load(), fails.Load())
			}
		}
	}()
	wg.Wait()
	close(done)
	fmt.Printf("opened %d failed %d\n", opened.Load(), fails.Load())
	time.Sleep(time.Until(deadline))
	for _, c := range conns {
		c.Close()
	}
}
