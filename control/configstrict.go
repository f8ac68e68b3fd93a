package control

import (
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// Strict YAML
//
// yaml.v3 decoding into a Node keeps every key of a mapping, so a key written
// twice would silently take the later value in the field walk below, and a
// second document after "---" would be ignored. Both are operator mistakes
// (a pasted block, two files concatenated) that must not start a daemon with
// half the intended configuration; they are refused before anything is
// interpreted.

// ErrDuplicateKey is the cause of a ConfigError for a key written twice in one
// mapping.
var ErrDuplicateKey = errors.New("defined twice")

// ErrSecondDocument is the cause of a ConfigError for a file holding more
// than one YAML document.
var ErrSecondDocument = errors.New("a second YAML document (---) is not allowed: one file holds one configuration")

// secondDocument returns a ConfigError if dec holds another document after
// the first one.
func (p *parser) secondDocument(dec *yaml.Decoder) error {
	var next yaml.Node
	err := dec.Decode(&next)
	if err == nil {
		return &ConfigError{File: p.file, Line: next.Line, Field: "config", Err: ErrSecondDocument}
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("%s: %w", p.file, err)
}

// duplicateKeys walks the whole tree under n and returns a ConfigError for
// the first mapping key that appears twice, naming the field as the rest of
// the parser does ("services[0].reals[1].port") and the line of the first
// occurrence. Aliases are not followed: their anchor was checked where it is
// defined.
func (p *parser) duplicateKeys(n *yaml.Node, path string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := p.duplicateKeys(c, path); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := p.duplicateKeys(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		first := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			field := child
			if path == "" {
				field = "config." + k.Value
			}
			// Keys that are not plain scalars (a sequence as a key) are
			// compared by kind and value; they are refused later as
			// unknown fields anyway.
			id := fmt.Sprintf("%d:%s", k.Kind, k.Value)
			if line, dup := first[id]; dup {
				return &ConfigError{File: p.file, Line: k.Line, Field: field,
					Err: fmt.Errorf("key %q %w (first at line %d)", k.Value, ErrDuplicateKey, line)}
			}
			first[id] = k.Line
			if err := p.duplicateKeys(v, child); err != nil {
				return err
			}
		}
	}
	return nil
}
