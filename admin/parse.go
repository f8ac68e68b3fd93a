package admin

import (
	"errors"
	"math"
	"strings"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/sched"
	"github.com/xvs-project/xvs/service"
)

// maxTimeout is ipvsadm's largest timeout: 31 days, in seconds.
const maxTimeout = 86400 * 31

// Parse reads one ipvsadm command line (without the program name). It
// accepts what ipvsadm 1.31 accepts, rejects what it rejects with its
// messages (as *SyntaxError), and fills in its defaults: scheduler wlc,
// persistence 300 s for a bare -p, weight 1 and direct routing for real
// servers. An empty line lists the table, as ipvsadm does without arguments.
// r resolves host and service names; nil means WellKnown().
//
// Beyond ipvsadm: -f names a service group (xvs has no firewall marks) and
// --match PROTO:PREFIX[:PORTS] (repeatable) gives a group's traffic when -A
// or -E creates or changes it; typographic dashes pasted from documents
// ("–stats") are read as ASCII ones.
func Parse(args []string, r Resolver) (*Command, error) {
	r = orWellKnown(r)
	if len(args) == 0 {
		return &Command{Op: OpList}, nil
	}
	p := &parser{r: r, a: newArgv(args)}
	return p.parse()
}

// parser holds the state of one command line while its options are read.
type parser struct {
	r   Resolver
	a   *argv
	cmd Command
	set optSet

	svcArg, realArg, maskArg, schedFlags string
	tunType                              string
	matches                              []service.Match
	method                               service.Method
}

func (p *parser) mark(o opt) error {
	if p.set.has(o) {
		return syntaxf(ErrMultipleOptions, "multiple '%s' options specified", optNames[o])
	}
	p.set |= 1 << o
	return nil
}

