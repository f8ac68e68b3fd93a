package xdpprog

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// oracleSteer is the slow, obvious classifier the steering program must
// agree with: it walks the frame in Go and matches rules by comparing
// prefixes and port ranges directly, without the trie encoding. It returns
// the counter name the program should bump.
func oracleSteer(cfg Config, f []byte) string {
	if len(f) < 14 {
		return "pass_short"
	}
	et, off := binary.BigEndian.Uint16(f[12:]), 14
	if et == 0x8100 || et == 0x88a8 {
		if len(f) < 18 {
			return "pass_short"
		}
		et, off = binary.BigEndian.Uint16(f[16:]), 18
	}
	ip := f[off:]
	var src, dst netip.Addr
	var proto uint8
	var l4 []byte
	var frag bool
	switch et {
	case 0x0800:
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[0]&0xf < 5 {
			return "pass_short"
		}
		proto = ip[9]
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		frag = binary.BigEndian.Uint16(ip[6:])&0x3fff != 0
		if ihl := int(ip[0]&0xf) * 4; ihl <= len(ip) {
			l4 = ip[ihl:]
		}
		if frag {
			if proto != 6 && proto != 17 {
				return "pass_other"
			}
			return oracleAddr(cfg, src, dst, "steer_fragment")
		}
		if proto != 6 && proto != 17 && proto != 1 {
			return "pass_other"
		}
	case 0x86dd:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return "pass_short"
		}
		proto = ip[6]
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		l4 = ip[40:]
		var verdict string
		if proto, l4, verdict = oracleExt6(proto, l4); verdict == "fragment" {
			return oracleAddr(cfg, src, dst, "steer_fragment")
		} else if verdict != "" {
			return verdict
		}
	default:
		return "pass_other"
	}
	if proto == 1 || proto == 58 {
		if len(l4) < 1 {
			return "pass_short"
		}
		isErr := l4[0] >= 1 && l4[0] <= 4
		if proto == 1 {
			isErr = l4[0] == 3 || l4[0] == 11 || l4[0] == 12
		}
		if !isErr {
			return "pass_other"
		}
		return oracleAddr(cfg, src, dst, "steer_icmp")
	}
	if len(l4) < 4 {
		return "pass_short"
	}
	sport, dport := binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	for _, r := range cfg.Rules {
		if !r.Reply && r.Proto == proto && oracleContains(r.Prefix, dst) && oraclePort(r, dport) {
			return "steer_service"
		}
	}
	for _, r := range cfg.Rules {
		if r.Reply && r.Proto == proto && oracleContains(r.Prefix, src) && oraclePort(r, sport) {
			if oracleLocal(cfg, dst) {
				return "pass_local"
			}
			return "steer_reply"
		}
	}
	return "pass_nomatch"
}

// oracleExt6 skips IPv6 extension headers as the program must: at most
// maxExtHeaders of hop-by-hop, destination options, routing without segments
// left and atomic fragments, each needing its 8 bytes. It returns the
// upper-layer protocol and header, or a verdict: "fragment" for a real
// fragment of TCP/UDP, or a counter name.
func oracleExt6(proto uint8, l4 []byte) (uint8, []byte, string) {
	for i := 0; ; i++ {
		switch proto {
		case 6, 17, 58:
			return proto, l4, ""
		case 0, 60, 43, 44:
			if i == maxExtHeaders {
				return proto, l4, "pass_other"
			}
		default:
			return proto, l4, "pass_other"
		}
		if len(l4) < 8 {
			return proto, l4, "pass_short"
		}
		n := (int(l4[1]) + 1) * 8
		switch proto {
		case 43:
			if l4[3] != 0 {
				return proto, l4, "pass_other"
			}
		case 44:
			n = 8
			if binary.BigEndian.Uint16(l4[2:])&0xfff9 != 0 {
				if l4[0] != 6 && l4[0] != 17 {
					return proto, l4, "pass_other"
				}
				return proto, l4, "fragment"
			}
		}
		proto = l4[0]
		if n > len(l4) {
			l4 = nil
		} else {
			l4 = l4[n:]
		}
	}
}

func oracleAddr(cfg Config, src, dst netip.Addr, steer string) string {
	for _, r := range cfg.Rules {
		if !r.Reply && oracleContains(r.Prefix, dst) {
			return steer
		}
	}
	for _, r := range cfg.Rules {
		if r.Reply && oracleContains(r.Prefix, src) {
			if oracleLocal(cfg, dst) {
				return "pass_local"
			}
			return steer
		}
	}
	return "pass_nomatch"
}

func oracleContains(p netip.Prefix, a netip.Addr) bool {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Contains(a)
}

func oraclePort(r Rule, port uint16) bool {
	return (r.PortLo == 0 && r.PortHi == 0) || (r.PortLo <= port && port <= r.PortHi)
}

func oracleLocal(cfg Config, a netip.Addr) bool {
	for _, l := range cfg.Local {
		if l.Unmap() == a {
			return true
		}
	}
	return false
}

// oracleDecap is the Go model of the decap program: it returns the frame the
// program must produce from f (f itself when the frame is left alone). An
// empty local decapsulates for any outer destination; GUE is recognised on
// guePorts.
func oracleDecap(local []netip.Addr, guePorts []uint16, f []byte) []byte {
	if len(f) < 14 {
		return f
	}
	et, l2 := binary.BigEndian.Uint16(f[12:]), 14
	if et == 0x8100 || et == 0x88a8 {
		if len(f) < 18 {
			return f
		}
		et, l2 = binary.BigEndian.Uint16(f[16:]), 18
	}
	ip := f[l2:]
	var outer int
	var proto uint8
	var dst netip.Addr
	switch et {
	case 0x0800:
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[0]&0xf < 5 || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return f
		}
		outer, proto, dst = int(ip[0]&0xf)*4, ip[9], netip.AddrFrom4([4]byte(ip[16:20]))
	case 0x86dd:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return f
		}
		outer, proto, dst = 40, ip[6], netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		return f
	}
	// GRE and GUE: the tunnel header joins the outer header and names the
	// inner protocol.
	switch proto {
	case 47:
		if len(ip) < outer+4 {
			return f
		}
		flags, et := binary.BigEndian.Uint16(ip[outer:]), binary.BigEndian.Uint16(ip[outer+2:])
		switch {
		case et == 0x0800:
			proto = 4
		case et == 0x86dd:
			proto = 41
		default:
			return f
		}
		switch flags {
		case 0:
			outer += 4
		case 0x8000:
			outer += 8
		default:
			return f
		}
	case 17:
		if len(guePorts) == 0 || len(ip) < outer+12 || !slices.Contains(guePorts, binary.BigEndian.Uint16(ip[outer+2:])) {
			return f
		}
		g := ip[outer+8:]
		if g[0] != 0 || g[2] != 0 || g[3] != 0 {
			return f
		}
		proto = g[1]
		outer += 12
	}
	innerLen, innerVer, innerEt := 20, byte(4), uint16(0x0800)
	switch proto {
	case 4:
	case 41:
		innerLen, innerVer, innerEt = 40, 6, 0x86dd
	default:
		return f
	}
	if len(local) > 0 && !slices.Contains(local, dst) {
		return f
	}
	if len(ip) < outer+innerLen || ip[outer]>>4 != innerVer {
		return f
	}
	out := append([]byte(nil), f[:l2]...)
	binary.BigEndian.PutUint16(out[l2-2:], innerEt)
	return append(out, ip[outer:]...)
}
