package admin

import (
	"strings"
)

// argv walks a command line the way popt (ipvsadm's option parser) does:
// short options may be bundled (-Ln) and take their value from the rest of
// the word or the next word (-w3, -w 3); long options take it after '=' or
// from the next word (--weight=3, --weight 3); a required value is the next
// word whatever it looks like (-w -1 is an illegal weight, not a missing
// one); -p takes the next word only if it does not start with '-'. Words that
// are not options are collected as positional arguments wherever they
// appear; "--" makes every later word positional.
type argv struct {
	words []string
	i     int    // next word
	rest  string // unread short options of the current bundle
	word  string // the word the last option came from (for messages)
	pos   []string
	done  bool // after "--"
}

// token is one option occurrence.
type token struct {
	f      *optFlag
	val    string
	hasVal bool
	word   string
}

func newArgv(words []string) *argv {
	w := make([]string, len(words))
	for i, s := range words {
		w[i] = normalizeDash(s)
	}
	return &argv{words: w}
}

// normalizeDash turns the typographic dashes that word processors and blogs
// put in pasted commands ("–stats", "—rate", "−n") into ASCII, so a command
// copied from a how-to works as written.
func normalizeDash(s string) string {
	for _, d := range []struct{ from, to string }{
		{"\u2013", "--"}, // en dash
		{"\u2014", "--"}, // em dash
		{"\u2212", "-"},  // minus sign
		{"\u2010", "-"},  // hyphen
		{"\u2011", "-"},  // non-breaking hyphen
	} {
		if strings.HasPrefix(s, d.from) {
			return d.to + s[len(d.from):]
		}
	}
	return s
}

// next returns the next option; ok is false at the end of the words.
func (a *argv) next() (t token, ok bool, err error) {
	if a.rest != "" {
		return a.short()
	}
	for a.i < len(a.words) {
		w := a.words[a.i]
		a.i++
		switch {
		case a.done || w == "-" || !strings.HasPrefix(w, "-"):
			a.pos = append(a.pos, w)
		case w == "--":
			a.done = true
		case strings.HasPrefix(w, "--"):
			a.word = w
			return a.long(w[2:])
		default:
			a.word = w
			a.rest = w[1:]
			return a.short()
		}
	}
	return token{}, false, nil
}

func (a *argv) long(s string) (token, bool, error) {
	name, val, hasVal := strings.Cut(s, "=")
	f := lookupLong(name)
	if f == nil {
		return token{}, false, a.poptError("unknown option")
	}
	t := token{f: f, word: a.word}
	switch f.arg {
	case argNone:
		if hasVal {
			return token{}, false, a.poptError("option does not take an argument")
		}
	case argRequired:
		if !hasVal {
			if a.i >= len(a.words) {
				return token{}, false, a.poptError("missing argument")
			}
			val, hasVal = a.words[a.i], true
			a.i++
		}
	case argOptional:
		if !hasVal && a.i < len(a.words) && !strings.HasPrefix(a.words[a.i], "-") {
			val, hasVal = a.words[a.i], true
			a.i++
		}
	}
	t.val, t.hasVal = val, hasVal
	return t, true, nil
}

func (a *argv) short() (token, bool, error) {
	c := a.rest[0]
	a.rest = a.rest[1:]
	f := lookupShort(c)
	if f == nil {
		a.rest = ""
		return token{}, false, a.poptError("unknown option")
	}
	t := token{f: f, word: a.word}
	if f.arg == argNone {
		return t, true, nil
	}
	if a.rest != "" {
		// The rest of the bundle is the value: -w3, -p600, -w=3.
		t.val, t.hasVal = strings.TrimPrefix(a.rest, "="), true
		a.rest = ""
		return t, true, nil
	}
	switch {
	case a.i < len(a.words) && (f.arg == argRequired || !strings.HasPrefix(a.words[a.i], "-")):
		t.val, t.hasVal = a.words[a.i], true
		a.i++
	case f.arg == argRequired:
		return token{}, false, a.poptError("missing argument")
	}
	return t, true, nil
}

// poptError words an option-parsing failure as ipvsadm prints popt's: the
// offending word, a colon, the reason.
func (a *argv) poptError(reason string) *SyntaxError {
	kind := ErrUnknownOption
	if reason != "unknown option" {
		kind = ErrMissingArgument
	}
	return &SyntaxError{Msg: a.word + ": " + reason, Kind: kind, Status: 255}
}

// positional returns the words that were not options, once next has
// returned every option.
func (a *argv) positional() []string { return a.pos }
