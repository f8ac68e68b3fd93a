package keepalived

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/vrrp"
)

// VRRPInstance is one vrrp_instance block.
type VRRPInstance struct {
	Pos       Pos
	Name      string
	State     string // MASTER or BACKUP, as written (BACKUP when absent)
	Interface string
	VRID      uint8
	Priority  uint8         // 100 when absent
	AdvertInt time.Duration // 1 s when absent
	// Version is the instance's version, or global_defs vrrp_version, or
	// 2; IPv6 instances are always 3.
	Version      int
	NoPreempt    bool
	PreemptDelay time.Duration
	AuthPass     string // auth_type PASS's password; AH is refused
	VIPs         []VIP
	// UnicastSrc and UnicastPeers replace multicast where it is not
	// carried.
	UnicastSrc   netip.Addr
	UnicastPeers []netip.Addr
	// TrackInterfaces and TrackScripts lower (or raise) the priority by
	// their weight while their object is down; weight 0 means fault.
	TrackInterfaces []Track
	TrackScripts    []Track
	// Notify scripts: Notify gets keepalived's four arguments.
	Notify, NotifyMaster, NotifyBackup, NotifyFault, NotifyStop []string
	// GARPMasterDelay, GARPMasterRepeat, GARPMasterRefresh: the
	// instance's values or global_defs' vrrp_garp_master_*; a delay
	// written as 0 is NoSecondBurst.
	GARPMasterDelay   time.Duration
	GARPMasterRepeat  int
	GARPMasterRefresh time.Duration
}

// VIP is one virtual_ipaddress line.
type VIP struct {
	Prefix netip.Prefix
	Dev    string // the instance's interface when absent
}

// Track is one track_interface or track_script line.
type Track struct {
	Name   string
	Weight int
	// WeightSet says the line gave a weight; a track_script line without
	// one takes its vrrp_script's.
	WeightSet bool
	Pos       Pos
}

// VRRPScript is one vrrp_script block.
type VRRPScript struct {
	Pos      Pos
	Name     string
	Script   []string
	Interval time.Duration // 1 s
	Timeout  time.Duration // the interval
	Weight   int
	Rise     int // 1
	Fall     int // 1
}

// SyncDaemon is global_defs' lvs_sync_daemon line.
type SyncDaemon struct {
	Interface string
	Instance  string // with inst: master only while that instance is MASTER
	SyncID    uint8  // 0 (keepalived's default)
	MaxLen    int
	Port      int
	TTL       int
	Group     netip.Addr
}

// globalVRRP reads the VRRP keywords of global_defs; ok is false for
// another keyword.
func (b *builder) globalVRRP(c ctx, k *node) (ok bool, err error) {
	g := &b.cfg.Global
	switch k.key.text {
	case "vrrp_version":
		var v uint64
		v, err = c.uint(k, 2, 3)
		g.VRRPVersion = int(v)
	case "vrrp_garp_master_delay":
		g.GARPMasterDelay, err = garpDelay(c.timer(k, true))
	case "vrrp_garp_master_repeat":
		g.GARPMasterRepeat, err = c.int(k, 1)
	case "vrrp_garp_master_refresh":
		g.GARPMasterRefresh, err = c.timer(k, true)
	case "lvs_sync_daemon":
		g.SyncDaemon, err = c.syncDaemon(k)
	default:
		return false, nil
	}
	return true, err
}

// syncDaemon reads `lvs_sync_daemon IF [inst VI] [id N] [maxlen L] [port P]
// [ttl T] [group G]` (the instance may also stand bare after the
// interface, as older keepalived wrote it).
func (c ctx) syncDaemon(k *node) (*SyncDaemon, error) {
	if len(k.args) == 0 {
		return nil, c.err(k, "needs an interface")
	}
	d := &SyncDaemon{Interface: k.args[0].text}
	args := k.args[1:]
	if len(args)%2 == 1 {
		d.Instance, args = args[0].text, args[1:]
	}
	for i := 0; i < len(args); i += 2 {
		key, val := args[i].text, args[i+1].text
		n, nerr := strconv.ParseUint(val, 10, 32)
		bad := func(want string) error { return c.err(k, key+" "+strconv.Quote(val)+": want "+want) }
		switch key {
		case "inst":
			d.Instance = val
		case "id":
			if nerr != nil || n > 255 {
				return nil, bad("0..255")
			}
			d.SyncID = uint8(n)
		case "maxlen":
			if nerr != nil || n < 1 || n > 65507 {
				return nil, bad("1..65507")
			}
			d.MaxLen = int(n)
		case "port":
			if nerr != nil || n < 1 || n > 65535 {
				return nil, bad("1..65535")
			}
			d.Port = int(n)
		case "ttl":
			if nerr != nil || n < 1 || n > 255 {
				return nil, bad("1..255")
			}
			d.TTL = int(n)
		case "group":
			a, ok := parseAddr(val)
			if !ok || !a.IsMulticast() {
				return nil, bad("a multicast address")
			}
			d.Group = a
		default:
			return nil, c.err(k, "unknown option "+strconv.Quote(key))
		}
	}
	return d, nil
}

