package keepalived

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/health"
)

// ParseFile reads the keepalived.conf at path, following its includes on the file system.
func ParseFile(path string) (*Config, error) {
	src, err := Loader{}.read(path)
	if err != nil {
		return nil, err
	}
	return Loader{}.Parse(path, src)
}

// Parse reads src as the file name (which places relative includes), with the OS loader.
func Parse(name string, src []byte) (*Config, error) { return Loader{}.Parse(name, src) }

// Parse reads src as the file name, reading includes through l. On error the Config is nil:
// a file is taken whole or not at all.
func (l Loader) Parse(name string, src []byte) (*Config, error) {
	lx := &lexer{loader: l}
	if err := lx.file(name, src, 0); err != nil {
		return nil, err
	}
	nodes, err := tree(lx.toks)
	if err != nil {
		return nil, err
	}
	b := &builder{cfg: &Config{Groups: map[string]*Group{}, Warnings: lx.warnings}}
	if err := b.top(nodes); err != nil {
		return nil, err
	}
	if err := b.resolveGroups(); err != nil {
		return nil, err
	}
	return b.cfg, nil
}

type builder struct {
	cfg *Config
}

func (b *builder) warn(n *node, msg string) {
	b.cfg.Warnings = append(b.cfg.Warnings, Warning{n.key.pos, msg})
}

func (b *builder) unknown(n *node, in string) {
	if strings.HasPrefix(n.key.text, "@") {
		// keepalived's @name prefix makes a line apply on one host only; this reader cannot
		// know which host it is, so the line (and its block) is left out, loudly.
		b.warn(n, "conditional line "+n.key.text+" is not implemented; ignored with its block")
		return
	}
	what := "keyword"
	if n.block {
		what = "block"
	}
	b.warn(n, what+" "+strconv.Quote(n.key.text)+" in "+in+" is not implemented; ignored")
}

// Top-level blocks of keepalived.conf that belong to the VRRP, BFD or other processes.
var otherProcesses = map[string]bool{
	"vrrp_sync_group": true, "vrrp_track_process": true,
	"vrrp_track_file": true, "static_ipaddress": true, "static_routes": true, "static_rules": true,
	"bfd_instance": true, "linkbeat_interfaces": true, "track_file": true, "garp_group": true,
	"SSL": true, "global_notification": true,
}

func (b *builder) top(nodes []*node) error {
	c := ctx{}
	for _, n := range nodes {
		switch n.key.text {
		case "global_defs":
			if err := b.global(n); err != nil {
				return err
			}
		case "virtual_server_group":
			if err := b.group(n); err != nil {
				return err
			}
		case "virtual_server":
			if err := b.virtualServer(n); err != nil {
				return err
			}
		case "vrrp_instance":
			if err := b.vrrpInstance(n); err != nil {
				return err
			}
		case "vrrp_script":
			if err := b.vrrpScript(n); err != nil {
				return err
			}
		default:
			if n.key.quoted {
				return c.err(n, "a quoted word cannot start a statement")
			}
			if otherProcesses[n.key.text] {
				b.warn(n, strconv.Quote(n.key.text)+" is not read by xvs's checker configuration; ignored")
			} else {
				b.unknown(n, "the top level")
			}
		}
	}
	return nil
}

func (b *builder) global(n *node) error {
	c := ctx{where: "global_defs"}
	for _, k := range n.children {
		switch k.key.text {
		case "router_id":
			v, err := c.one(k)
			if err != nil {
				return err
			}
			b.cfg.Global.RouterID = v
		default:
			if ok, err := b.globalVRRP(c, k); ok {
				if err != nil {
					return err
				}
				continue
			}
			b.unknown(k, "global_defs")
		}
	}
	return nil
}

func (b *builder) group(n *node) error {
	c := ctx{where: "virtual_server_group"}
	if err := c.argc(n, 1, 1); err != nil {
		return err
	}
	if !n.block {
		return c.err(n, "needs a { } block")
	}
	g := &Group{Pos: n.key.pos, Name: n.args[0].text}
	if _, dup := b.cfg.Groups[g.Name]; dup {
		return c.err(n, "group "+strconv.Quote(g.Name)+" defined twice")
	}
	c.where += " " + g.Name
	for _, k := range n.children {
		e := GroupEntry{Pos: k.key.pos}
		if k.key.text == "fwmark" {
			v, err := c.uint(k, 1, 1<<32-1)
			if err != nil {
				return err
			}
			e.FWMark = uint32(v)
		} else {
			if len(k.args) != 1 {
				return c.err(k, "want an address (or range) and a port")
			}
			first, last, err := addrRange(k.key.text)
			if err != nil {
				return &Error{Pos: k.key.pos, Where: c.where, Msg: err.Error()}
			}
			p, ok := parsePort(k.args[0].text)
			if !ok {
				return &Error{Pos: k.key.pos, Where: c.where, Msg: "bad port " + strconv.Quote(k.args[0].text)}
			}
			e.First, e.Last, e.Port = first, last, p
		}
		g.Entries = append(g.Entries, e)
	}
	b.cfg.Groups[g.Name] = g
	return nil
}

