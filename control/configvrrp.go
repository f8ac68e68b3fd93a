package control

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/xvs-project/xvs/keepalived"
)

// VRRP instances in the YAML format
//
// The vrrp: list holds keepalived's vrrp_instance blocks written as YAML,
// with keepalived's keywords verbatim, read by package keepalived as if
// they were keepalived.conf (so defaults, ranges and errors are the same):
//
//	vrrp:
//	  - name: VI_1                  # vrrp_instance VI_1
//	    state: BACKUP
//	    interface: eth0
//	    virtual_router_id: 51
//	    priority: 150
//	    advert_int: 1               # seconds; with version: 3, 0.1 works
//	    version: 3
//	    nopreempt: true             # a bare keyword: true writes it, false leaves it out
//	    preempt_delay: 5
//	    authentication: {auth_type: PASS, auth_pass: secret}
//	    unicast_src_ip: 192.168.8.2
//	    unicast_peer: [192.168.8.3]
//	    virtual_ipaddress: [192.168.8.200/24]
//	    notify_master: "/usr/local/bin/became master"
//
// A mapping is a { } block, a list of scalars a block of one value per
// line (virtual_ipaddress, unicast_peer, track_interface), a scalar the
// keyword's value; a value with several words is a list too
// (virtual_ipaddress: ["192.168.8.200/24 dev eth1"] keeps its words).

// vrrp reads the file's vrrp: list into f.VRRP.
func (p *parser) vrrp(f *File) error {
	n := p.vrrpNode
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return p.failf(n, "vrrp", "expected a list of VRRP instances")
	}
	var stmts []keepalived.Stmt
	for i, in := range n.Content {
		field := fmt.Sprintf("vrrp[%d]", i)
		if in.Kind != yaml.MappingNode {
			return p.failf(in, field, "expected a mapping (a vrrp_instance)")
		}
		name := value(in, "name")
		if name == nil || name.Kind != yaml.ScalarNode || name.Value == "" {
			return p.failf(in, field+".name", "missing (the vrrp_instance's name)")
		}
		st := keepalived.Stmt{Pos: p.pos(in), Key: "vrrp_instance", Args: []string{name.Value}, Block: true}
		for j := 0; j+1 < len(in.Content); j += 2 {
			k, v := in.Content[j], in.Content[j+1]
			if k.Value == "name" {
				continue
			}
			child, ok, err := p.vrrpStmt(k, v, field+"."+k.Value)
			if err != nil {
				return err
			}
			if ok {
				st.Children = append(st.Children, child)
			}
		}
		stmts = append(stmts, st)
	}
	kc, err := keepalived.Build(stmts)
	if err != nil {
		return err
	}
	for _, w := range kc.Warnings {
		f.Warnings = append(f.Warnings, w.String())
	}
	f.VRRP, err = vrrpInstances(kc)
	return err
}

// vrrpStmt turns one key and its value into a keepalived statement; ok is
// false for a bare keyword set to false.
func (p *parser) vrrpStmt(k, v *yaml.Node, field string) (st keepalived.Stmt, ok bool, err error) {
	st = keepalived.Stmt{Pos: p.pos(k), Key: k.Value}
	switch v.Kind {
	case yaml.ScalarNode:
		if b, err := strconv.ParseBool(v.Value); err == nil && v.Tag == "!!bool" {
			return st, b, nil // nopreempt: true is the bare keyword
		}
		if v.Tag != "!!null" {
			st.Args = []string{v.Value}
		}
		return st, true, nil
	case yaml.SequenceNode:
		st.Block = true
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return st, false, p.failf(e, field, "expected a list of values")
			}
			words := strings.Fields(e.Value)
			if len(words) == 0 {
				return st, false, p.failf(e, field, "empty value")
			}
			st.Children = append(st.Children, keepalived.Stmt{Pos: p.pos(e), Key: words[0], Args: words[1:]})
		}
		return st, true, nil
	case yaml.MappingNode:
		st.Block = true
		for j := 0; j+1 < len(v.Content); j += 2 {
			c, ok, err := p.vrrpStmt(v.Content[j], v.Content[j+1], field+"."+v.Content[j].Value)
			if err != nil {
				return st, false, err
			}
			if ok {
				st.Children = append(st.Children, c)
			}
		}
		return st, true, nil
	}
	return st, false, p.failf(v, field, "expected a value, a list or a mapping")
}

// pos is n's place in the file, for keepalived's errors.
func (p *parser) pos(n *yaml.Node) keepalived.Pos { return keepalived.Pos{File: p.file, Line: n.Line} }
