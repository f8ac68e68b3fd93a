package admin

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// IPVSVersion is the IPVS version the listings' header names: xvs follows
// the semantics of IPVS 1.2.1, the version every current kernel reports.
const IPVSVersion = "1.2.1"

// Table is what a listing shows: the configuration, and the engine's
// figures for it (matched to services and real servers by key; a missing
// figure shows as zero).
type Table struct {
	Config *service.Config
	Stats  control.Stats
}

// List writes the whole table as ipvsadm -L does, with the "IP Virtual
// Server version 1.2.1 (size=N)" header (N is the connection table's
// capacity), a title for the format, and every service with its real
// servers.
func List(w io.Writer, t *Table, f Format, r Resolver) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "IP Virtual Server version %s (size=%d)\n", IPVSVersion, t.Stats.Table.Capacity)
	writeTitle(bw, f)
	l := newLister(t, f, r)
	for _, s := range sortedServices(t.Config, f.NoSort) {
		l.service(bw, s)
	}
	return bw.Flush()
}

// ListService writes one service as ipvsadm -L -t/-u/-f does: the title and
// the service, without the version header. A missing service is
// service.ErrNoService.
func ListService(w io.Writer, t *Table, k service.Key, f Format, r Resolver) error {
	i := t.Config.Find(k)
	if i < 0 {
		return service.ErrNoService
	}
	bw := bufio.NewWriter(w)
	writeTitle(bw, f)
	newLister(t, f, r).service(bw, &t.Config.Services[i])
	return bw.Flush()
}

// ListTimeouts writes ipvsadm -L --timeout's line.
func ListTimeouts(w io.Writer, t control.Timeouts) error {
	_, err := fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n",
		int64(t.TCP/time.Second), int64(t.TCPFin/time.Second), int64(t.UDP/time.Second))
	return err
}

func writeTitle(w io.Writer, f Format) {
	const local, remote = "Prot LocalAddress:Port", "  -> RemoteAddress:Port"
	switch {
	case f.Stats:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n%s\n", local, "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes", remote)
	case f.Rate:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n%s\n", local, "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS", remote)
	case f.Thresholds:
		fmt.Fprintf(w, "%-33s %-10s %-10s %-10s %-10s\n%s\n", local, "Uthreshold", "Lthreshold", "ActiveConn", "InActConn", remote)
	case f.PersistentConn:
		fmt.Fprintf(w, "%-33s %-9s %-11s %-10s %-10s\n%s\n", local, "Weight", "PersistConn", "ActiveConn", "InActConn", remote)
	case f.TunInfo:
		fmt.Fprintf(w, "%s Scheduler Flags\n%s           Forward TunnelInfo    Weight ActiveConn InActConn\n", local, remote)
	default:
		fmt.Fprintf(w, "%s Scheduler Flags\n%s           Forward Weight ActiveConn InActConn\n", local, remote)
	}
}

// lister writes service entries in one format.
type lister struct {
	f     Format
	names namer
	stats map[service.Key]*control.ServiceStats
}

func newLister(t *Table, f Format, r Resolver) *lister {
	l := &lister{f: f, names: namer{numeric: f.Numeric, r: orWellKnown(r)}, stats: map[service.Key]*control.ServiceStats{}}
	for i := range t.Stats.Services {
		l.stats[t.Stats.Services[i].Key] = &t.Stats.Services[i]
	}
	return l
}

