package control

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/xvs-project/xvs/health"
	"github.com/xvs-project/xvs/keepalived"
	"github.com/xvs-project/xvs/service"
)

// Health checks in the YAML format
//
// A check: block is keepalived's grammar written as YAML: the keys are
// keepalived's, verbatim, and so are their meaning, defaults and errors,
// because this file does not interpret them. It checks which keys may
// appear where (so a typo is refused, as for every other field), turns
// each service into the statements keepalived.conf would hold for it,
//
//	virtual_server VIP PORT { <service keys> real_server RIP PORT { weight W <real keys> <checkers> } ... }
//
// and lets package keepalived build the checkers from them. A service's
// checkers are written into every real server that has none of its own,
// which is all "inherited" means here; timing keys inherit the way
// keepalived inherits them (checker, real server, virtual server). What
// stays with this file is xvs's own: path-true, the sorry server as a
// service.Real, and the keys the daemon finds the result by.

// keyShape is what a check: key's value may look like.
type keyShape uint8

const (
	// oneValue is one scalar; an empty one is keepalived's bare keyword
	// (alpha:), which its flags read as on.
	oneValue keyShape = iota
	// words is a scalar, or a list of scalars given as several values
	// (status_code: [200, 300-302]).
	words
	// checker is a checker block: a mapping, or a list of mappings for
	// several checkers of one kind.
	checker
	// block is a block of another kind (url): a mapping or a list of them.
	block
	// pathTrue is xvs's path-true: false, the opt-out of the path-true
	// probe of a DR or TUN real server.
	pathTrue
	// sorry is sorry_server: "ADDR [PORT]" or a mapping with the fields
	// of a real server.
	sorry
)

// keyPathTrue is the one key of a check: block that is not keepalived's.
const keyPathTrue = "path-true"

// The checkers keepalived has and xvs implements; MISC_CHECK runs a command
// and has no network probe to make path-true.
var checkerNames = []string{"TCP_CHECK", "HTTP_GET", "SSL_GET", "UDP_CHECK", "DNS_CHECK", "MISC_CHECK"}

// keys merges key tables into one.
func keys(tables ...map[string]keyShape) map[string]keyShape {
	out := map[string]keyShape{}
	for _, t := range tables {
		for k, v := range t {
			out[k] = v
		}
	}
	return out
}

var (
	// timingKeys are the keys every level has (check_parser.c's
	// virtual_server, real_server and checker timers).
	timingKeys = map[string]keyShape{"delay_loop": oneValue, "connect_timeout": oneValue, "retry": oneValue,
		"nb_get_retry": oneValue, "delay_before_retry": oneValue, "warmup": oneValue, "alpha": oneValue}
	// netKeys are every network checker's connection keys.
	netKeys = map[string]keyShape{"connect_ip": oneValue, "connect_port": oneValue, "bindto": oneValue,
		"bind_port": oneValue, "bind_if": oneValue, "fwmark": oneValue, keyPathTrue: pathTrue}
	allCheckers = func() map[string]keyShape {
		m := map[string]keyShape{}
		for _, c := range checkerNames {
			m[c] = checker
		}
		return m
	}()

	// serviceCheckKeys are a service's check: block: virtual_server's
	// checker keys (lb_algo, lb_kind, persistence and weight are the
	// service's own YAML fields).
	serviceCheckKeys = keys(timingKeys, allCheckers, map[string]keyShape{"omega": oneValue, "quorum": oneValue,
		"hysteresis": oneValue, "quorum_up": words, "quorum_down": words, "inhibit_on_failure": oneValue,
		"sorry_server": sorry, "sorry_server_inhibit": oneValue, "virtualhost": oneValue, keyPathTrue: pathTrue})
	// realCheckKeys are a real server's check: block (its weight and
	// method are the real's own fields).
	realCheckKeys = keys(timingKeys, allCheckers, map[string]keyShape{"inhibit_on_failure": oneValue,
		"notify_up": words, "notify_down": words, "virtualhost": oneValue, keyPathTrue: pathTrue})

	httpKeys   = keys(timingKeys, netKeys, map[string]keyShape{"url": block, "virtualhost": oneValue, "http_protocol": oneValue, "enable_sni": oneValue, "sni_name": oneValue})
	checkerKey = map[string]map[string]keyShape{
		"TCP_CHECK": keys(timingKeys, netKeys),
		"HTTP_GET":  httpKeys,
		"SSL_GET":   httpKeys,
		"UDP_CHECK": keys(timingKeys, netKeys, map[string]keyShape{"payload": oneValue, "require_reply": oneValue,
			"min_reply_length": oneValue, "max_reply_length": oneValue}),
		"DNS_CHECK": keys(timingKeys, netKeys, map[string]keyShape{"type": oneValue, "name": oneValue}),
		"MISC_CHECK": keys(timingKeys, map[string]keyShape{"misc_path": words, "misc_timeout": oneValue,
			"misc_dynamic": oneValue, "user": oneValue}),
	}
	blockKeys = map[string]map[string]keyShape{
		"url": {"path": oneValue, "digest": oneValue, "status_code": words, "virtualhost": oneValue,
			"regex": oneValue, "regex_no_match": oneValue},
	}
)