func (b *builder) vrrpInstance(n *node) error {
	c := ctx{where: "vrrp_instance"}
	if err := c.argc(n, 1, 1); err != nil {
		return err
	}
	v := &VRRPInstance{Pos: n.key.pos, Name: n.args[0].text, State: "BACKUP", Priority: 100, AdvertInt: time.Second}
	c.where += " " + v.Name
	if !n.block {
		return c.err(n, "needs a { } block")
	}
	var version uint64
	for _, k := range n.children {
		var err error
		switch k.key.text {
		case "state":
			var s string
			if s, err = c.one(k); err == nil {
				s = strings.ToUpper(s)
				if s != "MASTER" && s != "BACKUP" {
					return c.err(k, "want MASTER or BACKUP, not "+strconv.Quote(s))
				}
				v.State = s
			}
		case "interface":
			v.Interface, err = c.one(k)
		case "virtual_router_id":
			var id uint64
			id, err = c.uint(k, 1, 255)
			v.VRID = uint8(id)
		case "priority":
			var p uint64
			p, err = c.uint(k, 1, 255)
			v.Priority = uint8(p)
		case "advert_int":
			v.AdvertInt, err = c.timer(k, false)
		case "version":
			version, err = c.uint(k, 2, 3)
		case "nopreempt":
			v.NoPreempt = true
		case "preempt":
			v.NoPreempt = false
		case "preempt_delay":
			v.PreemptDelay, err = c.timer(k, true)
			if err == nil && v.PreemptDelay > 1000*time.Second {
				return c.err(k, "at most 1000 seconds")
			}
		case "authentication":
			err = c.auth(k, v)
		case "virtual_ipaddress":
			err = c.vips(k, v, b)
		case "unicast_src_ip":
			v.UnicastSrc, err = c.addrValue(k)
		case "unicast_peer":
			for _, p := range k.children {
				a, aerr := c.addr(p, p.key)
				if aerr != nil {
					return aerr
				}
				v.UnicastPeers = append(v.UnicastPeers, a)
			}
		case "track_interface", "track_script":
			for _, t := range k.children {
				tr := Track{Name: t.key.text, Pos: t.key.pos}
				if len(t.args) == 2 && t.args[0].text == "weight" {
					w, werr := c.weight(t, t.args[1])
					if werr != nil {
						return werr
					}
					tr.Weight, tr.WeightSet = w, true
				} else if len(t.args) != 0 {
					return c.err(t, "want <name> [weight N]")
				}
				if k.key.text == "track_interface" {
					v.TrackInterfaces = append(v.TrackInterfaces, tr)
				} else {
					v.TrackScripts = append(v.TrackScripts, tr)
				}
			}
		case "notify":
			v.Notify, err = c.command(k, health.SplitCommand)
		case "notify_master":
			v.NotifyMaster, err = c.command(k, health.SplitCommand)
		case "notify_backup":
			v.NotifyBackup, err = c.command(k, health.SplitCommand)
		case "notify_fault":
			v.NotifyFault, err = c.command(k, health.SplitCommand)
		case "notify_stop":
			v.NotifyStop, err = c.command(k, health.SplitCommand)
		case "garp_master_delay":
			v.GARPMasterDelay, err = garpDelay(c.timer(k, true))
		case "garp_master_repeat":
			v.GARPMasterRepeat, err = c.int(k, 1)
		case "garp_master_refresh":
			v.GARPMasterRefresh, err = c.timer(k, true)
		default:
			b.unknown(k, c.where)
		}
		if err != nil {
			return err
		}
	}
	switch {
	case v.Interface == "":
		return c.err(n, "needs an interface")
	case v.VRID == 0:
		return c.err(n, "needs a virtual_router_id")
	case len(v.VIPs) == 0:
		return c.err(n, "needs a virtual_ipaddress block")
	}
	if (v.NoPreempt || v.PreemptDelay > 0) && v.State == "MASTER" {
		b.warn(n, c.where+": nopreempt and preempt_delay need state BACKUP; ignored")
		v.NoPreempt, v.PreemptDelay = false, 0
	}
	v.Version = int(version)
	if v.Version == 0 {
		v.Version = max(b.cfg.Global.VRRPVersion, 2)
	}
	if v.VIPs[0].Prefix.Addr().Is6() {
		v.Version = 3
	}
	if v.Version == 2 && v.AdvertInt%time.Second != 0 {
		return c.err(n, "advert_int "+v.AdvertInt.String()+": version 2 takes whole seconds")
	}
	if v.Version == 3 && v.AuthPass != "" {
		b.warn(n, c.where+": authentication is not part of VRRP version 3; ignored")
		v.AuthPass = ""
	}
	b.cfg.VRRPInstances = append(b.cfg.VRRPInstances, v)
	return nil
}

