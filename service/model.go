package service

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/xvs-project/xvs/flow"
)

// Proto is a transport protocol a virtual service balances.
type Proto uint8

// Protocols xvs balances; the values are the IP protocol numbers.
const (
	TCP Proto = flow.TCP
	UDP Proto = flow.UDP
)

// String returns "TCP" or "UDP", as ipvsadm lists them.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// ParseProto accepts tcp/udp in any case.
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q (want tcp or udp)", s)
}

// Method is how packets reach a real server.
type Method uint8

// Forwarding methods, named as in LVS.
const (
	// MethodNone is the zero value: a real server must name its method.
	MethodNone Method = iota
	// MethodNAT rewrites the destination (and port) toward the real server and
	// the source of its replies back to the VIP ("Masq" in ipvsadm).
	MethodNAT
	// MethodDR rewrites only the destination MAC; the real server holds the VIP
	// on lo and answers the client directly ("Route", gatewaying).
	MethodDR
	// MethodTUN encapsulates the packet toward the real server (IPIP /
	// IP6IP6, or GUE or GRE as Real.Tunnel says), which decapsulates it and
	// answers the client directly ("Tunnel").
	MethodTUN
)

// String returns ipvsadm's listing name: Masq, Route or Tunnel.
func (m Method) String() string {
	switch m {
	case MethodNAT:
		return "Masq"
	case MethodDR:
		return "Route"
	case MethodTUN:
		return "Tunnel"
	}
	return "None"
}

// ParseMethod accepts the config file's names (nat, dr, tun) and ipvsadm's
// listing names (masq, route, tunnel, gatewaying, ipip).
func ParseMethod(s string) (Method, error) {
	switch strings.ToLower(s) {
	case "nat", "masq", "masquerading":
		return MethodNAT, nil
	case "dr", "route", "gatewaying", "direct":
		return MethodDR, nil
	case "tun", "tunnel", "ipip":
		return MethodTUN, nil
	}
	return MethodNone, fmt.Errorf("unknown forwarding method %q (want nat, dr or tun)", s)
}

// Real is one real server of a virtual service.
type Real struct {
	Addr netip.Addr
	// Port is the real server's port; 0 means the packet's own destination
	// port (always the case for DR and TUN, which cannot map ports).
	Port   uint16
	Weight int32
	Method Method
	// Tunnel is the encapsulation of a MethodTUN real server (ipvsadm
	// --tun-type, --tun-port, --tun-*csum); zero (IPIP) otherwise.
	Tunnel Tunnel
	// UpperThreshold and LowerThreshold bound the connections sent to the
	// server (ipvsadm -x / -y); 0 means no bound.
	UpperThreshold uint32
	LowerThreshold uint32
}

// Match is one entry of a service group: traffic of Proto to an address in
// Prefix and a port in [PortLo, PortHi] (0, 0: every port) belongs to the group.
type Match struct {
	Proto          Proto
	Prefix         netip.Prefix
	PortLo, PortHi uint16
}

// Persistence makes a client network stick to one real server.
type Persistence struct {
	// Timeout is how long a client's choice outlives its last connection.
	Timeout time.Duration
	// Netmask groups clients: an IPv4 prefix length (from -M a.b.c.d) or an
	// IPv6 prefix length. 0 means the default (/32 or /128).
	NetmaskBits int
}

// DefaultPersistTimeout is ipvsadm's default for -p without a value.
const DefaultPersistTimeout = 300 * time.Second

// Service is one virtual service: an address service (Proto, Addr, Port) or a
// service group (Group with Matches).
type Service struct {
	Proto Proto
	Addr  netip.Addr
	// Port 0 makes the service cover every port of Addr; ipvsadm allows that
	// only for persistent services.
	Port uint16

	// Group names a service group; when set, Proto/Addr/Port are unused and
	// Matches says which traffic belongs to it.
	Group   string
	Matches []Match

	Scheduler  string   // default "wlc"
	SchedFlags []string // sh-fallback, sh-port, mh-fallback, mh-port
	// MHTableSize is the Maglev table size for the mh scheduler (a prime; 0: 4093).
	MHTableSize int
	Persistence *Persistence // nil: not persistent
	// OnePacket schedules every UDP datagram on its own (ipvsadm -o).
	OnePacket bool
	// ExpireQuiescent drops persistence templates that point at a server of
	// weight 0, so returning clients move elsewhere (sysctl expire_quiescent_template).
	ExpireQuiescent bool

	Reals []Real
}

// Key identifies a service the way ipvsadm does: -t/-u VIP:port or -f group.
type Key struct {
	Proto Proto
	Addr  netip.Addr
	Port  uint16
	Group string
}

// Key returns the service's identity.
func (s Service) Key() Key {
	if s.Group != "" {
		return Key{Group: s.Group}
	}
	return Key{Proto: s.Proto, Addr: s.Addr, Port: s.Port}
}

// String formats a key as ipvsadm's -L does: "TCP  198.18.0.1:80", "-f web".
func (k Key) String() string {
	if k.Group != "" {
		return "group " + k.Group
	}
	return fmt.Sprintf("%s %s", k.Proto, netip.AddrPortFrom(k.Addr, k.Port))
}

// RealKey identifies a real server within a service.
type RealKey struct {
	Addr netip.Addr
	Port uint16
}

// Key returns the real server's identity within its service.
func (r Real) Key() RealKey { return RealKey{Addr: r.Addr, Port: r.Port} }

// Config is the whole set of virtual services.
type Config struct {
	Services []Service
}

// Clone returns a deep copy, so a change can be tried without touching c.
func (c *Config) Clone() *Config {
	n := &Config{Services: make([]Service, len(c.Services))}
	for i, s := range c.Services {
		s.Matches = append([]Match(nil), s.Matches...)
		s.SchedFlags = append([]string(nil), s.SchedFlags...)
		s.Reals = append([]Real(nil), s.Reals...)
		if s.Persistence != nil {
			p := *s.Persistence
			s.Persistence = &p
		}
		n.Services[i] = s
	}
	return n
}

// Find returns the index of the service with key k, or -1.
func (c *Config) Find(k Key) int {
	for i := range c.Services {
		if c.Services[i].Key() == k {
			return i
		}
	}
	return -1
}

// FindReal returns the index of the real server with key k in s, or -1.
func (s *Service) FindReal(k RealKey) int {
	for i := range s.Reals {
		if s.Reals[i].Key() == k {
			return i
		}
	}
	return -1
}
