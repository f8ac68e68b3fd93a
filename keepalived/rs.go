package keepalived

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/service"
)

// Checker blocks keepalived has that this reader does not implement: a warning, and the
// server is not checked by them.
var unimplementedCheckers = map[string]bool{"SMTP_CHECK": true, "BFD_CHECK": true, "FILE_CHECK": true, "PING_CHECK": true}

var checkerKinds = map[string]health.Kind{"TCP_CHECK": health.KindTCP, "HTTP_GET": health.KindHTTP, "SSL_GET": health.KindSSL,
	"UDP_CHECK": health.KindUDP, "DNS_CHECK": health.KindDNS, "MISC_CHECK": health.KindMisc}

// looksLikeChecker says a block keyword is meant as a checker (keepalived's all follow this shape).
func looksLikeChecker(k string) bool {
	return k == strings.ToUpper(k) && (strings.HasSuffix(k, "_CHECK") || strings.HasSuffix(k, "_GET"))
}

func (b *builder) realServer(n *node, v *VirtualServer, vsTiming *timingOpt, weight int) (*RealServer, error) {
	c := ctx{where: "real_server"}
	for _, a := range n.args {
		c.where += " " + a.text
	}
	if err := c.argc(n, 1, 2); err != nil {
		return nil, err
	}
	a, err := c.addr(n, n.args[0])
	if err != nil {
		return nil, err
	}
	r := &RealServer{Pos: n.key.pos, Addr: a, Port: v.Port, Weight: weight, Method: v.Method, Tunnel: v.Tunnel,
		Inhibit: v.Inhibit, VirtualHost: v.VirtualHost, at: map[string]token{}}
	if len(n.args) == 2 {
		if r.Port, err = c.port(n, n.args[1]); err != nil {
			return nil, err
		}
	}
	if !n.block {
		return r, nil // keepalived allows a bare real server: no checks, always alive
	}
	var tm timingOpt
	var checkNodes []*node
	for _, k := range n.children {
		if ok, err := tm.set(c, k); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		var err error
		switch k.key.text {
		case "weight":
			var w uint64
			w, err = c.uint(k, 0, service.MaxWeight)
			r.Weight = int(w)
		case "lvs_method":
			r.Method, r.Tunnel, err = c.method(k)
		case "uthreshold":
			var u uint64
			u, err = c.uint(k, 0, 1<<32-1)
			r.UpperThreshold = uint32(u)
		case "lthreshold":
			var l uint64
			l, err = c.uint(k, 0, 1<<32-1)
			r.LowerThreshold = uint32(l)
		case "inhibit_on_failure":
			r.Inhibit, err = c.flag(k)
		case "notify_up":
			r.NotifyUp, err = c.command(k, health.SplitCommand)
		case "notify_down":
			r.NotifyDown, err = c.command(k, health.SplitCommand)
		case "virtualhost":
			r.VirtualHost, err = c.one(k)
		default:
			switch {
			case checkerKinds[k.key.text] != "":
				if !k.block {
					return nil, c.err(k, "needs a { } block")
				}
				checkNodes = append(checkNodes, k)
			case unimplementedCheckers[k.key.text]:
				b.warn(k, k.key.text+" is not implemented; "+c.where+" is not checked by it")
			case looksLikeChecker(k.key.text):
				return nil, c.err(k, "unknown checker "+strconv.Quote(k.key.text))
			default:
				b.unknown(k, "real_server")
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		r.at[fieldName(k.key.text)] = k.key
	}
	if r.LowerThreshold != 0 && r.UpperThreshold != 0 && r.LowerThreshold > r.UpperThreshold {
		return nil, &Error{Pos: n.key.pos, Where: c.where, Field: "lthreshold", Msg: "greater than uthreshold"}
	}
	for _, k := range checkNodes {
		chk, err := b.check(c, k, v, r, vsTiming, &tm)
		if err != nil {
			return nil, err
		}
		r.Checks = append(r.Checks, chk)
	}
	return r, nil
}

// target is a checker's connect_ip / connect_port over the real server's own.
func target(r *RealServer, ip *netip.Addr, port *uint16) netip.AddrPort {
	a, p := r.Addr, r.Port
	if ip != nil {
		a = *ip
	}
	if port != nil {
		p = *port
	}
	return netip.AddrPortFrom(a, p)
}