// ownFields are keepalived keys a check: block leaves to the YAML's own
// fields, with where to write them instead.
var ownFields = map[string]string{
	"weight":              "the real server's weight: field is its weight",
	"lb_kind":             "the real server's method: field is its forwarding method",
	"lvs_method":          "the real server's method: field is its forwarding method",
	"lb_algo":             "the service's scheduler: field is its scheduler",
	"lvs_sched":           "the service's scheduler: field is its scheduler",
	"persistence_timeout": "the service's persistent: field is its persistence",
	"protocol":            "the service's proto: field is its protocol",
	"uthreshold":          "the real server's upper-threshold: field is its bound",
	"lthreshold":          "the real server's lower-threshold: field is its bound",
	"real_server":         "real servers are the service's reals: list",
}

// checkBlock is one check: block (or checker block) read into statements.
type checkBlock struct {
	stmts    []keepalived.Stmt
	checkers []checkerStmt
	// pathTrue is the block's path-true, nil when not given.
	pathTrue *bool
	// sorry and sorryField are the sorry_server value, nil when not given.
	sorry      *yaml.Node
	sorryField string
}

// checkerStmt is one checker block with its own path-true.
type checkerStmt struct {
	stmt     keepalived.Stmt
	pathTrue *bool
}

// stmtField remembers which YAML field a statement came from, so an error
// keepalived reports at a line names the field there.
type stmtField struct {
	line       int
	key, field string
}

// checkReader turns the check: blocks of one file into keepalived
// statements and the statements' results into the File.
type checkReader struct {
	p      *parser
	fields []stmtField
	// vsNames are the virtual_server lines of the services, by index, as
	// keepalived's errors name them.
	vsNames map[int]string
	// where names the server whose block is being read, for errors.
	where string
}

// failf is the parser's failf with the server named, as keepalived's
// errors name it.
func (c *checkReader) failf(n *yaml.Node, field, format string, args ...any) error {
	return c.p.failf(n, field, "%s: %s", c.where, fmt.Sprintf(format, args...))
}

// checks reads the check: blocks of cfg's services (nodes are their YAML
// mappings, in the same order) and fills f's Health, Sorry, Probes and
// Warnings.
func (p *parser) checks(f *File, nodes []*yaml.Node) error {
	c := &checkReader{p: p, vsNames: map[int]string{}}
	var stmts []keepalived.Stmt
	type built struct {
		svc      int
		sorry    *service.Real
		pathTrue [][]bool // per real, per checker
	}
	var todo []built
	for i, sn := range nodes {
		s := &f.Services.Services[i]
		st, sorryReal, pt, err := c.service(s, sn, i)
		if err != nil {
			return err
		}
		if st == nil {
			continue
		}
		stmts = append(stmts, st...)
		todo = append(todo, built{svc: i, sorry: sorryReal, pathTrue: pt})
	}
	if len(stmts) == 0 {
		return nil
	}
	kc, err := keepalived.Build(stmts)
	if err != nil {
		return c.fail(err)
	}
	// A service's checker is built once per real server that inherits
	// it, so its warnings would repeat.
	seen := map[string]bool{}
	for _, w := range kc.Warnings {
		if ws := w.String(); !seen[ws] {
			seen[ws] = true
			f.Warnings = append(f.Warnings, ws)
		}
	}
	if len(kc.VirtualServers) != len(todo) {
		return fmt.Errorf("%s: checks: %d services built into %d virtual servers", p.file, len(todo), len(kc.VirtualServers))
	}
	for k, b := range todo {
		if err := c.result(f, &f.Services.Services[b.svc], kc.VirtualServers[k], b.sorry, b.pathTrue); err != nil {
			return err
		}
	}
	return nil
}