func (c ctx) auth(k *node, v *VRRPInstance) error {
	typ := ""
	for _, a := range k.children {
		switch a.key.text {
		case "auth_type":
			s, err := c.one(a)
			if err != nil {
				return err
			}
			typ = strings.ToUpper(s)
			if typ != "PASS" {
				return c.err(a, "auth_type "+strconv.Quote(s)+": only PASS is implemented")
			}
		case "auth_pass":
			s, err := c.one(a)
			if err != nil {
				return err
			}
			if len(s) > 8 {
				s = s[:8] // keepalived keeps the first 8 bytes
			}
			v.AuthPass = s
		default:
			return c.err(a, "unknown keyword in authentication")
		}
	}
	if typ != "PASS" || v.AuthPass == "" {
		return c.err(k, "needs auth_type PASS and an auth_pass")
	}
	return nil
}

// vips reads virtual_ipaddress lines: <address>[/len] [dev IF] and
// keepalived's other options, which are warned about.
func (c ctx) vips(k *node, v *VRRPInstance, b *builder) error {
	for _, l := range k.children {
		text := l.key.text
		var p netip.Prefix
		var err error
		if strings.Contains(text, "/") {
			p, err = netip.ParsePrefix(text)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(text)
			if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return c.err(l, "bad virtual address "+strconv.Quote(text))
		}
		vip := VIP{Prefix: p, Dev: v.Interface}
		for i := 0; i < len(l.args); i++ {
			switch opt := l.args[i].text; opt {
			case "dev":
				if i+1 >= len(l.args) {
					return c.err(l, "dev needs an interface")
				}
				vip.Dev = l.args[i+1].text
				i++
			default:
				b.warn(l, c.where+": virtual_ipaddress option "+strconv.Quote(opt)+" is not implemented; ignored")
				i = len(l.args)
			}
		}
		if len(v.VIPs) > 0 && v.VIPs[0].Prefix.Addr().Is6() != p.Addr().Is6() {
			return c.err(l, "addresses of both families in one instance")
		}
		v.VIPs = append(v.VIPs, vip)
	}
	return nil
}

func (b *builder) vrrpScript(n *node) error {
	c := ctx{where: "vrrp_script"}
	if err := c.argc(n, 1, 1); err != nil {
		return err
	}
	s := &VRRPScript{Pos: n.key.pos, Name: n.args[0].text, Interval: time.Second, Rise: 1, Fall: 1}
	c.where += " " + s.Name
	timeoutSet := false
	for _, k := range n.children {
		var err error
		switch k.key.text {
		case "script":
			s.Script, err = c.command(k, health.SplitCommand)
		case "interval":
			s.Interval, err = c.timer(k, false)
		case "timeout":
			s.Timeout, err = c.timer(k, false)
			timeoutSet = true
		case "weight":
			if err = c.argc(k, 1, 1); err == nil {
				s.Weight, err = c.weight(k, k.args[0])
			}
		case "rise":
			s.Rise, err = c.int(k, 1)
		case "fall":
			s.Fall, err = c.int(k, 1)
		default:
			b.unknown(k, c.where)
		}
		if err != nil {
			return err
		}
	}
	if len(s.Script) == 0 {
		return c.err(n, "needs a script")
	}
	if !timeoutSet {
		s.Timeout = s.Interval
	}
	b.cfg.VRRPScripts = append(b.cfg.VRRPScripts, s)
	return nil
}

