package control

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/xvs-project/xvs/keepalived"
	"github.com/xvs-project/xvs/service"
)

// Health checks in the YAML format
//
// A check: block is keepalived's grammar written as YAML: the keys are
// keepalived's, verbatim, and so are their meaning, defaults and errors,
// because this reader does not interpret them. It checks which keys may
// appear where (so a typo is refused, as for every other field), turns
// each service into the statements keepalived.conf would hold for it,
//
//	virtual_server VIP PORT { <service keys> real_server RIP PORT { weight W <real keys> <checkers> } ... }
//
// and lets package keepalived build the checkers from them. A service's
// checkers are written into every real server that has none of its own,
// which is all "inherited" means here; timing keys inherit the way
// keepalived inherits them (checker, real server, virtual server). What
// stays with this reader is xvs's own: path-true, the sorry server as a
// service.Real, and the keys the daemon finds the result by.
// configcheck_keys.go says which keys go where, configcheck_result.go
// what the built checks become in the File.

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