// addrRange reads "10.0.0.1" or keepalived's "10.0.0.1-20" (the last byte, or the last
// 16-bit group in hex for IPv6, runs up to the number after the dash).
func addrRange(s string) (netip.Addr, netip.Addr, error) {
	base, end, ranged := strings.Cut(s, "-")
	a, ok := parseAddr(base)
	if !ok {
		return a, a, &Error{Msg: "bad address " + strconv.Quote(s)}
	}
	if !ranged {
		return a, a, nil
	}
	b := a.As16()
	if a.Is4() {
		v, err := strconv.ParseUint(end, 10, 8)
		if err != nil || byte(v) < b[15] {
			return a, a, &Error{Msg: "bad address range " + strconv.Quote(s)}
		}
		b[15] = byte(v)
	} else {
		v, err := strconv.ParseUint(end, 16, 16)
		if err != nil || uint16(v) < uint16(b[14])<<8|uint16(b[15]) {
			return a, a, &Error{Msg: "bad address range " + strconv.Quote(s)}
		}
		b[14], b[15] = byte(v>>8), byte(v)
	}
	last := netip.AddrFrom16(b)
	if a.Is4() {
		last = last.Unmap()
	}
	return a, last, nil
}

func (b *builder) resolveGroups() error {
	for _, v := range b.cfg.VirtualServers {
		if v.Group != "" {
			if _, ok := b.cfg.Groups[v.Group]; !ok {
				return &Error{Pos: v.Pos, Where: "virtual_server group " + v.Group, Msg: "no virtual_server_group of that name"}
			}
		}
	}
	b.cfg.nameGroups()
	return nil
}

// timingOpt holds timing keywords given at one level; nil means "inherit".
type timingOpt struct {
	delayLoop, timeout, dbr, warmup *time.Duration
	retry                           *int
	alpha                           *bool
}

// set handles the timing keywords every level shares; it reports whether n was one.
func (t *timingOpt) set(c ctx, n *node) (bool, error) {
	var dst **time.Duration
	zeroOK := false
	switch n.key.text {
	case "delay_loop":
		dst = &t.delayLoop
	case "connect_timeout":
		dst = &t.timeout
	case "delay_before_retry":
		dst = &t.dbr
	case "warmup":
		dst, zeroOK = &t.warmup, true
	case "retry", "nb_get_retry":
		v, err := c.uint(n, 0, 1<<31-1)
		if err != nil {
			return true, err
		}
		r := int(v)
		t.retry = &r
		return true, nil
	case "alpha":
		v, err := c.flag(n)
		if err != nil {
			return true, err
		}
		t.alpha = &v
		return true, nil
	default:
		return false, nil
	}
	d, err := c.timer(n, zeroOK)
	if err != nil {
		return true, err
	}
	*dst = &d
	return true, nil
}

func pick[T any](def T, levels ...*T) T {
	for _, l := range levels {
		if l != nil {
			return *l
		}
	}
	return def
}

// resolve is keepalived's inheritance: checker, then real server, then virtual server, then
// the kind's default.
func resolve(kind health.Kind, chk, rs, vs *timingOpt) (health.Timing, bool) {
	dl := pick(health.DefaultDelayLoop, chk.delayLoop, rs.delayLoop, vs.delayLoop)
	t := health.DefaultTiming(kind, dl)
	if kind != health.KindMisc {
		t.Timeout = pick(t.Timeout, chk.timeout, rs.timeout, vs.timeout)
	} else {
		t.Timeout = pick(t.Timeout, chk.timeout)
	}
	t.Retry = pick(t.Retry, chk.retry, rs.retry, vs.retry)
	t.DelayBeforeRetry = pick(t.DelayBeforeRetry, chk.dbr, rs.dbr, vs.dbr)
	t.Warmup = pick(t.Warmup, chk.warmup, rs.warmup, vs.warmup)
	return t, pick(false, chk.alpha, rs.alpha, vs.alpha)
}
