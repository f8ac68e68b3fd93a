package keepalived

import (
	"encoding/hex"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/xvs-project/xvs/health"
)

// checkDraft gathers one checker block before its checker is built.
type checkDraft struct {
	kind      health.Kind
	tm        timingOpt
	ip        *netip.Addr
	port      *uint16
	net       health.Net
	http      health.HTTP
	vhost     *string
	enableSNI bool
	sniName   string
	udp       health.UDP
	dns       health.DNS
	exec      health.Exec
	hasPath   bool
}

func (b *builder) check(rc ctx, n *node, v *VirtualServer, r *RealServer, vsT, rsT *timingOpt) (Check, error) {
	d := &checkDraft{kind: checkerKinds[n.key.text]}
	c := ctx{where: rc.where + ": " + n.key.text}
	for _, k := range n.children {
		if d.kind == health.KindMisc && k.key.text == "connect_timeout" {
			b.warn(k, "connect_timeout does not apply to MISC_CHECK (misc_timeout does); ignored")
			continue
		}
		if ok, err := d.tm.set(c, k); ok {
			if err != nil {
				return Check{}, err
			}
			continue
		}
		ok, err := d.common(c, k)
		if !ok {
			switch d.kind {
			case health.KindHTTP, health.KindSSL:
				ok, err = b.httpKey(c, k, d)
			case health.KindUDP:
				ok, err = d.udpKey(c, k)
			case health.KindDNS:
				ok, err = d.dnsKey(c, k)
			case health.KindMisc:
				ok, err = b.miscKey(c, k, d)
			}
		}
		if err != nil {
			return Check{}, err
		}
		if !ok {
			b.unknown(k, n.key.text)
		}
	}
	t, alpha := resolve(d.kind, &d.tm, rsT, vsT)
	chk := Check{Pos: n.key.pos, Kind: d.kind, Timing: t, Alpha: alpha}
	// Every network checker gets a Net, bound or not, so the daemon can add Enter or Control
	// (path-true probes) without rebuilding the checker.
	var np *health.Net
	if d.kind != health.KindMisc {
		nn := d.net
		np = &nn
		chk.Net = np
	}
	addr := target(r, d.ip, d.port)
	if d.kind != health.KindMisc && addr.Port() == 0 {
		return Check{}, &Error{Pos: n.key.pos, Where: c.where, Field: "connect_port", Msg: "no port to check (the real server has none)"}
	}
	switch d.kind {
	case health.KindTCP:
		chk.Checker = &health.TCP{Addr: addr, Net: np}
	case health.KindHTTP, health.KindSSL:
		h := d.http
		if len(h.URLs) == 0 {
			return Check{}, &Error{Pos: n.key.pos, Where: c.where, Field: "url", Msg: "an HTTP check needs at least one url block"}
		}
		h.Addr, h.Net, h.TLS = addr, np, d.kind == health.KindSSL
		h.VirtualHost = r.VirtualHost
		if d.vhost != nil {
			h.VirtualHost = *d.vhost
		}
		if d.enableSNI {
			h.SNI = d.sniName
			if h.SNI == "" {
				h.SNI = h.VirtualHost
			}
		}
		chk.Checker = &h
	case health.KindUDP:
		u := d.udp
		u.Addr, u.Net = addr, np
		if u.MinLen > u.MaxLen && u.MaxLen != 0 {
			return Check{}, &Error{Pos: n.key.pos, Where: c.where, Field: "min_reply_length", Msg: "greater than max_reply_length: the check would always fail"}
		}
		chk.Checker = &u
	case health.KindDNS:
		dn := d.dns
		dn.Addr, dn.Net = addr, np
		chk.Checker = &dn
	case health.KindMisc:
		if !d.hasPath {
			return Check{}, &Error{Pos: n.key.pos, Where: c.where, Field: "misc_path", Msg: "a MISC_CHECK needs misc_path"}
		}
		e := d.exec
		chk.Checker = &e
	}
	return chk, nil
}

// common handles the connection keywords of every network checker (check_api.c).
func (d *checkDraft) common(c ctx, k *node) (bool, error) {
	if d.kind == health.KindMisc {
		return false, nil
	}
	var err error
	switch k.key.text {
	case "connect_ip":
		var a netip.Addr
		if a, err = c.addrValue(k); err == nil {
			d.ip = &a
		}
	case "connect_port":
		var p uint16
		if p, err = c.portValue(k); err == nil {
			if p == 0 {
				return true, c.err(k, "port 0")
			}
			d.port = &p
		}
	case "bindto":
		d.net.Source, err = c.addrValue(k)
	case "bind_port":
		d.net.Port, err = c.portValue(k)
	case "bind_if":
		d.net.Device, err = c.one(k)
	case "fwmark":
		var m uint64
		m, err = c.uint(k, 1, 1<<32-1)
		d.net.Mark = uint32(m)
	default:
		return false, nil
	}
	return true, err
}

