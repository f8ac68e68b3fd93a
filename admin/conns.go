package admin

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// ListConns writes connection entries as ipvsadm -L -c does:
//
//	IPVS connection entries
//	pro expire state       source             virtual            destination
//	TCP 14:59  ESTABLISHED 198.19.0.7:40312   198.18.0.1:http    198.18.1.2:http
//
// expire is minutes:seconds left. A persistence template shows as state NONE.
// With PersistentConn the title has ipvsadm's "pe name" and "pe_data"
// columns, which stay empty (xvs has no persistence engines).
func ListConns(w io.Writer, conns []control.Conn, f Format, r Resolver) error {
	bw := bufio.NewWriter(w)
	n := namer{numeric: f.Numeric, r: orWellKnown(r)}
	bw.WriteString("IPVS connection entries\n")
	if f.PersistentConn {
		fmt.Fprintf(bw, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n", "state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(bw, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for i := range conns {
		c := &conns[i]
		state := c.State
		if state == "" && c.Template {
			state = "NONE"
		}
		secs := max(int64(c.Expires/time.Second), 0)
		expire := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		virtual := c.Group
		switch {
		case c.Virtual.IsValid():
			virtual = connAddr(n, c.Virtual, c.Proto)
		case virtual == "":
			virtual = "?" // a template whose service is gone
		}
		dest := "" // a real server deleted since
		if c.Real.IsValid() {
			dest = connAddr(n, c.Real, c.Proto)
		}
		fmt.Fprintf(bw, "%-3s %-6s %-11s %-18s %-18s %s\n", c.Proto, expire, state,
			connAddr(n, c.Client, c.Proto), virtual, dest)
	}
	return bw.Flush()
}

// connAddr prints an address and port of a connection entry with the
// listing's naming.
func connAddr(n namer, ap netip.AddrPort, proto service.Proto) string {
	return n.addrPort(ap.Addr().Unmap(), ap.Port(), proto)
}
