package xdpprog

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/xvs-project/xvs/internal/packettest"
)

// oracleSteer is the verdict the steering program must reach for f: the
// module's one steering oracle, reading the frame as XDP sees it (a VLAN
// tag still in the data).
func oracleSteer(cfg Config, f []byte) string { return packettest.Steer(cfg, f, packettest.Tagged) }

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
