package admin

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xvs-project/xvs/service"
)

// Save writes cfg as ipvsadm -S does: one "-A" line per service and one
// "-a" line per real server, sorted, with names unless numeric:
//
//	-A -t 198.18.0.1:http -s wlc -p 300
//	-a -t 198.18.0.1:http -r 198.18.1.2:http -g -w 1
//
// Restore reads it back. Where xvs holds what ipvsadm's rules cannot say,
// Save adds options ipvsadm would also accept or that only xvsadm knows,
// so that the round trip is exact: " -x N -y N" on a real server with
// thresholds (ipvsadm -S drops them) and " --match ..." on a service group.
func Save(w io.Writer, cfg *service.Config, numeric bool, r Resolver) error {
	bw := bufio.NewWriter(w)
	n := namer{numeric: numeric, r: orWellKnown(r)}
	for _, s := range sortedServices(cfg, false) {
		name := ruleName(s, n)
		fmt.Fprintf(bw, "-A %s -s %s", name, s.Scheduler)
		if p := s.Persistence; p != nil {
			fmt.Fprintf(bw, " -p %d", int64(p.Timeout/time.Second))
			if m := maskText(s, p); m != "" {
				fmt.Fprintf(bw, " -M %s", m)
			}
		}
		if s.OnePacket {
			bw.WriteString(" -o")
		}
		if len(s.SchedFlags) > 0 {
			fmt.Fprintf(bw, " -b %s", strings.Join(canonicalFlags(s.SchedFlags), ","))
		}
		for _, m := range s.Matches {
			fmt.Fprintf(bw, " --match %s", FormatMatch(m))
		}
		bw.WriteString("\n")
		for _, rl := range sortedReals(s, false) {
			fmt.Fprintf(bw, "-a %s -r %s %s -w %d", name, n.addrPort(rl.Addr, rl.Port, s.Proto), methodSwitch(rl.Method), rl.Weight)
			if rl.Method == service.MethodTUN {
				bw.WriteString(tunnelRule(rl.Tunnel))
			}
			if rl.UpperThreshold != 0 {
				fmt.Fprintf(bw, " -x %d", rl.UpperThreshold)
			}
			if rl.LowerThreshold != 0 {
				fmt.Fprintf(bw, " -y %d", rl.LowerThreshold)
			}
			bw.WriteString("\n")
		}
	}
	return bw.Flush()
}

// ruleName is how a rule names its service: "-t 198.18.0.1:http",
// "-f web" ("-f web -6" for an IPv6 group).
func ruleName(s *service.Service, n namer) string {
	if s.Group != "" {
		if s.Family() == 6 {
			return "-f " + s.Group + " -6"
		}
		return "-f " + s.Group
	}
	opt := "-t"
	if s.Proto == service.UDP {
		opt = "-u"
	}
	return opt + " " + n.addrPort(s.Addr, s.Port, s.Proto)
}

func methodSwitch(m service.Method) string {
	switch m {
	case service.MethodNAT:
		return "-m"
	case service.MethodTUN:
		return "-i"
	}
	return "-g"
}

// tunnelRule is what ipvsadm 1.31 -S appends to a tunnelling real server:
// " --tun-type ipip", " --tun-type gue --tun-port N --tun-nocsum" or
// " --tun-type gre --tun-csum" (the checksum option is always written for
// GUE and GRE).
func tunnelRule(t service.Tunnel) string {
	csum := [...]string{service.TunNoCsum: "--tun-nocsum", service.TunCsum: "--tun-csum", service.TunRemCsum: "--tun-remcsum"}
	switch t.Type {
	case service.TunGUE:
		return fmt.Sprintf(" --tun-type gue --tun-port %d %s", t.Port, csum[t.Csum%3])
	case service.TunGRE:
		return " --tun-type gre " + csum[t.Csum%3]
	}
	return " --tun-type ipip"
}
