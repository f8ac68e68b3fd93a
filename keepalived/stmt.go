package keepalived

// Stmt is one keepalived statement — a keyword, its values and, when Block is set, the
// statements of its { } block — for readers of other formats. The YAML reader's check: blocks
// use keepalived's key names, so it can hand them over as statements and get exactly this
// package's defaults, inheritance and errors.
type Stmt struct {
	Pos      Pos
	Key      string
	Args     []string
	Block    bool
	Children []Stmt
}

// Build reads statements as if they were a keepalived.conf file (virtual_server,
// virtual_server_group, global_defs at the top). Positions come from each Stmt.
func Build(stmts []Stmt) (*Config, error) {
	b := &builder{cfg: &Config{Groups: map[string]*Group{}}}
	if err := b.top(toNodes(stmts)); err != nil {
		return nil, err
	}
	if err := b.resolveGroups(); err != nil {
		return nil, err
	}
	return b.cfg, nil
}

func toNodes(stmts []Stmt) []*node {
	out := make([]*node, 0, len(stmts))
	for _, s := range stmts {
		n := &node{key: token{text: s.Key, pos: s.Pos}, block: s.Block, children: toNodes(s.Children)}
		for _, a := range s.Args {
			// A value from another format is one word whatever it holds, as a quoted word is here.
			n.args = append(n.args, token{text: a, quoted: true, pos: s.Pos})
		}
		out = append(out, n)
	}
	return out
}
