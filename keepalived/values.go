package keepalived

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ctx names where a statement sits, for errors: "virtual_server 198.18.0.1 80", "real_server 198.18.1.2 80".
type ctx struct{ where string }

func (c ctx) err(n *node, msg string) *Error {
	return &Error{Pos: n.key.pos, Where: c.where, Field: n.key.text, Msg: msg}
}

func (c ctx) argc(n *node, lo, hi int) error {
	if len(n.args) < lo {
		if lo == 1 {
			return c.err(n, "needs a value")
		}
		return c.err(n, "needs "+strconv.Itoa(lo)+" values")
	}
	if hi >= 0 && len(n.args) > hi {
		return c.err(n, "too many values")
	}
	return nil
}

func (c ctx) one(n *node) (string, error) {
	if err := c.argc(n, 1, 1); err != nil {
		return "", err
	}
	return n.args[0].text, nil
}

// timer reads keepalived's TIMER: decimal seconds, positive unless zeroOK.
func (c ctx) timer(n *node, zeroOK bool) (time.Duration, error) {
	s, err := c.one(n)
	if err != nil {
		return 0, err
	}
	f, perr := strconv.ParseFloat(s, 64)
	if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e7 {
		return 0, c.err(n, "bad interval "+strconv.Quote(s)+" (seconds)")
	}
	if f < 0 || (f == 0 && !zeroOK) {
		return 0, c.err(n, "interval "+s+": must be positive")
	}
	return time.Duration(f * float64(time.Second)), nil
}

func (c ctx) uint(n *node, lo, hi uint64) (uint64, error) {
	s, err := c.one(n)
	if err != nil {
		return 0, err
	}
	v, perr := strconv.ParseUint(s, 10, 64)
	if perr != nil || v < lo || v > hi {
		return 0, c.err(n, "bad value "+strconv.Quote(s)+" (want "+strconv.FormatUint(lo, 10)+".."+strconv.FormatUint(hi, 10)+")")
	}
	return v, nil
}

// int reads a non-negative count of at least lo that fits an int32.
func (c ctx) int(n *node, lo uint64) (int, error) {
	v, err := c.uint(n, lo, 1<<31-1)
	return int(v), err
}

// flag reads a keyword that is true alone or takes on/off, true/false, yes/no.
func (c ctx) flag(n *node) (bool, error) {
	if len(n.args) == 0 {
		return true, nil
	}
	if len(n.args) > 1 {
		return false, c.err(n, "too many values")
	}
	switch strings.ToLower(n.args[0].text) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, c.err(n, "want on or off, not "+strconv.Quote(n.args[0].text))
}

func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil && a.Zone() == ""
}

func parsePort(s string) (uint16, bool) {
	v, err := strconv.ParseUint(s, 10, 16)
	return uint16(v), err == nil
}

func (c ctx) addr(n *node, t token) (netip.Addr, error) {
	a, ok := parseAddr(t.text)
	if !ok {
		return a, c.err(n, "bad address "+strconv.Quote(t.text))
	}
	return a, nil
}

// addrValue and portValue read a keyword's one value as an address or a port.
func (c ctx) addrValue(n *node) (netip.Addr, error) {
	if err := c.argc(n, 1, 1); err != nil {
		return netip.Addr{}, err
	}
	return c.addr(n, n.args[0])
}

func (c ctx) portValue(n *node) (uint16, error) {
	if err := c.argc(n, 1, 1); err != nil {
		return 0, err
	}
	return c.port(n, n.args[0])
}

func (c ctx) port(n *node, t token) (uint16, error) {
	p, ok := parsePort(t.text)
	if !ok {
		return 0, c.err(n, "bad port "+strconv.Quote(t.text))
	}
	return p, nil
}

// hexMask reads keepalived's hex strings: pairs of hex digits, where an X or x nibble matches
// anything (its mask bits are set). wild says X is allowed.
func (c ctx) hexMask(n *node, s string, wild bool) (data, mask []byte, err error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) == 0 || len(s)%2 != 0 {
		return nil, nil, c.err(n, "hex string "+strconv.Quote(s)+": want an even number of hex digits")
	}
	data, mask = make([]byte, len(s)/2), make([]byte, len(s)/2)
	anyWild := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		var v, m byte
		switch {
		case wild && (ch == 'x' || ch == 'X'):
			m, anyWild = 0xf, true
		default:
			b, herr := hex.DecodeString("0" + string(ch))
			if herr != nil {
				return nil, nil, c.err(n, "hex string "+strconv.Quote(s)+": bad digit "+strconv.QuoteRune(rune(ch)))
			}
			v = b[0]
		}
		if i%2 == 0 {
			v, m = v<<4, m<<4
		}
		data[i/2] |= v
		mask[i/2] |= m
	}
	if !anyWild {
		mask = nil
	}
	return data, mask, nil
}

// command reads a script keyword. One quoted word is a whole command line, split as keepalived
// splits it; otherwise each word is one argument.
func (c ctx) command(n *node, split func(string) ([]string, error)) ([]string, error) {
	var argv []string
	if len(n.args) == 1 && n.args[0].quoted {
		words, err := split(n.args[0].text)
		if err != nil {
			return nil, c.err(n, err.Error())
		}
		argv = words
	} else {
		for _, a := range n.args {
			argv = append(argv, a.text)
		}
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, c.err(n, "needs a command")
	}
	return argv, nil
}
