package control

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/xvs-project/xvs/keepalived"
)

// Which keys a check: block may hold, and how its YAML values become
// keepalived statements' values.

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

// checkerNames are the checkers keepalived has and xvs implements.
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
		case checker, block:
			inner := blockKeys[k.Value]
			if shape == checker {
				inner = checkerKey[k.Value]
			}
			err := c.each(k, v, field, func(e *yaml.Node, f string) error {
				st := c.stmtAt(blockLine(k, v, e), k.Value, f, nil)
				cb, err := c.block(e, f, inner)
				if err != nil {
					return err
				}
				st.Block, st.Children = true, cb.stmts
				if shape == checker {
					b.checkers = append(b.checkers, checkerStmt{stmt: st, pathTrue: cb.pathTrue})
				} else {
					b.stmts = append(b.stmts, st)
				}
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
