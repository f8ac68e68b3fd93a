package admin

import (
	"bufio"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/xvs-project/xvs/service"
)

// Resolver turns names into numbers and back, as ipvsadm does with
// getservbyname/getservbyport (ports) and gethostbyname/gethostbyaddr
// (hosts). Parsing uses it for "-t www.example.com:http"; listings without
// -n use it to print names. Lookups that fail return ok false, and the
// number is used as is.
type Resolver interface {
	// LookupPort returns the port of a service name for proto.
	LookupPort(proto service.Proto, name string) (port uint16, ok bool)
	// PortName returns the service name of port for proto.
	PortName(proto service.Proto, port uint16) (name string, ok bool)
	// LookupHost resolves a host name to an address of the family asked
	// for. ipvsadm resolves names to IPv4 only; xvsadm also resolves a name
	// written in brackets ("[v6.example.net]:80", as -S writes IPv6 names)
	// to IPv6.
	LookupHost(name string, ipv6 bool) (addr netip.Addr, ok bool)
	// HostName returns a name of addr.
	HostName(addr netip.Addr) (name string, ok bool)
}

// ServiceTable maps service names to ports and back, read from a file in
// /etc/services format. It resolves no host names. A nil *ServiceTable
// knows nothing.
type ServiceTable struct {
	byName map[protoName]uint16
	byPort map[protoPort]string
}

type protoName struct {
	proto service.Proto
	name  string
}

type protoPort struct {
	proto service.Proto
	port  uint16
}

// ParseServices reads an /etc/services-format table: "name port/proto
// [aliases...] [# comment]". Entries of protocols other than tcp and udp are
// skipped. For a port listed twice the first name wins, as with
// getservbyport.
func ParseServices(r io.Reader) (*ServiceTable, error) {
	t := &ServiceTable{byName: map[protoName]uint16{}, byPort: map[protoPort]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ps, pr, ok := strings.Cut(f[1], "/")
		if !ok {
			continue
		}
		proto, err := service.ParseProto(pr)
		if err != nil {
			continue
		}
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil {
			continue
		}
		port := uint16(n)
		if _, dup := t.byPort[protoPort{proto, port}]; !dup {
			t.byPort[protoPort{proto, port}] = f[0]
		}
		for _, name := range append([]string{f[0]}, f[2:]...) {
			if _, dup := t.byName[protoName{proto, name}]; !dup {
				t.byName[protoName{proto, name}] = port
			}
		}
	}
	return t, sc.Err()
}

// LookupPort implements Resolver.
func (t *ServiceTable) LookupPort(proto service.Proto, name string) (uint16, bool) {
	if t == nil {
		return 0, false
	}
	p, ok := t.byName[protoName{proto, name}]
	return p, ok
}

// PortName implements Resolver.
func (t *ServiceTable) PortName(proto service.Proto, port uint16) (string, bool) {
	if t == nil {
		return "", false
	}
	n, ok := t.byPort[protoPort{proto, port}]
	return n, ok
}

// LookupHost implements Resolver; a ServiceTable knows no hosts.
func (t *ServiceTable) LookupHost(string, bool) (netip.Addr, bool) { return netip.Addr{}, false }

// HostName implements Resolver; a ServiceTable knows no hosts.
func (t *ServiceTable) HostName(netip.Addr) (string, bool) { return "", false }

// wellKnown is a small services table of the names LVS rule files commonly
// use, for when the system's table cannot be read.
const wellKnown = `
ftp-data 20/tcp
ftp 21/tcp
ssh 22/tcp
telnet 23/tcp
smtp 25/tcp mail
domain 53/tcp
domain 53/udp
tftp 69/udp
http 80/tcp www
pop3 110/tcp pop-3
sunrpc 111/tcp portmapper
sunrpc 111/udp portmapper
ntp 123/udp
imap2 143/tcp imap
snmp 161/udp
ldap 389/tcp
ldap 389/udp
https 443/tcp
https 443/udp
submissions 465/tcp ssmtp smtps
syslog 514/udp
submission 587/tcp
ldaps 636/tcp
imaps 993/tcp
pop3s 995/tcp
openvpn 1194/tcp
openvpn 1194/udp
mysql 3306/tcp
sip 5060/tcp
sip 5060/udp
postgresql 5432/tcp postgres
http-alt 8080/tcp webcache
`

// orWellKnown is r, or the built-in table when r is nil.
func orWellKnown(r Resolver) Resolver {
	if r == nil {
		return WellKnown()
	}
	return r
}

// WellKnown returns a built-in services table of common names (http, https,
// domain, smtp, mysql, ...), for when the system's /etc/services cannot be
// read.
// The table is shared and must not be changed (ServiceTable has no methods
// that change it).
func WellKnown() *ServiceTable { return wellKnownTable() }

var wellKnownTable = sync.OnceValue(func() *ServiceTable {
	t, _ := ParseServices(strings.NewReader(wellKnown))
	return t
})
