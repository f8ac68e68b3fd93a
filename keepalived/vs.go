package keepalived

import (
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/sched"
)

// schedFlags are the scheduler flag keywords keepalived reads in a virtual_server (its lbflags).
var schedFlags = map[string]bool{"hashed": true, "ops": true, "flag-1": true, "flag-2": true, "flag-3": true,
	"sh-port": true, "sh-fallback": true, "mh-port": true, "mh-fallback": true}

// persistentDefault is IPVS_SVC_PERSISTENT_TIMEOUT, used by a bare persistence_timeout.
const persistentDefault = 360 * time.Second

func (b *builder) virtualServer(n *node) error {
	v := &VirtualServer{Pos: n.key.pos, Protocol: "TCP", Method: "NAT", Quorum: 1, at: map[string]token{}}
	c := ctx{where: "virtual_server"}
	for _, a := range n.args {
		c.where += " " + a.text
	}
	switch {
	case len(n.args) == 2 && n.args[0].text == "fwmark":
		m, err := c.uint(&node{key: n.key, args: n.args[1:]}, 1, 1<<32-1)
		if err != nil {
			return err
		}
		v.FWMark = uint32(m)
	case len(n.args) == 2 && n.args[0].text == "group":
		v.Group = n.args[1].text
	case len(n.args) == 2:
		a, err := c.addr(n, n.args[0])
		if err != nil {
			return err
		}
		p, err := c.port(n, n.args[1])
		if err != nil {
			return err
		}
		v.Addr, v.Port = a, p
	default:
		return c.err(n, "want <address> <port>, fwmark <mark> or group <name>")
	}
	if !n.block {
		return c.err(n, "needs a { } block")
	}
	var tm timingOpt
	weight := 1
	var realNodes []*node
	var sorryMethod *string
	var sorryTunnel Tunnel
	for _, k := range n.children {
		if ok, err := tm.set(c, k); ok {
			if err != nil {
				return err
			}
			continue
		}
		var err error
		switch k.key.text {
		case "lb_algo", "lvs_sched":
			var s string
			if s, err = c.one(k); err == nil {
				// The names are sched's, as service.Validate checks them.
				if !sched.Known(s) {
					return c.err(k, "unknown scheduler "+strconv.Quote(s)+" (xvs has "+strings.Join(sched.Names(), " ")+")")
				}
				v.Scheduler = s
			}
		case "lb_kind", "lvs_method":
			v.Method, v.Tunnel, err = c.method(k)
		case "persistence_timeout":
			if len(k.args) == 0 {
				v.Persistence = persistentDefault
			} else {
				var s uint64
				s, err = c.uint(k, 1, 1<<31-1)
				v.Persistence = time.Duration(s) * time.Second
			}
		case "persistence_granularity":
			v.Granularity, err = c.granularity(k)
		case "persistence_engine":
			v.PersistenceEngine, err = c.one(k)
		case "protocol":
			var s string
			if s, err = c.one(k); err == nil {
				s = strings.ToUpper(s)
				if s != "TCP" && s != "UDP" && s != "SCTP" {
					return c.err(k, "want TCP, UDP or SCTP, not "+strconv.Quote(s))
				}
				v.Protocol = s
			}
		case "quorum":
			v.Quorum, err = c.int(k, 1)
		case "hysteresis":
			v.Hysteresis, err = c.int(k, 0)
		case "quorum_up":
			v.QuorumUp, err = c.command(k, health.SplitCommand)
		case "quorum_down":
			v.QuorumDown, err = c.command(k, health.SplitCommand)
		case "sorry_server":
			v.Sorry, err = c.sorry(k)
		case "sorry_server_lvs_method":
			var m string
			var tun Tunnel
			if m, tun, err = c.method(k); err == nil {
				sorryMethod, sorryTunnel = &m, tun
			}
		case "sorry_server_inhibit":
			v.SorryInhibit, err = c.flag(k)
		case "omega":
			v.Omega, err = c.flag(k)
		case "inhibit_on_failure":
			v.Inhibit, err = c.flag(k)
		case "ha_suspend":
			v.HASuspend, err = c.flag(k)
			b.warn(k, "ha_suspend is read but xvs checks run whether or not the VIP is present")
		case "virtualhost":
			v.VirtualHost, err = c.one(k)
		case "weight":
			weight, err = c.int(k, 0)
		case "real_server":
			realNodes = append(realNodes, k)
		default:
			if schedFlags[k.key.text] && len(k.args) == 0 && !k.block {
				v.SchedFlags = append(v.SchedFlags, k.key.text)
				v.flagAt = append(v.flagAt, k.key.pos)
				continue
			}
			b.unknown(k, "virtual_server")
			continue
		}
		if err != nil {
			return err
		}
		v.at[fieldName(k.key.text)] = k.key
	}
	if tm.alpha != nil {
		v.Alpha = *tm.alpha
	}
	for _, k := range realNodes {
		r, err := b.realServer(k, v, &tm, weight)
		if err != nil {
			return err
		}
		v.Reals = append(v.Reals, r)
	}
	if v.Sorry != nil {
		v.Sorry.Method, v.Sorry.Tunnel = v.Method, v.Tunnel
		if sorryMethod != nil {
			v.Sorry.Method, v.Sorry.Tunnel = *sorryMethod, sorryTunnel
		}
		if v.Sorry.Port == 0 {
			v.Sorry.Port = v.Port
		}
	}
	b.cfg.VirtualServers = append(b.cfg.VirtualServers, v)
	return nil
}

