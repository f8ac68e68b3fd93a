package health

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// DNSTypes are the query types DNS_CHECK accepts, with their numbers (RFC 1035, RFC 3596).
var DNSTypes = map[string]uint16{"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}

// DNS is keepalived's DNS_CHECK: one query over UDP with a random id and RD set; the server
// passes when a reply with the same id, QR set and RCODE 0 arrives before the deadline (the
// answer count is not looked at). Replies with another id are ignored.
type DNS struct {
	Addr netip.AddrPort
	Type string // one of DNSTypes; empty is SOA
	Name string // empty is the root "."
	Net  *Net
}

// Describe names the target.
func (d *DNS) Describe() (Kind, string) {
	return KindDNS, d.Addr.String() + " " + d.qtype() + " " + d.qname()
}

func (d *DNS) qtype() string {
	if d.Type == "" {
		return "SOA"
	}
	return strings.ToUpper(d.Type)
}

func (d *DNS) qname() string {
	if d.Name == "" {
		return "."
	}
	return d.Name
}

// rcodes are RFC 1035 and RFC 2136 names for the reply codes a server may send.
var rcodes = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// Check sends the query and waits for its reply.
func (d *DNS) Check(ctx context.Context) Result {
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q, err := DNSQuery(id, d.qtype(), d.qname())
	if err != nil {
		return fail(err.Error())
	}
	c, err := d.Net.session(ctx, "udp", d.Addr)
	if err != nil {
		return failErr("connect", err)
	}
	defer c.Close()
	if _, err := c.Write(q); err != nil {
		return udpFail("write", err)
	}
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fail("DNS no reply")
			}
			return udpFail("read", err)
		}
		if n < 12 || binary.BigEndian.Uint16(buf) != id {
			continue
		}
		if buf[2]&0x80 == 0 {
			return fail("DNS reply without QR")
		}
		if rc := buf[3] & 0x0f; rc != 0 {
			name := "RCODE " + strconv.Itoa(int(rc))
			if int(rc) < len(rcodes) {
				name = rcodes[rc]
			}
			return fail("DNS rcode " + name)
		}
		return pass()
	}
}

// DNSQuery encodes a query: header with id, RD=1, QDCOUNT=1, then the question (name, type,
// class IN). It is exported for tests and tools that need the same bytes.
func DNSQuery(id uint16, qtype, name string) ([]byte, error) {
	t, ok := DNSTypes[strings.ToUpper(qtype)]
	if !ok {
		return nil, fmt.Errorf("DNS type %q unknown", qtype)
	}
	b := make([]byte, 12, 12+len(name)+6)
	binary.BigEndian.PutUint16(b[0:], id)
	b[2] = 0x01 // RD
	binary.BigEndian.PutUint16(b[4:], 1)
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for _, label := range strings.Split(name, ".") {
			if len(label) == 0 || len(label) > 63 {
				return nil, fmt.Errorf("DNS name %q: bad label", name)
			}
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	if len(b)-12 > 254 {
		return nil, fmt.Errorf("DNS name %q too long", name)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, t)
	b = binary.BigEndian.AppendUint16(b, 1) // IN
	return b, nil
}
