package admin

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xvs-project/xvs/service"
)

// hostPort is a parsed service or real-server address: ipvsadm's
// host[:port], with IPv6 written as [addr]:port (or a bare IPv6 address
// without a port).
type hostPort struct {
	addr    netip.Addr
	port    uint16
	hasPort bool
}

// parseHostPort parses s as ipvsadm's parse_service does. Port names are
// looked up for proto; host names through r (IPv4 only, like ipvsadm).
func parseHostPort(s string, proto service.Proto, r Resolver) (hostPort, bool) {
	if s == "" || allDigits(s) {
		// A bare number is a firewall mark, not an address.
		return hostPort{}, false
	}
	var host, port string
	hasPort := false
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return hostPort{}, false
		}
		host, port, hasPort = s[1:end], s[end+2:], true
	} else if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
		host = s
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port, hasPort = s[:i], s[i+1:], true
	} else {
		host = s
	}
	hp := hostPort{hasPort: hasPort}
	a, err := netip.ParseAddr(host)
	switch {
	case err == nil && a.Zone() == "" && (a.Is4() || s[0] == '[' || !hasPort):
		hp.addr = a
	case err != nil && host != "":
		v6 := s[0] == '['
		h, ok := r.LookupHost(host, v6)
		if !ok || !h.IsValid() || h.Is4() == v6 {
			return hostPort{}, false
		}
		hp.addr = h
	default:
		return hostPort{}, false
	}
	if hasPort {
		p, ok := parsePort(port, proto, r)
		if !ok {
			return hostPort{}, false
		}
		hp.port = p
	}
	return hp, true
}

// parsePort accepts a number 0..65535 or a service name known for proto.
func parsePort(s string, proto service.Proto, r Resolver) (uint16, bool) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), true
	}
	if s == "" {
		return 0, false
	}
	return r.LookupPort(proto, s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// number parses a decimal in [min, max] as ipvsadm's string_to_number does.
func number(s string, min, max int64) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, false
	}
	return n, true
}

// parseMask4 turns a dotted IPv4 netmask into a prefix length; the mask must
// be contiguous (xvs groups clients by prefix).
func parseMask4(s string) (int, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := bits.LeadingZeros32(^m)
	if n == 0 || m<<n != 0 {
		// /0 cannot be told from "not set" in the service model.
		return 0, false
	}
	return n, true
}

// formatMask4 writes a prefix length as a dotted netmask.
func formatMask4(n int) string {
	m := ^uint32(0) << (32 - n)
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

// validGroup reports whether s can name a service group: letters, digits,
// '_', '.' and '-', not starting with '-', at most 64 bytes. Numbers are
// fine, so rules written for firewall marks ("-f 1") keep working.
func validGroup(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// ParseMatch parses one --match value: PROTO:PREFIX[:PORTS], where PROTO is
// tcp or udp, PREFIX an address or CIDR prefix (IPv6 in brackets when ports
// follow: tcp:[2001:db8::/64]:443) and PORTS a port, a range "80-81", or "*"
// for every port (also the default).
func ParseMatch(s string) (service.Match, error) {
	bad := func(why string) (service.Match, error) {
		return service.Match{}, syntaxf(ErrInvalidMatch, "illegal match `%s' specified (%s)", s, why)
	}
	pr, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("want proto:prefix[:ports]")
	}
	proto, err := service.ParseProto(pr)
	if err != nil {
		return bad("protocol must be tcp or udp")
	}
	var pfx, ports string
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return bad("missing ]")
		}
		pfx, ports = rest[1:end], rest[end+1:]
		if ports != "" && !strings.HasPrefix(ports, ":") {
			return bad("want ]:ports")
		}
		ports = strings.TrimPrefix(ports, ":")
	case strings.Count(rest, ":") > 1:
		pfx = rest // a bare IPv6 prefix, every port
	default:
		pfx, ports, _ = strings.Cut(rest, ":")
	}
	// The prefix and ports are read as the configuration file reads them;
	// only the syntax around them is the command line's.
	m := service.Match{Proto: proto}
	if m.Prefix, err = service.ParseMatchPrefix(pfx); err != nil {
		return bad("not an address or prefix")
	}
	if m.PortLo, m.PortHi, err = service.ParsePortRange(ports); err != nil {
		return bad("ports must be a port or a range lo-hi")
	}
	return m, nil
}

// FormatMatch writes m the way ParseMatch reads it.
func FormatMatch(m service.Match) string {
	p := m.Prefix.String()
	ports := ""
	switch {
	case m.PortLo == 0 && m.PortHi == 0:
	case m.PortLo == m.PortHi:
		ports = fmt.Sprintf(":%d", m.PortLo)
	default:
		ports = fmt.Sprintf(":%d-%d", m.PortLo, m.PortHi)
	}
	if m.Prefix.Addr().Is6() && ports != "" {
		p = "[" + p + "]"
	}
	return strings.ToLower(m.Proto.String()) + ":" + p + ports
}
