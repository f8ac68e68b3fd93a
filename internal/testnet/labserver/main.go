// Command labserver is the real server and the client of xvs's namespace
// labs (package testnet): real programs speaking real TCP and UDP, with
// answers that say which real server replied.
//
//	labserver serve -name r1 -http :80,:8080 -udp :53
//	labserver get   -url http://198.18.0.10/ -n 300 -parallel 4 -timeout 5s
//	labserver blob  -url http://198.18.0.10/blob?size=2097152
//	labserver blobs -url http://198.18.0.10/blob?size=10485760 -n 50 -rate 1048576
//	labserver udp   -addr 198.18.0.10:53 -n 300 [-new-socket-each] [-interval 10ms]
//
// serve answers GET / with its name (body "r1\n", header X-Real: r1),
// GET /blob?size=N with testnet's deterministic blob of N bytes, GET
// /sleep?d=DURATION with its name after that long, and every UDP datagram
// with its name, a space and the payload, sent from the address the datagram
// was sent to (so a VIP held on lo answers as the VIP). It prints one JSON
// line containing "ready":true once it listens, and runs until SIGINT or
// SIGTERM.
//
// The clients print one JSON line on stdout: testnet.Summary for get and udp
// (answers per server name, failures, latency p50/p99), testnet.BlobResult
// for blob, a JSON array of them for blobs (n downloads at once, each read
// at most -rate bytes a second, its longest wait for data noted). get opens a new TCP connection per request and never uses a
// proxy. They exit 0 whatever the answers were; non-zero means they could
// not run (bad flags).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

const usage = `usage: labserver serve|get|blob|blobs|udp [flags]  (labserver CMD -h for flags)`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serveMain(os.Args[2:])
	case "get":
		err = getMain(os.Args[2:])
	case "blob":
		err = blobMain(os.Args[2:])
	case "blobs":
		err = blobsMain(os.Args[2:])
	case "udp":
		err = udpMain(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labserver:", err)
		os.Exit(2)
	}
}

// printJSON writes v as one JSON line.
func printJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
