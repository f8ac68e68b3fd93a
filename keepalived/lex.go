package keepalived

import (
	"os"
	"path/filepath"
	"strings"
)

// token is one word of the file; quoted words keep their blanks and may be empty.
type token struct {
	text   string
	quoted bool
	pos    Pos
}

// Kinds of structural token; a word token is never one of these because quoting is recorded.
func (t token) is(s string) bool { return !t.quoted && t.text == s }

// Loader reads files for the parser; its zero value uses the operating system. Tests and the
// fuzz target give it an in-memory file set.
type Loader struct {
	ReadFile func(name string) ([]byte, error)
	Glob     func(pattern string) ([]string, error)
}

func (l Loader) read(name string) ([]byte, error) {
	if l.ReadFile != nil {
		return l.ReadFile(name)
	}
	return os.ReadFile(name)
}

func (l Loader) glob(p string) ([]string, error) {
	if l.Glob != nil {
		return l.Glob(p)
	}
	return filepath.Glob(p)
}

// maxIncludeDepth stops include loops (keepalived stops at a depth too).
const maxIncludeDepth = 16

// lexer turns files into one token stream with a newline marker ("\n", unquoted) after each line,
// splicing included files in where their include line stood.
type lexer struct {
	loader   Loader
	toks     []token
	warnings []Warning
	open     []string // files being read, for loop detection
}

func (lx *lexer) file(name string, src []byte, depth int) error {
	if depth > maxIncludeDepth {
		return &Error{Pos: Pos{name, 1}, Msg: "includes nested too deep (a loop?)"}
	}
	for _, o := range lx.open {
		if o == name {
			return &Error{Pos: Pos{name, 1}, Msg: "includes itself"}
		}
	}
	lx.open = append(lx.open, name)
	defer func() { lx.open = lx.open[:len(lx.open)-1] }()
	for i, line := range strings.Split(string(src), "\n") {
		pos := Pos{name, i + 1}
		words, err := splitLine(line, pos)
		if err != nil {
			return err
		}
		if len(words) > 0 && !words[0].quoted && strings.HasPrefix(words[0].text, "$") && strings.Contains(words[0].text, "=") {
			lx.warnings = append(lx.warnings, Warning{pos, "parameter definition " + words[0].text + " is not implemented; line ignored"})
			continue
		}
		if len(words) > 0 && words[0].is("include") {
			if len(words) < 2 {
				return &Error{Pos: pos, Field: "include", Msg: "needs a file name or pattern"}
			}
			for _, w := range words[1:] {
				if err := lx.include(w.text, name, pos, depth); err != nil {
					return err
				}
			}
			continue
		}
		lx.toks = append(lx.toks, words...)
		lx.toks = append(lx.toks, token{text: "\n", pos: pos})
	}
	return nil
}

// include reads every file matching pattern; a relative pattern is taken from the directory
// of the file that includes it.
func (lx *lexer) include(pattern, from string, pos Pos, depth int) error {
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(from), pattern)
	}
	names, err := lx.loader.glob(pattern)
	if err != nil {
		return &Error{Pos: pos, Field: "include", Msg: "bad pattern " + pattern + ": " + err.Error()}
	}
	if len(names) == 0 {
		lx.warnings = append(lx.warnings, Warning{pos, "include " + pattern + ": no file matches"})
	}
	for _, n := range names {
		src, err := lx.loader.read(n)
		if err != nil {
			return &Error{Pos: pos, Field: "include", Msg: err.Error()}
		}
		if err := lx.file(n, src, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// splitLine splits one line into words: blanks separate, '{' and '}' are words of their own,
// "#" or "!" at the start of a word begins a comment, and double quotes group (keepalived has
// no escapes inside them).
func splitLine(line string, pos Pos) ([]token, error) {
	var out []token
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#' || c == '!':
			return out, nil
		case c == '{' || c == '}':
			out = append(out, token{text: string(c), pos: pos})
			i++
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			if j < 0 {
				return nil, &Error{Pos: pos, Msg: "unterminated quoted string"}
			}
			out = append(out, token{text: line[i+1 : i+1+j], quoted: true, pos: pos})
			i += j + 2
		default:
			j := i
			for j < len(line) && !strings.ContainsRune(" \t\r\f\v{}\"", rune(line[j])) {
				j++
			}
			out = append(out, token{text: line[i:j], pos: pos})
			i = j
		}
	}
	return out, nil
}
