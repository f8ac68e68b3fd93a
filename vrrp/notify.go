package vrrp

import (
	"log/slog"
	"strconv"

	"github.com/xvs-project/xvs/internal/notify"
)

// Scripts are an instance's notify scripts, as keepalived.conf names them.
type Scripts struct {
	Notify                      []string // notify: told every state
	Master, Backup, Fault, Stop []string // notify_master, _backup, _fault, _stop
}

// OnState returns a function for Instance.OnState that runs the scripts
// of instance name at priority prio as keepalived does: the new state's own
// script without arguments, then notify with four: "INSTANCE", the name,
// the state (MASTER, BACKUP, STOP) and the priority.
func (sc Scripts) OnState(name string, prio uint8, log *slog.Logger) func(State) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(s State) {
		word, own := "", []string(nil)
		switch s {
		case Master:
			word, own = "MASTER", sc.Master
		case Backup:
			word, own = "BACKUP", sc.Backup
		case Fault:
			word, own = "FAULT", sc.Fault
		case Initialize:
			word, own = "STOP", sc.Stop
		default:
			return
		}
		if len(own) > 0 {
			notify.Run(own, "vrrp", log)
		}
		if len(sc.Notify) > 0 {
			argv := append(append([]string(nil), sc.Notify...), "INSTANCE", name, word, strconv.Itoa(int(prio)))
			notify.Run(argv, "vrrp", log)
		}
	}
}
