package admin

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// MHBackend is a Backend that also describes its Maglev tables (-L --mh);
// *control.Client is one.
type MHBackend interface {
	MaglevTables() ([]control.MHTable, error)
}

// ListMH prints xvsadm -L --mh: per mh service, in the daemon's
// configuration order, its table size, flags and digest, then each real
// server (in the table's order: address, then port) with its weight and the
// slots it owns. Directors behind one ECMP router that print the same digest
// for a service pick the same real server for every new flow of it. With no
// mh service only the header is printed.
func ListMH(w io.Writer, tables []control.MHTable, f Format, r Resolver) error {
	names := namer{numeric: f.Numeric, r: orWellKnown(r)}
	bw := bufio.NewWriter(w)
	// Both lines' second column starts at 34, as the real servers' does.
	fmt.Fprintf(bw, "%-33s %-8s %-12s %s\n", "Prot LocalAddress:Port", "Size", "Flags", "Digest")
	fmt.Fprintf(bw, "  -> %-28s %-8s %s\n", "RemoteAddress:Port", "Weight", "Slots")
	for _, t := range tables {
		k := t.Service
		name := "FWM  " + k.Group
		if k.Group == "" {
			name = fmt.Sprintf("%-4s %s", k.Proto, names.addrPort(k.Addr, k.Port, k.Proto))
		}
		flags := "-"
		if len(t.Flags) > 0 {
			flags = strings.Join(t.Flags, ",")
		}
		fmt.Fprintf(bw, "%-33s %-8d %-12s %s\n", name, t.Size, flags, t.Digest)
		proto := k.Proto
		if k.Group != "" {
			proto = service.TCP
		}
		for _, s := range t.Reals {
			fmt.Fprintf(bw, "  -> %-28s %-8d %d\n", names.addrPort(s.Key.Addr, s.Key.Port, proto), s.Weight, s.Slots)
		}
	}
	return bw.Flush()
}
