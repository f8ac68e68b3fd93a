package keepalived

// node is one statement: a keyword, its arguments, and the statements of its block if it has one.
type node struct {
	key      token
	args     []token
	block    bool
	children []*node
}

// tree groups the token stream into statements. A statement ends at a newline, or at a '{' that
// opens its block, or at a '}' that closes the enclosing one, so one-line blocks work too.
func tree(toks []token) ([]*node, error) {
	p := &treeParser{toks: toks}
	nodes, err := p.block(0, Pos{})
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

type treeParser struct {
	toks []token
	i    int
}

func (p *treeParser) block(depth int, open Pos) ([]*node, error) {
	if depth > 64 {
		return nil, &Error{Pos: open, Msg: "blocks nested too deep"}
	}
	var out []*node
	var cur *node
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		p.i++
		switch {
		case t.is("\n"):
			cur = nil
		case t.is("{"):
			if cur == nil {
				return nil, &Error{Pos: t.pos, Msg: "'{' without a keyword before it"}
			}
			if cur.block {
				return nil, &Error{Pos: t.pos, Msg: "second '{' for " + cur.key.text}
			}
			cur.block = true
			kids, err := p.block(depth+1, t.pos)
			if err != nil {
				return nil, err
			}
			cur.children = kids
			cur = nil
		case t.is("}"):
			if depth == 0 {
				return nil, &Error{Pos: t.pos, Msg: "'}' without a matching '{'"}
			}
			return out, nil
		default:
			if cur == nil {
				cur = &node{key: t}
				out = append(out, cur)
			} else {
				cur.args = append(cur.args, t)
			}
		}
	}
	if depth > 0 {
		return nil, &Error{Pos: open, Msg: "'{' is never closed"}
	}
	return out, nil
}
