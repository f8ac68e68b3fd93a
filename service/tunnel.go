package service

import "fmt"

// TunType is how a TUN real server's packets are encapsulated (ipvsadm
// --tun-type); the values are IPVS's (IPVS_DEST_ATTR_TUN_TYPE).
type TunType uint8

// Tunnel types.
const (
	// TunIPIP is IPv4-in-IPv4 / IPv6-in-IPv6, the default.
	TunIPIP TunType = 0
	// TunGUE is Generic UDP Encapsulation to the real server's Tunnel.Port.
	TunGUE TunType = 1
	// TunGRE is GRE without key or sequence number.
	TunGRE TunType = 2
)

// String returns ipvsadm's name: ipip, gue or gre.
func (t TunType) String() string {
	switch t {
	case TunIPIP:
		return "ipip"
	case TunGUE:
		return "gue"
	case TunGRE:
		return "gre"
	}
	return fmt.Sprintf("tun-type-%d", uint8(t))
}

// ParseTunType accepts ipvsadm's names ipip, gue and gre.
func ParseTunType(s string) (TunType, error) {
	switch s {
	case "ipip":
		return TunIPIP, nil
	case "gue":
		return TunGUE, nil
	case "gre":
		return TunGRE, nil
	}
	return 0, fmt.Errorf("illegal tunnel type specified")
}

// Checksum is a tunnel's checksum option (ipvsadm --tun-nocsum, --tun-csum,
// --tun-remcsum); the values are IPVS's tunnel flags (IPVS_DEST_ATTR_TUN_FLAGS).
type Checksum uint8

// Checksum options.
const (
	// TunNoCsum sends GUE with a zero UDP checksum and GRE without the
	// checksum field, the default.
	TunNoCsum Checksum = 0
	// TunCsum sends the UDP checksum (GUE) or the GRE checksum.
	TunCsum Checksum = 1
	// TunRemCsum asks for GUE remote checksum offload. xvs forwards
	// packets whose inner checksum is complete, for which the kernel adds no
	// remote-checksum option either; the frames are those of TunCsum.
	TunRemCsum Checksum = 2
)

// String returns the option's config-file name: nocsum, csum or remcsum.
func (c Checksum) String() string {
	switch c {
	case TunNoCsum:
		return "nocsum"
	case TunCsum:
		return "csum"
	case TunRemCsum:
		return "remcsum"
	}
	return fmt.Sprintf("tun-csum-%d", uint8(c))
}

// ParseChecksum accepts nocsum, csum and remcsum.
func ParseChecksum(s string) (Checksum, error) {
	switch s {
	case "nocsum":
		return TunNoCsum, nil
	case "csum":
		return TunCsum, nil
	case "remcsum":
		return TunRemCsum, nil
	}
	return 0, fmt.Errorf("unknown tunnel checksum %q (want nocsum, csum or remcsum)", s)
}

// Tunnel is the encapsulation toward a TUN real server. The zero value is
// IPIP, which has neither port nor checksum; a real server of another method
// must leave it zero.
type Tunnel struct {
	Type TunType
	// Port is the GUE destination port, required for GUE and refused for
	// the other types.
	Port uint16
	// Csum is the checksum option: GUE takes all three, GRE nocsum and
	// csum, IPIP only the default.
	Csum Checksum
}

// validateTunnel checks a real server's tunnel fields with ipvsadm's words
// (its tunnel_opt_check and "Tunnel options conflict with forward method").
// The "conflicts with" check of two checksum options given at once belongs
// to the command line; here the checksum is one value.
func validateTunnel(r *Real) (field, msg string, ok bool) {
	t := r.Tunnel
	if r.Method != MethodTUN {
		if t != (Tunnel{}) {
			return "tun-type", "Tunnel options conflict with forward method", false
		}
		return "", "", true
	}
	// The field is the config file's key; the message names ipvsadm's option.
	illegal := func(opt string) (string, string, bool) {
		field := "tun-csum"
		if opt == "tun-port" {
			field = opt
		}
		return field, fmt.Sprintf("Illegal '%s' option with the '%s' tunnel type", opt, t.Type), false
	}
	switch t.Type {
	case TunIPIP:
		if t.Port != 0 {
			return illegal("tun-port")
		}
		if t.Csum != TunNoCsum {
			return illegal("tun-" + t.Csum.String())
		}
	case TunGUE:
		if t.Port == 0 {
			return "tun-port", "You need to supply the 'tun-port' option for the 'gue' tunnel type", false
		}
		if t.Csum > TunRemCsum {
			return "tun-csum", fmt.Sprintf("%s is not nocsum, csum or remcsum", t.Csum), false
		}
	case TunGRE:
		if t.Port != 0 {
			return illegal("tun-port")
		}
		if t.Csum == TunRemCsum {
			return illegal("tun-remcsum")
		}
		if t.Csum > TunRemCsum {
			return "tun-csum", fmt.Sprintf("%s is not nocsum or csum", t.Csum), false
		}
	default:
		return "tun-type", "illegal tunnel type specified", false
	}
	return "", "", true
}