func (l *lister) service(w io.Writer, s *service.Service) {
	f := l.f
	st := l.stats[s.Key()]
	if st == nil {
		st = &control.ServiceStats{}
	}
	name := l.serviceName(s)
	switch {
	case f.Stats:
		fmt.Fprintf(w, "%-33s", name)
		counters(w, st.Counters, f.Exact)
	case f.Rate:
		fmt.Fprintf(w, "%-33s", name)
		for _, v := range []uint64{st.Rates.CPS, st.Rates.InPPS, st.Rates.OutPPS, st.Rates.InBPS, st.Rates.OutBPS} {
			largeNum(w, v, f.Exact)
		}
	default:
		fmt.Fprintf(w, "%s %s", name, s.Scheduler)
		if len(s.SchedFlags) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(canonicalFlags(s.SchedFlags), ","))
		}
		if p := s.Persistence; p != nil {
			fmt.Fprintf(w, " persistent %d", int64(p.Timeout/time.Second))
			if m := maskText(s, p); m != "" {
				fmt.Fprintf(w, " mask %s", m)
			}
		}
		if s.OnePacket {
			io.WriteString(w, " ops")
		}
	}
	io.WriteString(w, "\n")

	reals := make(map[service.RealKey]*control.RealStats, len(st.Reals))
	for i := range st.Reals {
		reals[st.Reals[i].Key] = &st.Reals[i]
	}
	for _, r := range sortedReals(s, f.NoSort) {
		rs := reals[r.Key()]
		if rs == nil {
			rs = &control.RealStats{}
		}
		dname := l.names.addrPort(r.Addr, r.Port, s.Proto)
		if r.Addr.Is4() && len(dname) > 28 {
			dname = dname[:28]
		}
		active, inact, persist := clamp(rs.ActiveConns), clamp(rs.InactConns), clamp(rs.PersistConns)
		switch {
		case f.Stats:
			fmt.Fprintf(w, "  -> %-28s", dname)
			counters(w, rs.Counters, f.Exact)
			io.WriteString(w, "\n")
		case f.Rate:
			fmt.Fprintf(w, "  -> %-28s %8d %8d %8d", dname, rs.Rates.CPS, rs.Rates.InPPS, rs.Rates.OutPPS)
			largeNum(w, rs.Rates.InBPS, f.Exact)
			largeNum(w, rs.Rates.OutBPS, f.Exact)
			io.WriteString(w, "\n")
		case f.Thresholds:
			fmt.Fprintf(w, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname, r.UpperThreshold, r.LowerThreshold, active, inact)
		case f.PersistentConn:
			fmt.Fprintf(w, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname, r.Weight, persist, active, inact)
		case f.TunInfo:
			info := tunInfo(r)
			fmt.Fprintf(w, "  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dname, r.Method, info, r.Weight, active, inact)
		default:
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, r.Method, r.Weight, active, inact)
		}
	}
}

// serviceName is the first column of a service line: "TCP  198.18.0.1:80"
// (cut to 33 characters for IPv4, as ipvsadm does) or "FWM  web".
func (l *lister) serviceName(s *service.Service) string {
	if s.Group != "" {
		if s.Family() == 6 {
			return "FWM  " + s.Group + " IPv6"
		}
		return "FWM  " + s.Group
	}
	name := fmt.Sprintf("%-4s %s", s.Proto, l.names.addrPort(s.Addr, s.Port, s.Proto))
	if s.Addr.Is4() && len(name) > 33 {
		name = name[:33]
	}
	return name
}

// maskText is the persistence netmask as listings and rules show it, or ""
// for the default (a single address).
func maskText(s *service.Service, p *service.Persistence) string {
	bits := p.NetmaskBits
	if s.Family() == 6 {
		if bits == 0 || bits == 128 {
			return ""
		}
		return strconv.Itoa(bits)
	}
	if bits == 0 || bits == 32 {
		return ""
	}
	return formatMask4(bits)
}

func clamp(n int32) int32 { return max(n, 0) }

func counters(w io.Writer, c control.Counters, exact bool) {
	for _, v := range []uint64{c.Conns, c.InPkts, c.OutPkts, c.InBytes, c.OutBytes} {
		largeNum(w, v, exact)
	}
}