// service returns the statements of one service (nil when neither it nor
// a real server has a check: block), its sorry server and the path-true of
// every checker of every real server.
func (c *checkReader) service(s *service.Service, sn *yaml.Node, idx int) ([]keepalived.Stmt, *service.Real, [][]bool, error) {
	path := fmt.Sprintf("services[%d]", idx)
	sn = deref(sn)
	var realNodes []*yaml.Node
	if rv := value(sn, "reals"); rv != nil {
		realNodes = rv.Content
	}
	sc := value(sn, "check")
	has := sc != nil
	for _, rn := range realNodes {
		has = has || value(deref(rn), "check") != nil
	}
	if !has {
		return nil, nil, nil, nil
	}
	vsName := "virtual_server " + s.Addr.String() + " " + strconv.Itoa(int(s.Port))
	if s.Group != "" {
		vsName = "virtual_server group " + s.Group
	}
	c.vsNames[idx], c.where = vsName, vsName
	var svc checkBlock
	if sc != nil {
		var err error
		if svc, err = c.block(sc, path+".check", serviceCheckKeys); err != nil {
			return nil, nil, nil, err
		}
	}
	var out []keepalived.Stmt
	var sorryReal *service.Real
	vs := c.stmt(sn, "virtual_server", path, nil)
	vs.Block = true
	if s.Group != "" {
		// keepalived's own spelling of a group service; the group's
		// entries do not matter to the checks (the reals' ports do).
		vs.Args = []string{"group", s.Group}
		g := c.stmt(sn, "virtual_server_group", path, []string{s.Group})
		g.Block, g.Children = true, []keepalived.Stmt{c.stmt(sn, "fwmark", path, []string{"1"})}
		out = append(out, g)
	} else {
		vs.Args = []string{s.Addr.String(), strconv.Itoa(int(s.Port))}
	}
	vs.Children = append(vs.Children, svc.stmts...)
	if svc.sorry != nil {
		r, err := c.sorry(s, svc.sorry, svc.sorryField)
		if err != nil {
			return nil, nil, nil, err
		}
		sorryReal = &r
		vs.Children = append(vs.Children, c.stmt(svc.sorry, "sorry_server", svc.sorryField,
			[]string{r.Addr.String(), strconv.Itoa(int(r.Port))}))
	}
	pathTrue := make([][]bool, len(s.Reals))
	for j := range s.Reals {
		r := &s.Reals[j]
		rpath := fmt.Sprintf("%s.reals[%d]", path, j)
		rn := deref(realNodes[j])
		rsArgs := []string{r.Addr.String(), strconv.Itoa(int(r.Port))}
		c.where = vsName + ": real_server " + strings.Join(rsArgs, " ")
		var rb checkBlock
		if rc := value(rn, "check"); rc != nil {
			var err error
			if rb, err = c.block(rc, rpath+".check", realCheckKeys); err != nil {
				return nil, nil, nil, err
			}
		}
		rs := c.stmt(rn, "real_server", rpath, rsArgs)
		rs.Block = true
		w := rn
		if wn := value(rn, "weight"); wn != nil {
			w = wn
		}
		rs.Children = append(rs.Children, c.stmt(w, "weight", rpath+".weight", []string{strconv.Itoa(int(r.Weight))}))
		rs.Children = append(rs.Children, rb.stmts...)
		chks := rb.checkers
		if len(chks) == 0 {
			chks = svc.checkers
		}
		for _, ch := range chks {
			rs.Children = append(rs.Children, ch.stmt)
			pathTrue[j] = append(pathTrue[j], pick(true, ch.pathTrue, rb.pathTrue, svc.pathTrue))
		}
		vs.Children = append(vs.Children, rs)
	}
	return append(out, vs), sorryReal, pathTrue, nil
}

// pick returns the first level that is set, or def.
func pick(def bool, levels ...*bool) bool {
	for _, l := range levels {
		if l != nil {
			return *l
		}
	}
	return def
}