func (b *builder) httpKey(c ctx, k *node, d *checkDraft) (bool, error) {
	var err error
	switch k.key.text {
	case "url":
		var u health.URL
		if u, err = b.url(c, k); err == nil {
			d.http.URLs = append(d.http.URLs, u)
		}
	case "virtualhost":
		var s string
		if s, err = c.one(k); err == nil {
			d.vhost = &s
		}
	case "http_protocol":
		var s string
		if s, err = c.one(k); err == nil {
			switch strings.ToUpper(s) {
			case "1.0":
				d.http.Protocol = health.HTTP10
			case "1.0C":
				d.http.Protocol = health.HTTP10C
			case "1.1":
				d.http.Protocol = health.HTTP11
			default:
				err = c.err(k, "want 1.0, 1.0C or 1.1, not "+strconv.Quote(s))
			}
		}
	case "enable_sni":
		d.enableSNI, err = c.flag(k)
	case "sni_name":
		d.sniName, err = c.one(k)
	default:
		return false, nil
	}
	return true, err
}

// url reads a url block: path, digest, status_code, virtualhost, regex, regex_no_match.
func (b *builder) url(c ctx, n *node) (health.URL, error) {
	var u health.URL
	if !n.block {
		return u, c.err(n, "needs a { } block")
	}
	uc := ctx{where: c.where + ": url"}
	for _, k := range n.children {
		var err error
		switch k.key.text {
		case "path":
			var s string
			if s, err = uc.one(k); err == nil {
				if _, perr := url.ParseRequestURI(s); perr != nil {
					err = uc.err(k, "cannot parse "+strconv.Quote(s)+" as a request URL")
				}
				u.Path = s
			}
		case "digest":
			var s string
			if s, err = uc.one(k); err == nil {
				if _, herr := hex.DecodeString(s); len(s) != 32 || herr != nil {
					err = uc.err(k, strconv.Quote(s)+": want 32 hex characters (an MD5 sum as genhash prints it)")
				}
				u.Digest = strings.ToLower(s)
			}
		case "status_code":
			if len(k.args) == 0 {
				err = uc.err(k, "needs a code or a range")
			}
			for _, a := range k.args {
				lo, hi, ok := statusRange(a.text)
				if !ok {
					return u, uc.err(k, "bad status code or range "+strconv.Quote(a.text)+" (100-599)")
				}
				u.Status = append(u.Status, health.StatusRange{Lo: lo, Hi: hi})
			}
		case "virtualhost":
			u.VirtualHost, err = uc.one(k)
		case "regex":
			var s string
			if s, err = uc.one(k); err == nil {
				re, rerr := regexp.Compile(s)
				if rerr != nil {
					err = uc.err(k, "cannot compile "+strconv.Quote(s)+": "+rerr.Error())
				}
				u.Regex = re
			}
		case "regex_no_match":
			u.RegexNoMatch, err = uc.flag(k)
		default:
			b.unknown(k, "url")
		}
		if err != nil {
			return u, err
		}
	}
	if u.Path == "" {
		return u, uc.err(n, "needs a path")
	}
	if u.RegexNoMatch && u.Regex == nil {
		return u, uc.err(n, "regex_no_match without a regex")
	}
	return u, nil
}

func statusRange(s string) (int, int, bool) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	hi := lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, false
		}
	}
	if lo < 100 || hi > 599 || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}

func (d *checkDraft) udpKey(c ctx, k *node) (bool, error) {
	var err error
	switch k.key.text {
	case "payload":
		var s string
		if s, err = c.one(k); err == nil {
			d.udp.Payload, _, err = c.hexMask(k, s, false)
		}
	case "require_reply":
		d.udp.RequireReply = true
		if len(k.args) > 0 {
			var s string
			if s, err = c.one(k); err == nil {
				d.udp.Reply, d.udp.Mask, err = c.hexMask(k, s, true)
			}
		}
	case "min_reply_length":
		var v uint64
		v, err = c.uint(k, 0, 65535)
		d.udp.MinLen = int(v)
	case "max_reply_length":
		var v uint64
		v, err = c.uint(k, 1, 65535)
		d.udp.MaxLen = int(v)
	default:
		return false, nil
	}
	return true, err
}

func (d *checkDraft) dnsKey(c ctx, k *node) (bool, error) {
	var err error
	switch k.key.text {
	case "type":
		var s string
		if s, err = c.one(k); err == nil {
			if _, ok := health.DNSTypes[strings.ToUpper(s)]; !ok {
				err = c.err(k, "unknown DNS type "+strconv.Quote(s)+" (A NS CNAME SOA MX TXT AAAA)")
			}
			d.dns.Type = strings.ToUpper(s)
		}
	case "name":
		var s string
		if s, err = c.one(k); err == nil {
			if _, qerr := health.DNSQuery(0, "A", s); qerr != nil {
				err = c.err(k, qerr.Error())
			}
			d.dns.Name = s
		}
	default:
		return false, nil
	}
	return true, err
}

func (b *builder) miscKey(c ctx, k *node, d *checkDraft) (bool, error) {
	var err error
	switch k.key.text {
	case "misc_path":
		d.exec.Command, err = c.command(k, health.SplitCommand)
		d.hasPath = true
	case "misc_timeout":
		t, terr := c.timer(k, false)
		d.tm.timeout, err = &t, terr
	case "misc_dynamic":
		d.exec.Dynamic, err = c.flag(k)
	case "user":
		b.warn(k, "MISC_CHECK user is not implemented; the command runs as the daemon's user")
	default:
		return false, nil
	}
	return true, err
}
