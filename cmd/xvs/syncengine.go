package main

import (
	"context"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/control"
	"github.com/xvs-project/xvs/forwarder"
)

// syncEngine adapts the engine to control.SyncEngine: control does not
// import the forwarder, whose dump options and sync figures it would need.
type syncEngine struct{ *forwarder.Engine }

func (e syncEngine) NewSyncDumper(w *connsync.Writer, learnt bool) control.SyncDumper {
	return e.Engine.NewSyncDumper(w, forwarder.DumpOptions{Learnt: learnt})
}

// HandOver is a yielding master's last dump: its own connections only, the
// learnt ones being the other director's already.
func (e syncEngine) HandOver(ctx context.Context, w *connsync.Writer) (int, error) {
	return e.Engine.DumpSync(ctx, w, forwarder.DumpOptions{})
}

func (e syncEngine) SyncFigures() control.SyncFigures {
	s := e.SyncStats()
	f := control.SyncFigures{
		ConnsSent: s.ConnsSent, TemplatesSent: s.TemplatesSent, SendErrors: s.SendErrors,
		Dumps: s.Dumps, DumpEntries: s.DumpEntries, LastDump: s.LastDump,
		Received: s.Received, Installed: s.Installed, Updated: s.Updated, LastReceived: s.LastReceived,
		Refused: make(map[string]uint64, len(s.Refused)),
	}
	for i, n := range s.Refused {
		f.Refused[forwarder.SyncRefusal(i).String()] = n
	}
	return f
}

// syncMaster makes the engine a sync master whose workers write through
// sd's switches, so xvsadm --start-daemon master works at run time.
func syncMaster(sd *control.SyncDaemons) *forwarder.SyncMaster {
	return &forwarder.SyncMaster{Writer: func(i int) forwarder.SyncWriter {
		if w := sd.Writer(i); w != nil {
			return w
		}
		return nil
	}}
}