func (p *parser) parse() (*Command, error) {
	c := &p.cmd
	t, ok, err := p.a.next()
	if err != nil || !ok || t.f.cmd == OpNone {
		return nil, &SyntaxError{Msg: "Try `xvsadm -h' or 'xvsadm --help' for more information.", Kind: ErrTryHelp, Status: 255}
	}
	c.Op = t.f.cmd
	switch c.Op {
	case OpHelp, OpVersion:
		return c, nil
	case OpSetCapacity:
		n, ok := number(t.val, 1, math.MaxInt32)
		if !ok {
			return nil, syntaxf(ErrInvalidOption, "illegal capacity specified")
		}
		c.Capacity = int(n)
	case OpStartDaemon, OpStopDaemon:
		if t.val != "master" && t.val != "backup" {
			if c.Op == OpStartDaemon {
				return nil, syntaxf(ErrInvalidOption, "illegal start-daemon parameter specified")
			}
			return nil, syntaxf(ErrInvalidOption, "illegal start_daemon specified")
		}
		c.SyncRole = control.SyncRole(t.val)
	}
	for {
		t, ok, err := p.a.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if err := p.option(t); err != nil {
			return nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// option handles one option after the command, in command-line order, so
// the first bad value is the one reported, as with ipvsadm.
func (p *parser) option(t token) error {
	c := &p.cmd
	if t.f.cmd != OpNone {
		return syntaxf(ErrInvalidOption, "invalid option `%s'", t.word)
	}
	switch t.f.id {
	case fTCP, fUDP:
		if err := p.mark(optService); err != nil {
			return err
		}
		proto := service.TCP
		if t.f.id == fUDP {
			proto = service.UDP
		}
		hp, ok := parseHostPort(t.val, proto, p.r)
		if !ok {
			return syntaxf(ErrIllegalService, "illegal virtual server address[:port] specified")
		}
		c.HasService = true
		c.Service.Proto, c.Service.Addr, c.Service.Port = proto, hp.addr, hp.port
		p.svcArg = t.val
	case fSCTP:
		if err := p.mark(optService); err != nil {
			return err
		}
		return syntaxf(ErrUnsupported, "SCTP services are not supported by xvs (tcp and udp only)")
	case fGroup:
		if err := p.mark(optService); err != nil {
			return err
		}
		if !validGroup(t.val) {
			return syntaxf(ErrInvalidGroup, "invalid service group `%s' specified", t.val)
		}
		c.HasService = true
		c.Service.Group = t.val
	case fScheduler:
		if err := p.mark(optScheduler); err != nil {
			return err
		}
		c.Service.Scheduler = t.val
	case fPersistent:
		if err := p.mark(optPersistent); err != nil {
			return err
		}
		secs := int64(service.DefaultPersistTimeout / time.Second)
		if t.hasVal {
			n, ok := number(t.val, 1, maxTimeout)
			if !ok {
				return syntaxf(ErrInvalidTimeout, "invalid timeout value `%s' specified", t.val)
			}
			secs = n
		}
		c.Service.Persistence = &service.Persistence{Timeout: time.Duration(secs) * time.Second}
	case fNetmask:
		if err := p.mark(optNetmask); err != nil {
			return err
		}
		p.maskArg = t.val
	case fReal:
		if err := p.mark(optServer); err != nil {
			return err
		}
		p.realArg = t.val
		c.HasReal = true
	case fMasq, fIPIP, fGate:
		if err := p.mark(optForward); err != nil {
			return err
		}
		p.method = map[flagID]service.Method{fMasq: service.MethodNAT, fIPIP: service.MethodTUN, fGate: service.MethodDR}[t.f.id]
	case fWeight:
		if err := p.mark(optWeight); err != nil {
			return err
		}
		n, ok := number(t.val, 0, service.MaxWeight)
		if !ok {
			return syntaxf(ErrIllegalWeight, "illegal weight specified")
		}
		c.Real.Weight = int32(n)
	case fUThreshold, fLThreshold:
		o, name := optUThreshold, "u_threshold"
		if t.f.id == fLThreshold {
			o, name = optLThreshold, "l_threshold"
		}
		if err := p.mark(o); err != nil {
			return err
		}
		n, ok := number(t.val, 0, math.MaxInt32)
		if !ok {
			return syntaxf(ErrIllegalThreshold, "illegal %s specified", name)
		}
		if o == optUThreshold {
			c.Real.UpperThreshold = uint32(n)
		} else {
			c.Real.LowerThreshold = uint32(n)
		}
	case fSort:
		// Sorting is the default; ipvsadm keeps --sort for old scripts.
	case fIPv6:
		if c.Service.Group == "" {
			return syntaxf(ErrInvalidOption, "-6 used before -f")
		}
		// A group's family comes from its matches.
	case fSyncID:
		if err := p.mark(optSyncID); err != nil {
			return err
		}
		n, ok := number(t.val, 0, 255)
		if !ok {
			return syntaxf(ErrInvalidOption, "illegal syncid specified")
		}
		c.Sync.SyncID = uint8(n)
	case fMcastIf, fMcastGroup, fMcastPort, fMcastTTL, fSyncMaxLen:
		return p.daemonOption(t)
	case fTunType:
		if err := p.mark(optTunType); err != nil {
			return err
		}
		typ, err := service.ParseTunType(t.val)
		if err != nil {
			return syntaxf(ErrTunnel, "illegal tunnel type specified")
		}
		p.tunType = t.val
		c.Real.Tunnel.Type = typ
	case fTunPort:
		if err := p.mark(optTunPort); err != nil {
			return err
		}
		n, ok := number(t.val, 1, 65535)
		if !ok {
			return syntaxf(ErrTunnel, "illegal tunnel port specified")
		}
		c.Real.Tunnel.Port = uint16(n)
	case fSchedFlags:
		if err := p.mark(optSchedFlags); err != nil {
			return err
		}
		p.schedFlags = t.val
	case fDrops:
		if c.Drops {
			return syntaxf(ErrInvalidOption, "multiple 'drops' options specified")
		}
		c.Drops = true
	case fMH:
		if c.MH {
			return syntaxf(ErrInvalidOption, "multiple 'mh' options specified")
		}
		c.MH = true
	case fBGP:
		if c.BGP {
			return syntaxf(ErrInvalidOption, "multiple 'bgp' options specified")
		}
		c.BGP = true
	case fMatch:
		p.set |= 1 << optMatch
		m, err := ParseMatch(t.val)
		if err != nil {
			return err
		}
		p.matches = append(p.matches, m)
	default:
		// The options that only set a bit (and a display format).
		o, ok := simpleOpts[t.f.id]
		if !ok {
			return syntaxf(ErrInvalidOption, "invalid option `%s'", t.word)
		}
		if err := p.mark(o); err != nil {
			return err
		}
		f := &c.Format
		switch o {
		case optNumeric:
			f.Numeric = true
		case optConnection:
			c.Connections = true
		case optTimeout:
			c.ShowTimeouts = true
		case optDaemon:
			c.Daemon = true
		case optStats:
			f.Stats = true
		case optRate:
			f.Rate = true
		case optThresholds:
			f.Thresholds = true
		case optPersistConn:
			f.PersistentConn = true
		case optNoSort:
			f.NoSort = true
		case optExact:
			f.Exact = true
		case optTunInfo:
			f.TunInfo = true
		case optTunCsum:
			c.Real.Tunnel.Csum = service.TunCsum
		case optTunRemCsum:
			c.Real.Tunnel.Csum = service.TunRemCsum
		case optOps:
			c.Service.OnePacket = true
		}
	}
	return nil
}

// simpleOpts are the options whose only effect is their bit.
var simpleOpts = map[flagID]opt{
	fNumeric: optNumeric, fConnection: optConnection,
	fTimeout: optTimeout, fDaemon: optDaemon, fStats: optStats, fRate: optRate,
	fThresholds: optThresholds, fPersistConn: optPersistConn, fNoSort: optNoSort,
	fExact: optExact, fOps: optOps, fPE: optPE,
	fTunInfo: optTunInfo, fTunNoCsum: optTunNoCsum, fTunCsum: optTunCsum,
	fTunRemCsum: optTunRemCsum,
}

// finish runs the checks ipvsadm makes once every option is read, in its
// order, and fills in the defaults.
func (p *parser) finish() error {
	c := &p.cmd
	pos := p.a.positional()
	if c.Op == OpSetTimeouts {
		if len(pos) < 3 {
			return syntaxf(ErrMissingArgument, "--set option requires 3 timeout values")
		}
		var v [3]time.Duration
		for i := range v {
			n, ok := number(pos[i], 0, maxTimeout)
			if !ok {
				return syntaxf(ErrInvalidTimeout, "invalid timeout value `%s' specified", pos[i])
			}
			v[i] = time.Duration(n) * time.Second
		}
		c.Timeouts = service.Timeouts{TCP: v[0], TCPFin: v[1], UDP: v[2]}
		pos = pos[3:]
	}
	if len(pos) > 0 {
		return syntaxf(ErrUnexpectedArg, "unexpected argument %s", pos[0])
	}
	if p.schedFlags != "" {
		if err := p.parseSchedFlags(); err != nil {
			return err
		}
	}
	if err := check(c.Op, p.set); err != nil {
		return err
	}
	if c.Op == OpStartDaemon && c.Sync.Interface == "" {
		c.Sync.Interface = defaultMcastInterface
	}
	if err := p.checkListing("drops", p.cmd.Drops); err != nil {
		return err
	}
	if err := p.checkListing("mh", p.cmd.MH); err != nil {
		return err
	}
	if err := p.checkBGP(); err != nil {
		return err
	}
	if p.maskArg != "" {
		if err := p.parseNetmask(); err != nil {
			return err
		}
	}
	if p.realArg != "" {
		hp, ok := parseHostPort(p.realArg, c.Service.Proto, p.r)
		if !ok {
			return syntaxf(ErrIllegalReal, "illegal real server address[:port] specified")
		}
		c.Real.Addr, c.Real.Port = hp.addr, hp.port
		if !hp.hasPort {
			// ipvsadm copies the service's port to a real server given
			// without one.
			c.Real.Port = c.Service.Port
		}
	}
	switch c.Op {
	case OpAddService, OpEditService:
		s := &c.Service
		if s.Group == "" && s.Port == 0 && s.Persistence == nil {
			return syntaxf(service.ErrZeroPort, "Zero port specified for non-persistent service")
		}
		if s.OnePacket && s.Group == "" && s.Proto != service.UDP {
			return syntaxf(service.ErrOnePacketNoUDP, "One-Packet Scheduling is only for UDP virtual services")
		}
		if s.Scheduler == "" {
			s.Scheduler = service.DefaultScheduler
		}
		if p.set.has(optPE) {
			return syntaxf(service.ErrNoScheduler, "Scheduler or persistence engine not found")
		}
		s.Matches = p.matches
		if s.Group == "" && len(p.matches) > 0 {
			return syntaxf(ErrInvalidMatch, "--match belongs to a service group (-f NAME)")
		}
	case OpAddReal, OpEditReal:
		if err := p.finishReal(); err != nil {
			return err
		}
	case OpList:
		if (p.set.has(optConnection) || p.set.has(optTimeout) || p.set.has(optDaemon)) &&
			(p.set.has(optStats) || p.set.has(optRate) || p.set.has(optThresholds)) ||
			(p.set.has(optTimeout) || p.set.has(optDaemon)) && p.set.has(optPersistConn) {
			return syntaxf(ErrConflict, "options conflicts in the list command")
		}
	}
	if c.Op != OpAddService && c.Op != OpEditService {
		// Only -A and -E define a service; elsewhere the key is all.
		c.Service = service.Service{Proto: c.Service.Proto, Addr: c.Service.Addr, Port: c.Service.Port, Group: c.Service.Group}
	}
	return nil
}

// finishReal applies ipvsadm's defaults and checks to -a and -e.
func (p *parser) finishReal() error {
	c := &p.cmd
	if !p.set.has(optWeight) {
		c.Real.Weight = 1
	}
	c.Real.Method = p.method
	if c.Real.Method == service.MethodNone {
		c.Real.Method = service.MethodDR
	}
	tun := c.Real.Method == service.MethodTUN
	if c.Service.Group == "" && c.Real.Method != service.MethodNAT {
		// Direct routing and tunnelling cannot change the port.
		c.Real.Port = c.Service.Port
	}
	if c.Service.Group == "" && c.Real.Addr.Is4() != c.Service.Addr.Is4() && !tun {
		return syntaxf(ErrFamily, "Different address family is allowed only for tunneling servers")
	}
	tunOpts := []opt{optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum}
	if !tun && (p.set.has(optTunType) || anyOf(p.set, tunOpts)) {
		return syntaxf(ErrTunnel, "Tunnel options conflict with forward method")
	}
	typ := p.tunType
	if typ == "" {
		typ = "ipip"
	}
	// ipvsadm's table of tunnel types and their options.
	rules := map[string]string{"ipip": "xxxx", "gue": "+111", "gre": "x11x"}[typ]
	first := -1
	for i, o := range tunOpts {
		switch {
		case !p.set.has(o) && rules[i] == '+':
			return syntaxf(ErrTunnel, "You need to supply the '%s' option for the '%s' tunnel type", optNames[o], typ)
		case p.set.has(o) && rules[i] == 'x':
			return syntaxf(ErrTunnel, "Illegal '%s' option with the '%s' tunnel type", optNames[o], typ)
		case p.set.has(o) && rules[i] == '1':
			if first >= 0 {
				return syntaxf(ErrTunnel, "The option '%s' conflicts with the '%s' option in the '%s' tunnel type", optNames[o], optNames[tunOpts[first]], typ)
			}
			first = i
		}
	}
	return nil
}

func anyOf(set optSet, opts []opt) bool {
	for _, o := range opts {
		if set.has(o) {
			return true
		}
	}
	return false
}

// parseNetmask reads -M for the service's family: a dotted mask for IPv4, a
// prefix length for IPv6. ipvsadm reads it when it meets it, so its
// meaning depends on whether -t came first; xvs always uses the service's
// family. A netmask without -p is refused: it would mean nothing, and
// ipvsadm's silence about it has surprised operators.
func (p *parser) parseNetmask() error {
	s := &p.cmd.Service
	v6 := s.Group == "" && s.Addr.Is6() || s.Group != "" && len(p.matches) > 0 && p.matches[0].Prefix.Addr().Is6()
	var bits int
	if v6 {
		n, ok := number(p.maskArg, 1, 128)
		if !ok {
			return syntaxf(ErrIllegalNetmask, "illegal ipv6 netmask specified")
		}
		bits = int(n)
	} else {
		n, ok := parseMask4(p.maskArg)
		if !ok {
			return syntaxf(ErrIllegalNetmask, "illegal virtual server persistent mask specified")
		}
		bits = n
	}
	if s.Persistence == nil {
		return syntaxf(ErrIllegalNetmask, "netmask specified for a non-persistent service (add -p)")
	}
	s.Persistence.NetmaskBits = bits
	return nil
}

// parseSchedFlags reads -b: a comma-separated list of flag names (sh-fallback,
// sh-port, mh-fallback, mh-port) or ipvsadm's generic flag-1, flag-2 and
// flag-3; which scheduler takes which is sched's (sched.ParseIPVSFlag).
func (p *parser) parseSchedFlags() error {
	s := &p.cmd.Service
	name := s.Scheduler
	if name == "" {
		name = service.DefaultScheduler
	}
	var fl sched.Flags
	for _, f := range strings.Split(p.schedFlags, ",") {
		b, err := sched.ParseIPVSFlag(name, f)
		switch {
		case errors.Is(err, sched.ErrUnknownFlag):
			return syntaxf(ErrSchedFlag, "invalid scheduler flag `%s'", f)
		case err != nil:
			return syntaxf(ErrSchedFlag, "incompatible scheduler flag `%s'", f)
		}
		fl |= b
	}
	s.SchedFlags = fl.Names()
	return nil
}

// canonicalFlags orders scheduler flags as the kernel's bits order them:
// fallback before port (names that are no flag last, as given).
func canonicalFlags(fl []string) []string {
	var known sched.Flags
	var rest []string
	for _, f := range fl {
		if b, ok := sched.FlagByName(f); ok {
			known |= b
		} else {
			rest = append(rest, f)
		}
	}
	return append(known.Names(), rest...)
}