// largeNum writes a number in a 9-character column, scaled to K, M, G or T
// (truncating) once it no longer fits, unless exact.
func largeNum(w io.Writer, v uint64, exact bool) {
	if exact {
		s := strconv.FormatUint(v, 10)
		width := 9
		if len(s) > 8 {
			width = len(s) + 1
		}
		fmt.Fprintf(w, "%*s", width, s)
		return
	}
	switch {
	case v < 100_000_000:
		fmt.Fprintf(w, "%9d", v)
	case v < 1_000_000_000:
		fmt.Fprintf(w, "%8dK", v/1_000)
	case v < 100_000_000_000:
		fmt.Fprintf(w, "%8dM", v/1_000_000)
	case v < 100_000_000_000_000:
		fmt.Fprintf(w, "%8dG", v/1_000_000_000)
	default:
		fmt.Fprintf(w, "%8dT", v/1_000_000_000_000)
	}
}

// namer prints addresses and ports, as names unless numeric.
type namer struct {
	numeric bool
	r       Resolver
}

func (n namer) addrPort(a netip.Addr, port uint16, proto service.Proto) string {
	host, ps := a.String(), strconv.Itoa(int(port))
	if !n.numeric && n.r != nil {
		if h, ok := n.r.HostName(a); ok {
			host = h
		}
		if p, ok := n.r.PortName(proto, port); ok {
			ps = p
		}
	}
	if a.Is4() {
		return host + ":" + ps
	}
	return "[" + host + "]:" + ps
}

// sortedServices orders services as ipvsadm sorts them: address services
// before groups, then IPv4 before IPv6, TCP before UDP, by address and port;
// groups by name (numbers numerically). With noSort the configuration's
// order is kept.
func sortedServices(cfg *service.Config, noSort bool) []*service.Service {
	out := make([]*service.Service, len(cfg.Services))
	for i := range cfg.Services {
		out[i] = &cfg.Services[i]
	}
	if noSort {
		return out
	}
	slices.SortStableFunc(out, func(a, b *service.Service) int {
		if ag, bg := a.Group != "", b.Group != ""; ag != bg {
			if ag {
				return 1
			}
			return -1
		}
		if a.Group != "" {
			if c := compareGroups(a.Group, b.Group); c != 0 {
				return c
			}
			return cmp.Compare(a.Family(), b.Family())
		}
		return cmp.Or(
			cmp.Compare(a.Family(), b.Family()),
			cmp.Compare(a.Proto, b.Proto),
			a.Addr.Compare(b.Addr),
			cmp.Compare(a.Port, b.Port),
		)
	})
	return out
}

func compareGroups(a, b string) int {
	if allDigits(a) && allDigits(b) {
		if c := cmp.Compare(len(strings.TrimLeft(a, "0")), len(strings.TrimLeft(b, "0"))); c != 0 {
			return c
		}
		return strings.Compare(strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0"))
	}
	return strings.Compare(a, b)
}

func sortedReals(s *service.Service, noSort bool) []*service.Real {
	out := make([]*service.Real, len(s.Reals))
	for i := range s.Reals {
		out[i] = &s.Reals[i]
	}
	if !noSort {
		slices.SortStableFunc(out, func(a, b *service.Real) int {
			return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
		})
	}
	return out
}

// tunInfo is the TunnelInfo column of -L --tun-info, as ipvsadm prints it:
// "ipip", "gue:PORT:FLAGS" or "gre:FLAGS" with FLAGS -c (no checksum), +c
// (checksum) or r+c (remote checksum); "n/a" for other methods.
func tunInfo(r *service.Real) string {
	if r.Method != service.MethodTUN {
		return "n/a"
	}
	t := r.Tunnel
	flags := [...]string{service.TunNoCsum: "-c", service.TunCsum: "+c", service.TunRemCsum: "r+c"}
	switch t.Type {
	case service.TunIPIP:
		return "ipip"
	case service.TunGUE:
		return fmt.Sprintf("gue:%d:%s", t.Port, flags[t.Csum%3])
	case service.TunGRE:
		return "gre:" + flags[t.Csum%3]
	}
	return "n/a"
}
