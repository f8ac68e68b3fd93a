package admin

import (
	"bufio"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// maxRuleLine bounds one line of a rules file.
const maxRuleLine = 1 << 20

// Rule is one command of a rules file and the line it came from.
type Rule struct {
	Line    int
	Command *Command
}

// ParseRules reads a rules file as ipvsadm -R does: one command per line,
// words separated by blanks, a leading "ipvsadm" (or "xvsadm") word ignored,
// so both `ipvsadm -S` output and a shell script of ipvsadm commands load.
// Blank lines and '#' comments are skipped. Only commands that edit the
// configuration are allowed (-A -E -D -C -a -e -d). The first bad line is
// reported as a *LineError.
func ParseRules(rd io.Reader, r Resolver) ([]Rule, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 4096), maxRuleLine)
	var rules []Rule
	line := 0
	for sc.Scan() {
		line++
		words := ruleWords(sc.Text())
		if len(words) == 0 {
			continue
		}
		cmd, err := Parse(words, r)
		if err != nil {
			return nil, &LineError{Line: line, Err: err}
		}
		if !cmd.IsConfigChange() {
			return nil, &LineError{Line: line, Err: syntaxf(ErrNotConfig,
				"the '%s' command cannot be restored (a rules file holds -A, -E, -D, -C, -a, -e and -d)", cmd.Op)}
		}
		rules = append(rules, Rule{Line: line, Command: cmd})
	}
	if err := sc.Err(); err != nil {
		return nil, &LineError{Line: line + 1, Err: err}
	}
	return rules, nil
}

// ruleWords splits a rules line into words, without comments and without a
// leading program name.
func ruleWords(s string) []string {
	words := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
	for i, w := range words {
		if strings.HasPrefix(w, "#") {
			words = words[:i]
			break
		}
	}
	if len(words) > 0 {
		switch path.Base(words[0]) {
		case "ipvsadm", "xvsadm":
			words = words[1:]
		}
	}
	return words
}

// Changes returns the configuration edits of rules, in order.
func Changes(rules []Rule) []control.Change {
	out := make([]control.Change, 0, len(rules))
	for _, r := range rules {
		if ch, ok := r.Command.Change(); ok {
			out = append(out, ch)
		}
	}
	return out
}

// lineOf turns a failed batch's change index back into a rules-file line.
func lineOf(err error, rules []Rule) error {
	var be *control.BatchError
	if errors.As(err, &be) && be.Index >= 0 && be.Index < len(rules) {
		return &LineError{Line: rules[be.Index].Line, Err: be.Err}
	}
	return err
}

// Restore reads a rules file and applies all of it to cfg, or none of it:
// every line is parsed first, then the changes are made on a copy that
// replaces *cfg only if all of them succeed.
func Restore(rd io.Reader, cfg *service.Config, r Resolver) error {
	rules, err := ParseRules(rd, r)
	if err != nil {
		return err
	}
	n := cfg.Clone()
	if err := control.ApplyChanges(n, Changes(rules)); err != nil {
		return lineOf(err, rules)
	}
	*cfg = *n
	return nil
}
