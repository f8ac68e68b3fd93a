package admin

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/service"
)

// Backend is what xvsadm drives: the running daemon through its control
// socket (*control.Client satisfies it), or anything else that holds a
// configuration and figures.
type Backend interface {
	Config() (*service.Config, error)
	Apply(changes []control.Change) error
	Stats() (control.Stats, error)
	ZeroStats(k *service.Key) error
	AllConns() ([]control.Conn, error)
	Timeouts() (control.Timeouts, error)
	SetTimeouts(t control.Timeouts) error
	SetCapacity(n int) error
}

// Env is Run's view of the world.
type Env struct {
	Stdin    io.Reader // the rules of -R
	Stdout   io.Writer // listings, -S, -h, -v
	Resolver Resolver  // names for parsing and listings; nil: WellKnown()
	// Stderr receives the daemon's warnings about a change it made (one
	// line each, the command still succeeds); nil: they are not shown.
	Stderr io.Writer
}

// WarningBackend is a Backend that can say what a change it made cannot do
// (*control.Client is one).
type WarningBackend interface {
	ApplyWarn(changes []control.Change) ([]string, error)
}

// apply makes changes on b and prints the daemon's warnings to env.Stderr.
func apply(b Backend, changes []control.Change, env Env) error {
	wb, ok := b.(WarningBackend)
	if !ok {
		return b.Apply(changes)
	}
	warnings, err := wb.ApplyWarn(changes)
	if env.Stderr != nil {
		for _, w := range warnings {
			fmt.Fprintln(env.Stderr, "Warning: "+w)
		}
	}
	return err
}

// NeedsBackend reports whether running cmd needs the daemon (everything but
// -h and -v).
func (c *Command) NeedsBackend() bool {
	switch c.Op {
	case OpHelp, OpVersion:
		return false
	}
	return true
}

// ErrNoBackend is returned by Run for a command that needs a daemon when
// none was given.
var ErrNoBackend = errors.New("no daemon to run the command against")

// Run carries out cmd against b, writing what ipvsadm would print to
// env.Stdout. Errors keep ipvsadm's words; print them with Message.
func Run(cmd *Command, b Backend, env Env) error {
	r := orWellKnown(env.Resolver)
	switch cmd.Op {
	case OpHelp:
		return Usage(env.Stdout)
	case OpVersion:
		return Version(env.Stdout)
	}
	if b == nil {
		return ErrNoBackend
	}
	if ch, ok := cmd.Change(); ok {
		err := apply(b, []control.Change{ch}, env)
		var be *control.BatchError
		if errors.As(err, &be) {
			return be.Err
		}
		return err
	}
	switch cmd.Op {
	case OpList:
		return list(cmd, b, env.Stdout, r)
	case OpSave:
		cfg, err := b.Config()
		if err != nil {
			return err
		}
		return Save(env.Stdout, cfg, cmd.Format.Numeric, r)
	case OpRestore:
		in := env.Stdin
		if in == nil {
			in = strings.NewReader("")
		}
		rules, err := ParseRules(in, r)
		if err != nil {
			return err
		}
		if len(rules) == 0 {
			return nil
		}
		return lineOf(apply(b, Changes(rules), env), rules)
	case OpZero:
		if cmd.HasService {
			k := cmd.Key()
			return b.ZeroStats(&k)
		}
		return b.ZeroStats(nil)
	case OpSetTimeouts:
		return b.SetTimeouts(cmd.Timeouts)
	case OpSetCapacity:
		return b.SetCapacity(cmd.Capacity)
	case OpChecks:
		cb, ok := b.(ChecksBackend)
		if !ok {
			return syntaxf(ErrUnsupported, "this daemon does not run health checks")
		}
		rep, err := cb.Checks()
		if err != nil {
			return err
		}
		return ListChecks(env.Stdout, rep, time.Now())
	case OpStartDaemon, OpStopDaemon, OpSync:
		sb, ok := b.(SyncBackend)
		if !ok {
			return syntaxf(ErrUnsupported, "this daemon does not run connection sync")
		}
		switch cmd.Op {
		case OpStartDaemon:
			return sb.StartDaemon(cmd.SyncRole, cmd.Sync)
		case OpStopDaemon:
			return sb.StopDaemon(cmd.SyncRole)
		}
		st, err := sb.Sync()
		if err != nil {
			return err
		}
		return ListSync(env.Stdout, st, time.Now())
	case OpDrain, OpUndrain:
		return runBGP(cmd, b, env.Stdout)
	case OpVRRP:
		vb, ok := b.(VRRPBackend)
		if !ok {
			return syntaxf(ErrUnsupported, "this daemon does not run VRRP")
		}
		st, err := vb.VRRP()
		if err != nil {
			return err
		}
		return ListVRRP(env.Stdout, st, time.Now())
	}
	return syntaxf(ErrInvalidOption, "the '%s' command cannot be run", cmd.Op)
}

func list(cmd *Command, b Backend, w io.Writer, r Resolver) error {
	switch {
	case cmd.Connections:
		conns, err := b.AllConns()
		if err != nil {
			return err
		}
		return ListConns(w, conns, cmd.Format, r)
	case cmd.ShowTimeouts:
		t, err := b.Timeouts()
		if err != nil {
			return err
		}
		return ListTimeouts(w, t)
	case cmd.Daemon:
		sb, ok := b.(SyncBackend)
		if !ok {
			// No sync daemons: ipvsadm prints nothing then.
			return nil
		}
		st, err := sb.Sync()
		if err != nil {
			return err
		}
		return ListDaemon(w, st)
	case cmd.BGP:
		return runBGP(cmd, b, w)
	case cmd.Drops:
		db, ok := b.(DropsBackend)
		if !ok {
			return syntaxf(ErrUnsupported, "this daemon does not report drops")
		}
		rep, err := db.Drops()
		if err != nil {
			return err
		}
		return ListDrops(w, rep)
	case cmd.MH:
		mb, ok := b.(MHBackend)
		if !ok {
			return syntaxf(ErrUnsupported, "this daemon does not report Maglev tables")
		}
		tables, err := mb.MaglevTables()
		if err != nil {
			return err
		}
		return ListMH(w, tables, cmd.Format, r)
	}
	cfg, err := b.Config()
	if err != nil {
		return err
	}
	st, err := b.Stats()
	if err != nil {
		return err
	}
	t := &Table{Config: cfg, Stats: st}
	if cmd.HasService {
		return ListService(w, t, cmd.Key(), cmd.Format, r)
	}
	return List(w, t, cmd.Format, r)
}
