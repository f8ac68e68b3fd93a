package forwarder

import (
	"errors"
	"strconv"
	"time"

	"github.com/xvs-project/xvs/connsync"
	"github.com/xvs-project/xvs/conntrack"
	"github.com/xvs-project/xvs/flow"
	"github.com/xvs-project/xvs/service"
)

// InstallSync installs one entry a sync backup received (connsync.Backup.Run
// hands them over one by one) into the connection table, as the kernel's
// backup does (ip_vs_proc_conn), so that after a failover a packet in the
// middle of the flow goes to the same real server without a SYN:
//
//   - the service is the running one for the entry's VIP:port and
//     protocol, or, for a firewall mark, the service group of that number;
//     the real server is the service's one at the entry's address and port.
//     An entry for an unknown service or real server is counted and
//     skipped (SyncStats.Refused);
//   - a connection takes the entry's state and timeout (a version 0
//     message has none: the state's own), NAT ones with their reply key;
//     one already in the table to the same real server is updated (the
//     later message wins), one to another real server is replaced unless
//     the entry is INACTIVE (it then describes the connection that was
//     replaced, as the kernel reads it);
//   - a template becomes the service's persistence template for the client
//     network; a connection of a persistent service binds to its template,
//     made from the connection if the template's own entry (which the
//     kernel sends after it) has not come yet.
//
// How the backup forwards is its own configuration's: the entry's
// forwarding flags are not used. Nothing installed here is sent on: a
// connection is synced from this engine only once its packets pass here
// (after a failover, if this engine is a master too). InstallSync is safe
// for concurrent use and does not keep c.
func (e *Engine) InstallSync(c *connsync.Conn) {
	ctr := &e.syncCtr
	ctr.received.Add(1)
	ctr.lastReceived.Store(time.Now().UnixNano())
	why, updated, ok := e.installSync(c)
	switch {
	case !ok:
		ctr.refused[why].Add(1)
	case updated:
		ctr.updated.Add(1)
	default:
		ctr.installed.Add(1)
	}
}

func (e *Engine) installSync(c *connsync.Conn) (why SyncRefusal, updated, ok bool) {
	snap := e.snap.Load()
	svc := snap.syncService(c)
	if svc == nil {
		return RefuseNoService, false, false
	}
	r := svc.realAt(flow.Addr16(c.Dest.Addr()), c.Dest.Port())
	if r == nil {
		return RefuseNoReal, false, false
	}
	timeout := time.Duration(c.Timeout) * time.Second
	if c.Flags&connsync.FlagTemplate != 0 {
		if !svc.persistent {
			return RefuseNotPersist, false, false
		}
		if timeout == 0 {
			timeout = svc.persistTimeout
		}
		tk := svc.templateKey(c)
		v := conntrack.Value{Service: svc.id, Dest: r.id, DestGen: r.gen}
		had := e.table.Lookup(&tk) != nil
		old, err := e.table.InstallTemplate(tk, v, timeout)
		if errors.Is(err, conntrack.ErrExists) && old != nil {
			// The master moved the client network to another real server.
			e.table.Expire(old)
			had = false
			_, err = e.table.InstallTemplate(tk, v, timeout)
		}
		if err != nil {
			return refusal(err), false, false
		}
		return 0, had, true
	}

	var k conntrack.Key
	k.Src, k.SrcPort = flow.Addr16(c.Client.Addr()), c.Client.Port()
	k.Dst, k.DstPort = flow.Addr16(c.Virtual.Addr()), c.Virtual.Port()
	k.Proto, k.Kind = c.Proto, conntrack.KindConn
	st := conntrack.State(c.State)
	if c.Proto != flow.TCP {
		st = conntrack.StateUDP
	}
	if timeout == 0 {
		timeout = e.table.StateTimeout(st)
	}
	v := conntrack.Value{Service: svc.id, Dest: r.id, DestGen: r.gen, State: st}
	if svc.persistent {
		v.Template = e.syncTemplate(svc, r, &k)
	}
	var reply *conntrack.Key
	if r.method == service.MethodNAT {
		rk := conntrack.ReplyKey(&k.Tuple, r.addr, r.portFor(k.DstPort))
		reply = &rk
	}
	had := e.table.Lookup(&k) != nil
	old, err := e.table.Install(k, reply, v, timeout)
	if errors.Is(err, conntrack.ErrExists) && !errors.Is(err, conntrack.ErrReplyClash) && old != nil {
		if c.Flags&connsync.FlagInactive != 0 && old.State().Active() {
			return RefuseStale, false, false
		}
		e.table.Expire(old)
		had = false
		_, err = e.table.Install(k, reply, v, timeout)
	}
	if errors.Is(err, conntrack.ErrTemplateGone) {
		v.Template = nil // it expired meanwhile: the connection still forwards
		_, err = e.table.Install(k, reply, v, timeout)
	}
	if err != nil {
		return refusal(err), false, false
	}
	return 0, had, true
}

// syncTemplate finds (or makes, from the connection) the template a synced
// connection of persistent service svc binds to; nil if there is none to
// be had (it names another real server, or the table is full).
func (e *Engine) syncTemplate(svc *serviceState, r *realState, k *conntrack.Key) *conntrack.Conn {
	tk := conntrack.TemplateKey(svc.proto, &k.Src, &svc.persistMask, svc.id)
	if tm := e.table.Lookup(&tk); tm != nil {
		if tm.Dest() == r.id && tm.DestGen() == r.gen {
			return tm
		}
		return nil
	}
	tm, err := e.table.InstallTemplate(tk, conntrack.Value{Service: svc.id, Dest: r.id, DestGen: r.gen}, svc.persistTimeout)
	if err != nil {
		return nil
	}
	return tm
}

func refusal(err error) SyncRefusal {
	switch {
	case errors.Is(err, conntrack.ErrReplyClash):
		return RefuseClash
	case errors.Is(err, conntrack.ErrFull):
		return RefuseFull
	}
	return RefuseBad
}

// syncService finds the running service a sync entry belongs to: the group
// named by its firewall mark, else the one its VIP, port and protocol
// reach (a group by its matches too). A template is found by its VIP and
// port with its own protocol, or, carrying none (a kernel's fwmark
// template), by the mark alone.
func (s *snapshot) syncService(c *connsync.Conn) *serviceState {
	if c.FWMark != 0 {
		name := strconv.FormatUint(uint64(c.FWMark), 10)
		for _, svc := range s.services {
			if svc.key.Group == name {
				return svc
			}
		}
		return nil
	}
	if !c.Virtual.IsValid() {
		return nil
	}
	vip := flow.Addr16(c.Virtual.Addr())
	return s.lookupService(c.Proto, &vip, c.Virtual.Port())
}

// realAt returns the service's real server at addr:port (a real server
// of port 0 takes any port).
func (svc *serviceState) realAt(addr [16]byte, port uint16) *realState {
	for _, r := range svc.reals {
		if r.addr == addr && (r.port == port || r.port == 0) {
			return r
		}
	}
	return nil
}

// templateKey is the key of the template a sync entry describes, masked by
// this engine's persistence granularity.
func (svc *serviceState) templateKey(c *connsync.Conn) conntrack.Key {
	client := flow.Addr16(c.Client.Addr())
	return conntrack.TemplateKey(svc.proto, &client, &svc.persistMask, svc.id)
}