// weight reads a tracking weight: how much a tracked object's failure
// lowers (or raises) the priority, -253..253 as keepalived allows.
func (c ctx) weight(n *node, t token) (int, error) {
	w, err := strconv.Atoi(t.text)
	if err != nil || w < -253 || w > 253 {
		return 0, c.err(n, "weight "+strconv.Quote(t.text)+": want -253..253")
	}
	return w, nil
}

// Instance maps v onto what package vrrp runs, with global_defs' defaults
// (g) for the announcement bursts. Tracking and notify scripts stay with
// the daemon that runs it.
func (v *VRRPInstance) Instance(g Global) vrrp.Instance {
	in := vrrp.Instance{
		Name:      v.Name,
		Interface: v.Interface,
		Config: vrrp.Config{VRID: v.VRID, Priority: v.Priority, Interval: v.AdvertInt, Version: v.Version,
			NoPreempt: v.NoPreempt, PreemptDelay: v.PreemptDelay},
		AuthPass:     v.AuthPass,
		UnicastPeers: v.UnicastPeers,
		GARPRepeat:   pick(5, nonZero(g.GARPMasterRepeat), nonZero(v.GARPMasterRepeat)),
		GARPDelay:    pick(5*time.Second, nonZero(g.GARPMasterDelay), nonZero(v.GARPMasterDelay)),
		GARPRefresh:  pick(0, nonZero(g.GARPMasterRefresh), nonZero(v.GARPMasterRefresh)),
	}
	in.Primary = v.UnicastSrc
	for _, p := range v.VIPs {
		in.VIPs = append(in.VIPs, p.Prefix)
	}
	return in
}

// NoSecondBurst is a garp_master_delay of 0: no second burst of
// announcements (vrrp.Instance.GARPDelay takes it as is).
const NoSecondBurst = -time.Nanosecond

// garpDelay tells a written 0 (no second burst) from an absent value.
func garpDelay(d time.Duration, err error) (time.Duration, error) {
	if err == nil && d == 0 {
		d = NoSecondBurst
	}
	return d, err
}

// nonZero is a pointer to x, or nil for x's zero value (pick's "not set").
func nonZero[T comparable](x T) *T {
	var zero T
	if x == zero {
		return nil
	}
	return &x
}

// Tracks maps the instance's track_interface and track_script lines onto
// package vrrp's tracking, with the file's vrrp_script blocks; a
// track_script naming no vrrp_script is refused at its line.
func (v *VRRPInstance) Tracks(scripts []*VRRPScript) ([]vrrp.Track, error) {
	var out []vrrp.Track
	for _, t := range v.TrackInterfaces {
		out = append(out, vrrp.Track{Interface: t.Name, Weight: t.Weight})
	}
	for _, t := range v.TrackScripts {
		i := slices.IndexFunc(scripts, func(s *VRRPScript) bool { return s.Name == t.Name })
		if i < 0 {
			return nil, &Error{Pos: t.Pos, Where: "vrrp_instance " + v.Name, Field: "track_script",
				Msg: "no vrrp_script " + strconv.Quote(t.Name)}
		}
		sc := scripts[i]
		w := sc.Weight
		if t.WeightSet {
			w = t.Weight
		}
		out = append(out, vrrp.Track{Script: sc.Script, Interval: sc.Interval, Timeout: sc.Timeout,
			Rise: sc.Rise, Fall: sc.Fall, Weight: w})
	}
	return out, nil
}

// Scripts returns the instance's notify scripts for vrrp.Scripts.OnState.
func (v *VRRPInstance) Scripts() vrrp.Scripts {
	return vrrp.Scripts{Notify: v.Notify, Master: v.NotifyMaster, Backup: v.NotifyBackup,
		Fault: v.NotifyFault, Stop: v.NotifyStop}
}
