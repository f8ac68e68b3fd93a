package keepalived

import "fmt"

// Pos is a place in a configuration file.
type Pos struct {
	File string
	Line int
}

// String formats as file:line.
func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Error is a syntax error or an invalid value; the whole file is refused.
type Error struct {
	Pos Pos
	// Where names the object ("real_server 198.18.1.2 80") and Field the keyword, when known.
	Where, Field string
	Msg          string
}

func (e *Error) Error() string {
	s := e.Pos.String() + ": "
	if e.Where != "" {
		s += e.Where + ": "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Msg
}

// Warning is something read but not acted on, such as a keyword this reader does not implement.
type Warning struct {
	Pos Pos
	Msg string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }
