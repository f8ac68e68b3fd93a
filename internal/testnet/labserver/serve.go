package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

func serveMain(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	name := fs.String("name", "", "name this server answers with (required)")
	httpAddrs := fs.String("http", ":80", "comma-separated HTTP listen addresses (empty: none)")
	udpAddrs := fs.String("udp", ":53", "comma-separated UDP listen addresses (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("serve: -name is required")
	}
	s, err := listen(*name, splitList(*httpAddrs), splitList(*udpAddrs))
	if err != nil {
		return err
	}
	s.start()
	ready := struct {
		Ready bool     `json:"ready"`
		Name  string   `json:"name"`
		HTTP  []string `json:"http"`
		UDP   []string `json:"udp"`
	}{true, *name, s.httpAddrs(), s.udpAddrs()}
	if err := printJSON(os.Stdout, ready); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.close()
	return nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// server is one running `labserver serve`.
type server struct {
	name string
	http *http.Server
	lns  []net.Listener
	udps []*net.UDPConn
	wg   sync.WaitGroup
	log  *log.Logger
}

// listen binds every listener; nothing is served until start.
func listen(name string, httpAddrs, udpAddrs []string) (s *server, err error) {
	s = &server{name: name, log: log.New(os.Stderr, "labserver "+name+": ", log.Lmicroseconds)}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	for _, a := range httpAddrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return nil, fmt.Errorf("listen http %s: %w", a, err)
		}
		s.lns = append(s.lns, ln)
	}
	for _, a := range udpAddrs {
		cs, err := listenUDP(a)
		if err != nil {
			return nil, fmt.Errorf("listen udp %s: %w", a, err)
		}
		s.udps = append(s.udps, cs...)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleRoot)
	mux.HandleFunc("GET /blob", s.handleBlob)
	mux.HandleFunc("GET /sleep", s.handleSleep)
	mux.HandleFunc("GET /status/{code}", s.handleStatus)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: s.log}
	return s, nil
}

func (s *server) start() {
	for _, ln := range s.lns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Printf("http %s: %v", ln.Addr(), err)
			}
		}()
	}
	for _, c := range s.udps {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serveUDP(c) }()
	}
}

func (s *server) close() {
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	}
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	for _, c := range s.udps {
		_ = c.Close()
	}
	s.wg.Wait()
}

func (s *server) httpAddrs() []string {
	var a []string
	for _, ln := range s.lns {
		a = append(a, ln.Addr().String())
	}
	return a
}

func (s *server) udpAddrs() []string {
	var a []string
	for _, c := range s.udps {
		a = append(a, c.LocalAddr().String())
	}
	return a
}

func (s *server) answer(w http.ResponseWriter) {
	w.Header().Set("X-Real", s.name)
	w.Header().Set("Content-Type", "text/plain")
}

func (s *server) handleRoot(w http.ResponseWriter, _ *http.Request) {
	s.answer(w)
	_, _ = io.WriteString(w, s.name+"\n")
}

// handleStatus answers with the status code the path asks for (a health
// check's "HTTP status 503"), the server's name as the body.
func (s *server) handleStatus(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 200 || code > 599 {
		http.Error(w, "status must be 200..599", http.StatusBadRequest)
		return
	}
	s.answer(w)
	w.WriteHeader(code)
	_, _ = io.WriteString(w, s.name+"\n")
}

func (s *server) handleBlob(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || size < 0 || size > testnet.MaxBlob {
		http.Error(w, fmt.Sprintf("size must be 0..%d", testnet.MaxBlob), http.StatusBadRequest)
		return
	}
	s.answer(w)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	_, _ = io.Copy(w, testnet.NewBlobReader(size))
}

func (s *server) handleSleep(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil || d < 0 || d > time.Hour {
		http.Error(w, "d must be a duration up to 1h", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(d):
	case <-r.Context().Done():
		return
	}
	s.handleRoot(w, r)
}