// method reads lb_kind / lvs_method: NAT | DR | TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum].
func (c ctx) method(n *node) (string, Tunnel, error) {
	var t Tunnel
	if len(n.args) == 0 {
		return "", t, c.err(n, "needs NAT, DR or TUN")
	}
	m := strings.ToUpper(n.args[0].text)
	switch m {
	case "NAT", "DR":
		if len(n.args) > 1 {
			return "", t, c.err(n, "too many values")
		}
		return m, t, nil
	case "TUN":
	default:
		return "", t, c.err(n, "want NAT, DR or TUN, not "+strconv.Quote(n.args[0].text))
	}
	rest := n.args[1:]
	for i := 0; i < len(rest); i++ {
		switch w := strings.ToLower(rest[i].text); w {
		case "type":
			if i+1 >= len(rest) {
				return "", t, c.err(n, "type needs ipip, gue or gre")
			}
			i++
			t.Type = strings.ToLower(rest[i].text)
			if t.Type != "ipip" && t.Type != "gue" && t.Type != "gre" {
				return "", t, c.err(n, "tunnel type "+strconv.Quote(rest[i].text)+": want ipip, gue or gre")
			}
		case "port":
			if i+1 >= len(rest) {
				return "", t, c.err(n, "port needs a number")
			}
			i++
			p, ok := parsePort(rest[i].text)
			if !ok || p == 0 {
				return "", t, c.err(n, "bad tunnel port "+strconv.Quote(rest[i].text))
			}
			t.Port = p
		case "nocsum", "csum", "remcsum":
			t.Csum = w
		default:
			return "", t, c.err(n, "unexpected "+strconv.Quote(rest[i].text))
		}
	}
	if t.Type == "gue" && t.Port == 0 {
		return "", t, c.err(n, "a GUE tunnel needs a port")
	}
	if t.Type != "gue" && t.Port != 0 {
		return "", t, c.err(n, "only a GUE tunnel takes a port")
	}
	if t.Csum == "remcsum" && t.Type != "gue" {
		return "", t, c.err(n, "remcsum is for GUE tunnels only")
	}
	if t.Type == "" {
		t.Type = "ipip"
	}
	return m, t, nil
}

// granularity reads an IPv4 netmask (255.255.255.0) or an IPv6 prefix length.
func (c ctx) granularity(n *node) (int, error) {
	s, err := c.one(n)
	if err != nil {
		return 0, err
	}
	if strings.Contains(s, ".") {
		a, ok := parseAddr(s)
		if !ok || !a.Is4() {
			return 0, c.err(n, "bad IPv4 netmask "+strconv.Quote(s))
		}
		b := a.As4()
		bits, seenZero := 0, false
		for _, x := range b {
			for i := 7; i >= 0; i-- {
				if x&(1<<i) != 0 {
					if seenZero {
						return 0, c.err(n, "netmask "+s+" is not contiguous")
					}
					bits++
				} else {
					seenZero = true
				}
			}
		}
		if bits == 0 {
			return 0, c.err(n, "netmask "+s+" is empty")
		}
		return bits, nil
	}
	v, err := c.uint(n, 1, 128)
	return int(v), err
}

func (c ctx) sorry(n *node) (*RealServer, error) {
	if err := c.argc(n, 1, 2); err != nil {
		return nil, err
	}
	a, err := c.addr(n, n.args[0])
	if err != nil {
		return nil, err
	}
	r := &RealServer{Pos: n.key.pos, Addr: a, Weight: 1}
	if len(n.args) == 2 {
		if r.Port, err = c.port(n, n.args[1]); err != nil {
			return nil, err
		}
	}
	return r, nil
}