// block reads one mapping of a check: block against the keys allowed in it.
func (c *checkReader) block(n *yaml.Node, path string, allowed map[string]keyShape) (checkBlock, error) {
	var b checkBlock
	n = deref(n)
	if isNull(n) {
		return b, nil // "check:" alone: nothing to add
	}
	if n.Kind != yaml.MappingNode {
		return b, c.failf(n, path, "expected a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		field := path + "." + k.Value
		shape, ok := allowed[k.Value]
		if !ok {
			return b, c.unknown(k, field, allowed)
		}
		switch shape {
		case oneValue, words:
			args, err := c.args(v, field, shape)
			if err != nil {
				return b, err
			}
			if k.Value == "require_reply" && len(args) == 1 && v.Tag == "!!bool" {
				// require_reply is a bare keyword or a reply pattern;
				// true is the bare keyword, false leaves it out.
				if args[0] == "false" {
					continue
				}
				args = nil
			}
			b.stmts = append(b.stmts, c.stmt(k, k.Value, field, args))
		case pathTrue:
			on, err := strconv.ParseBool(v.Value)
			if err != nil || v.Kind != yaml.ScalarNode {
				return b, c.failf(v, field, "%q is not true or false", v.Value)
			}
			b.pathTrue = &on
		case sorry:
			b.sorry, b.sorryField = v, field
		case checker:
			err := c.each(k, v, field, func(e *yaml.Node, f string) error {
				st := c.stmtAt(blockLine(k, v, e), k.Value, f, nil)
				cb, err := c.block(e, f, checkerKey[k.Value])
				if err != nil {
					return err
				}
				st.Block, st.Children = true, cb.stmts
				b.checkers = append(b.checkers, checkerStmt{stmt: st, pathTrue: cb.pathTrue})
				return nil
			})
			if err != nil {
				return b, err
			}
		case block:
			err := c.each(k, v, field, func(e *yaml.Node, f string) error {
				st := c.stmtAt(blockLine(k, v, e), k.Value, f, nil)
				cb, err := c.block(e, f, blockKeys[k.Value])
				if err != nil {
					return err
				}
				st.Block, st.Children = true, cb.stmts
				b.stmts = append(b.stmts, st)
				return nil
			})
			if err != nil {
				return b, err
			}
		}
	}
	return b, nil
}

// each calls fn on a block's mapping, or on every mapping of its list
// (field[i]).
func (c *checkReader) each(k, v *yaml.Node, field string, fn func(e *yaml.Node, field string) error) error {
	switch {
	case v.Kind == yaml.MappingNode || isNull(v):
		return fn(v, field)
	case v.Kind == yaml.SequenceNode:
		if len(v.Content) == 0 {
			return c.failf(v, field, "empty list (want one %s block or more)", k.Value)
		}
		for i, e := range v.Content {
			if err := fn(deref(e), fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return c.failf(v, field, "expected a %s block (a mapping) or a list of them", k.Value)
}

// args reads a key's values.
func (c *checkReader) args(v *yaml.Node, field string, shape keyShape) ([]string, error) {
	switch {
	case isNull(v):
		return nil, nil
	case v.Kind == yaml.ScalarNode:
		return []string{v.Value}, nil
	case v.Kind == yaml.SequenceNode && shape == words:
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			e = deref(e)
			if e.Kind != yaml.ScalarNode {
				return nil, c.failf(e, field, "expected a list of values")
			}
			out = append(out, e.Value)
		}
		return out, nil
	case shape == words:
		return nil, c.failf(v, field, "expected a value or a list of values")
	}
	return nil, c.failf(v, field, "expected one value")
}

// unknown refuses a key the block does not have, saying what a checker's
// name should have been.
func (c *checkReader) unknown(k *yaml.Node, field string, allowed map[string]keyShape) error {
	name := k.Value
	if name == strings.ToUpper(name) && (strings.HasSuffix(name, "_CHECK") || strings.HasSuffix(name, "_GET")) {
		if _, inBlock := allowed["TCP_CHECK"]; !inBlock {
			return c.failf(k, field, "a checker goes in a service's or a real server's check: block, not here")
		}
		return c.failf(k, field, "unknown checker %q (want %s)", name, strings.Join(checkerNames, ", "))
	}
	if own, ok := ownFields[name]; ok {
		return c.failf(k, field, "unknown field %q: %s", name, own)
	}
	if name == keyPathTrue {
		return c.failf(k, field, "a MISC_CHECK runs a command: it has no network probe to make path-true")
	}
	return c.failf(k, field, "unknown field %q", name)
}

// stmt makes one statement at n's line and remembers the field it reads.
func (c *checkReader) stmt(n *yaml.Node, key, field string, args []string) keepalived.Stmt {
	return c.stmtAt(n.Line, key, field, args)
}

func (c *checkReader) stmtAt(line int, key, field string, args []string) keepalived.Stmt {
	c.fields = append(c.fields, stmtField{line: line, key: key, field: field})
	return keepalived.Stmt{Pos: keepalived.Pos{File: c.p.file, Line: line}, Key: key, Args: args}
}

// blockLine is where a block e, the value of key k or an element of its
// list v, is written: the key's line, or the list element's.
func blockLine(k, v, e *yaml.Node) int {
	if v.Kind == yaml.SequenceNode {
		return e.Line
	}
	return k.Line
}

// sorry reads a service's sorry_server: "ADDR [PORT]" or a mapping of
// address, port, method and tun-*; the method and tunnel are the first
// real server's unless given, and the port the service's when left out.
func (c *checkReader) sorry(s *service.Service, v *yaml.Node, field string) (service.Real, error) {
	r := service.Real{Weight: 1}
	if len(s.Reals) > 0 {
		r.Method, r.Tunnel = s.Reals[0].Method, s.Reals[0].Tunnel
	}
	switch v.Kind {
	case yaml.ScalarNode:
		w := strings.Fields(v.Value)
		if len(w) == 0 || len(w) > 2 {
			return r, c.p.failf(v, field, "want an address and an optional port")
		}
		a, err := c.p.addr(&yaml.Node{Kind: yaml.ScalarNode, Value: w[0], Line: v.Line}, field)
		if err != nil {
			return r, err
		}
		r.Addr = a
		if len(w) == 2 {
			if r.Port, err = c.p.port(&yaml.Node{Kind: yaml.ScalarNode, Value: w[1], Line: v.Line}, field); err != nil {
				return r, err
			}
		}
	case yaml.MappingNode:
		known := c.p.realFields(&r)
		for _, k := range []string{"weight", "upper-threshold", "lower-threshold"} {
			delete(known, k) // keepalived's sorry server has weight 1 and no thresholds
		}
		if err := c.p.fields(v, field, known); err != nil {
			return r, err
		}
		if lookup(v, "address") == nil {
			return r, c.p.failf(v, field+".address", "missing")
		}
	default:
		return r, c.p.failf(v, field, "want \"ADDR [PORT]\" or a mapping with address, port and method")
	}
	if r.Method == service.MethodNone {
		return r, c.p.failf(v, field+".method", "missing (the service has no real server to take it from)")
	}
	// The sorry server is normalized and validated as one more real
	// server of the service would be.
	t := *s
	t.Reals = []service.Real{r}
	t.Normalize()
	if err := t.Validate(); err != nil {
		return r, c.p.fail(v, field, err)
	}
	return t.Reals[0], nil
}

// result re-keys one built virtual server onto its service and adds it to f.
func (c *checkReader) result(f *File, s *service.Service, vs *keepalived.VirtualServer, sorryReal *service.Real, pathTrue [][]bool) error {
	key := s.Key()
	hs := vs.Health()
	if len(hs.Reals) != len(s.Reals) {
		return fmt.Errorf("%s: checks of %s: %d real servers built from %d", c.p.file, key, len(hs.Reals), len(s.Reals))
	}
	// Keys are the service model's, so the daemon's health.Actions find
	// the service and real server in f.Services.
	hs.Key, hs.Name = key, key.String()
	checked := false
	for j := range hs.Reals {
		hs.Reals[j].Key = s.Reals[j].Key()
		checked = checked || len(hs.Reals[j].Checks) > 0
	}
	if hs.Sorry != nil && sorryReal != nil {
		hs.Sorry.Key = sorryReal.Key()
		if f.Sorry == nil {
			f.Sorry = map[service.Key]service.Real{}
		}
		f.Sorry[key] = *sorryReal
	}
	if checked || hs.Sorry != nil || len(hs.QuorumUp) > 0 || len(hs.QuorumDown) > 0 {
		f.Health = append(f.Health, hs)
	}
	c.probes(f, s, vs, pathTrue)
	return nil
}

// probes lists the checks of s's DR and TUN real servers that can travel
// the forwarded packets' way. The probe goes to the VIP on the port the
// checker would have dialled (the service's port unless connect_port says
// otherwise); a group service has no one VIP to send it to, and a checker
// aimed elsewhere (connect_ip) does not probe the real server at all.
func (c *checkReader) probes(f *File, s *service.Service, vs *keepalived.VirtualServer, pathTrue [][]bool) {
	warned := false
	for j := range s.Reals {
		r := s.Reals[j]
		if r.Method != service.MethodDR && r.Method != service.MethodTUN {
			continue
		}
		for ci, chk := range vs.Reals[j].Checks {
			if chk.Net == nil {
				continue // MISC_CHECK
			}
			on := pathTrue[j][ci]
			target := checkTarget(chk.Checker)
			switch {
			case s.Group != "":
				if on && !warned {
					f.Warnings = append(f.Warnings, fmt.Sprintf("%s: %s: a group service has no single VIP:port, so checks of its DR and TUN real servers are not path-true (they dial the real server's own address)",
						chk.Pos, s.Key()))
					warned = true
				}
				continue
			case !target.IsValid():
				continue
			case target.Addr() != r.Addr:
				if on {
					f.Warnings = append(f.Warnings, fmt.Sprintf("%s: %s real %s: the check dials %s, not the real server, so it is not path-true",
						chk.Pos, s.Key(), netip.AddrPortFrom(r.Addr, r.Port), target))
				}
				on = false
			}
			f.Probes = append(f.Probes, PathProbe{Service: s.Key(), Real: r,
				VIP: netip.AddrPortFrom(s.Addr, target.Port()), Net: chk.Net, Off: !on})
		}
	}
}

// checkTarget is the address a network checker dials.
func checkTarget(c health.Checker) netip.AddrPort {
	switch c := c.(type) {
	case *health.TCP:
		return c.Addr
	case *health.HTTP:
		return c.Addr
	case *health.UDP:
		return c.Addr
	case *health.DNS:
		return c.Addr
	}
	return netip.AddrPort{}
}

// checkError is a keepalived error in a check: block, with the servers it
// names in keepalived's words ("virtual_server 198.18.0.10 80: real_server
// 198.18.1.2 80"); the ConfigError around it has the file, line and field.
type checkError struct {
	where string
	err   *keepalived.Error
}

func (e *checkError) Error() string {
	if e.where == "" {
		return e.err.Msg
	}
	return e.where + ": " + e.err.Msg
}

func (e *checkError) Unwrap() error { return e.err }

// fail turns keepalived's error into a ConfigError naming the YAML field
// the statement at its line came from.
func (c *checkReader) fail(err error) error {
	var ke *keepalived.Error
	if !errors.As(err, &ke) {
		return fmt.Errorf("%s: %w", c.p.file, err)
	}
	field := ""
	for _, sf := range c.fields {
		if sf.line == ke.Pos.Line && sf.key == ke.Field {
			field = sf.field
			break
		}
	}
	if field == "" {
		// An error about a missing or implied key (a checker without
		// url, with no port) sits at its block's line: the block keepalived
		// names last in Where, or else the first statement there.
		segs := strings.Split(ke.Where, ": ")
		block := segs[len(segs)-1]
		for _, sf := range c.fields {
			if sf.line == ke.Pos.Line && (field == "" || sf.key == block) {
				field = sf.field
				if sf.key == block {
					break
				}
			}
		}
		if field != "" && ke.Field != "" {
			field += "." + ke.Field
		}
	}
	// keepalived names the real server without its virtual server; the
	// field's services[i] says which one it is.
	var servers []string
	var i int
	if _, err := fmt.Sscanf(field, "services[%d]", &i); err == nil && c.vsNames[i] != "" && !strings.HasPrefix(ke.Where, "virtual_server ") {
		servers = append(servers, c.vsNames[i])
	}
	for _, w := range strings.Split(ke.Where, ": ") {
		if strings.HasPrefix(w, "virtual_server ") || strings.HasPrefix(w, "real_server ") {
			servers = append(servers, w)
		}
	}
	return &ConfigError{File: c.p.file, Line: ke.Pos.Line, Field: field,
		Err: &checkError{where: strings.Join(servers, ": "), err: ke}}
}

// value returns the value of key in mapping n, or nil.
func value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// deref follows an alias to its anchor, so a check: block can be shared
// with YAML's &name and *name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }
