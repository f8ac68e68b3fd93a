package service

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The pieces of a service group's Match, parsed here for both of xvs's
// spellings of one (xvsadm's --match tcp:PREFIX:PORTS and the configuration
// file's {proto, prefix, ports}), so the two accept the same values.

// ParseMatchPrefix parses a match's destination: a CIDR prefix, whose host
// bits are cleared, or one address, which becomes a /32 or /128. Zoned IPv6
// addresses are refused: a match is on the wire, where zones do not exist.
func ParseMatchPrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not an address or prefix", s)
}

// ParsePortRange parses a match's ports: one port "80", a range "80-90"
// (spaces around either bound are fine), or "*" or "" for every port, as
// is "0" (Match's zero range).
func ParsePortRange(s string) (lo, hi uint16, err error) {
	if s == "*" || s == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	l, err := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	if err != nil {
		return 0, 0, fmt.Errorf("port %q is not in 0..65535", a)
	}
	h := l
	if isRange {
		if h, err = strconv.ParseUint(strings.TrimSpace(b), 10, 16); err != nil {
			return 0, 0, fmt.Errorf("port %q is not in 0..65535", b)
		}
	}
	if h < l {
		return 0, 0, fmt.Errorf("port range %s is empty", s)
	}
	return uint16(l), uint16(h), nil
}
