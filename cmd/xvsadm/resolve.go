package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/xvs-project/xvs/admin"
)

// lookupTimeout bounds one DNS lookup: listings without -n must not hang on
// a resolver that does not answer.
const lookupTimeout = 700 * time.Millisecond

// resolver gives admin the system's names: services from /etc/services
// (or admin's built-in table when it cannot be read) and hosts from DNS and
// /etc/hosts through Go's resolver. After one lookup times out it stops
// asking, so a listing of many servers on a host without DNS prints numbers
// at once instead of waiting for each.
type resolver struct {
	*admin.ServiceTable
	names  map[netip.Addr]string
	noDNS  bool
	lookup *net.Resolver
}

func newResolver() *resolver {
	st := admin.WellKnown()
	if f, err := os.Open("/etc/services"); err == nil {
		if t, err := admin.ParseServices(f); err == nil {
			st = t
		}
		f.Close()
	}
	return &resolver{ServiceTable: st, names: map[netip.Addr]string{}, lookup: net.DefaultResolver}
}

// HostName implements admin.Resolver.
func (r *resolver) HostName(a netip.Addr) (string, bool) {
	if n, ok := r.names[a]; ok {
		return n, n != ""
	}
	if r.noDNS {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	names, err := r.lookup.LookupAddr(ctx, a.String())
	if err != nil || len(names) == 0 {
		if ctx.Err() != nil {
			r.noDNS = true
		}
		r.names[a] = ""
		return "", false
	}
	n := strings.TrimSuffix(names[0], ".")
	r.names[a] = n
	return n, true
}

// LookupHost implements admin.Resolver.
func (r *resolver) LookupHost(name string, ipv6 bool) (netip.Addr, bool) {
	network := "ip4"
	if ipv6 {
		network = "ip6"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*lookupTimeout)
	defer cancel()
	addrs, err := r.lookup.LookupNetIP(ctx, network, name)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, false
	}
	a := addrs[0]
	if !ipv6 {
		a = a.Unmap()
	}
	return a, true
}

var _ admin.Resolver = (*resolver)(nil)
