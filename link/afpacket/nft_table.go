package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// TablePrefix starts the name of every nftables table this package creates
// (family netdev): "xvs_afpacket_<pid>_<n>". Cleanup removes the ones whose
// process is gone.
const TablePrefix = "xvs_afpacket_"

// tableFlags are the flags a new table gets. NFT_TABLE_F_OWNER binds the
// table to the netlink socket that created it: when the process dies, even
// by SIGKILL, the kernel deletes the table with the socket, so a crash
// cannot leave the steered traffic blackholed. Kernels before 5.12 refuse
// the flag; the table is then created without it and a crashed run's table
// is removed by Cleanup or the next Open. Tests clear it to simulate such a
// kernel.
var tableFlags uint32 = nftTableFOwner

var (
	tableSeq atomic.Uint32
	// liveTables holds the tables of this process's open backends, which
	// Cleanup must not touch even though their pid is alive.
	liveTables sync.Map
)

// nftTable is xvs's table in one network namespace, with the netlink
// socket that owns it.
type nftTable struct {
	conn   *nlConn
	name   string
	ifaces []string
	owned  bool // created with NFT_TABLE_F_OWNER
}

func newTableName() string {
	return TablePrefix + strconv.Itoa(os.Getpid()) + "_" + strconv.Itoa(int(tableSeq.Add(1)))
}

// createTable removes leftovers of dead processes, then creates the table
// with a base chain on the ingress hook of each interface and the empty
// regular chains, in one batch.
func createTable(ifaces []string) (*nftTable, error) {
	c, err := dialNetfilter()
	if err != nil {
		return nil, err
	}
	if err := cleanup(c); err != nil {
		c.close()
		return nil, err
	}
	t := &nftTable{conn: c, name: newTableName(), ifaces: ifaces}
	flags := tableFlags
	err = c.batch(func(m *nlBuilder) { t.fillCreate(m, flags) })
	if errors.Is(err, unix.EOPNOTSUPP) && flags != 0 {
		flags = 0
		err = c.batch(func(m *nlBuilder) { t.fillCreate(m, flags) })
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("creating nftables table %s: %w", t.name, err)
	}
	t.owned = flags&nftTableFOwner != 0
	liveTables.Store(t.name, struct{}{})
	return t, nil
}

func (t *nftTable) fillCreate(m *nlBuilder, flags uint32) {
	m.msg(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, "new table "+t.name)
	m.str(unix.NFTA_TABLE_NAME, t.name)
	m.u32(unix.NFTA_TABLE_FLAGS, flags)
	m.end()
	for _, ch := range []string{chainV4, chainV4Addr, chainV6, chainV6Addr} {
		m.msg(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE|unix.NLM_F_EXCL, "new chain "+ch)
		m.str(unix.NFTA_CHAIN_TABLE, t.name)
		m.str(unix.NFTA_CHAIN_NAME, ch)
		m.end()
	}
	for _, ifname := range t.ifaces {
		ch := baseChainName(ifname)
		m.msg(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE|unix.NLM_F_EXCL, "new chain "+ch)
		m.str(unix.NFTA_CHAIN_TABLE, t.name)
		m.str(unix.NFTA_CHAIN_NAME, ch)
		h := m.nest(unix.NFTA_CHAIN_HOOK)
		m.u32(unix.NFTA_HOOK_HOOKNUM, unix.NF_NETDEV_INGRESS)
		prio := int32(ingressPriority)
		m.u32(unix.NFTA_HOOK_PRIORITY, uint32(prio))
		m.str(unix.NFTA_HOOK_DEV, ifname)
		m.unnest(h)
		m.str(unix.NFTA_CHAIN_TYPE, "filter")
		m.u32(unix.NFTA_CHAIN_POLICY, nfAccept)
		m.end()
		for _, r := range baseRules(ch) {
			r.encode(m, t.name)
		}
	}
}

func baseChainName(ifname string) string { return "ingress_" + ifname }

// update replaces the rules of the regular chains with rules, atomically:
// one batch flushes the chains and adds the new rules, and a packet sees
// either the old set or the new one.
func (t *nftTable) update(rules []nftRule) error {
	err := t.conn.batch(func(m *nlBuilder) {
		for _, ch := range []string{chainV4, chainV4Addr, chainV6, chainV6Addr} {
			m.msg(unix.NFT_MSG_DELRULE, 0, "flush chain "+ch)
			m.str(unix.NFTA_RULE_TABLE, t.name)
			m.str(unix.NFTA_RULE_CHAIN, ch)
			m.end()
		}
		for _, r := range rules {
			r.encode(m, t.name)
		}
	})
	if err != nil {
		return fmt.Errorf("updating nftables table %s: %w", t.name, err)
	}
	return nil
}

// close deletes the table and closes its socket. With the owner flag,
// closing the socket alone would delete it; the explicit delete makes the
// removal visible (and checked) before close returns.
func (t *nftTable) close() error {
	if t == nil || t.conn == nil {
		return nil
	}
	err := deleteTable(t.conn, t.name)
	t.conn.close()
	t.conn = nil
	liveTables.Delete(t.name)
	return err
}

func deleteTable(c *nlConn, name string) error {
	err := c.batch(func(m *nlBuilder) {
		m.msg(unix.NFT_MSG_DELTABLE, 0, "delete table "+name)
		m.str(unix.NFTA_TABLE_NAME, name)
		m.end()
	})
	if err != nil {
		return fmt.Errorf("deleting nftables table %s: %w", name, err)
	}
	return nil
}

// tableInfo describes one netdev table.
type tableInfo struct {
	name  string
	flags uint32
	owner uint32 // netlink port id of the owner, if flags has the owner bit
}

func listTables(c *nlConn) ([]tableInfo, error) {
	msgs, err := c.dump(unix.NFT_MSG_GETTABLE, unix.NFPROTO_NETDEV)
	if err != nil {
		return nil, fmt.Errorf("listing nftables tables: %w", err)
	}
	var out []tableInfo
	for _, msg := range msgs {
		if msg.typ != unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWTABLE || msg.family != unix.NFPROTO_NETDEV {
			continue
		}
		at := parseAttrs(msg.data)
		ti := tableInfo{name: strings.TrimRight(string(at[unix.NFTA_TABLE_NAME]), "\x00")}
		if v := at[unix.NFTA_TABLE_FLAGS]; len(v) == 4 {
			ti.flags = binary.BigEndian.Uint32(v)
		}
		if v := at[nftaTableOwner]; len(v) == 4 {
			ti.owner = binary.BigEndian.Uint32(v)
		}
		out = append(out, ti)
	}
	return out, nil
}

// Cleanup removes, in the network namespace of the calling thread, the
// tables that runs of this package left behind: tables named with
// TablePrefix that have no owner socket (see tableFlags) and whose process
// is gone, or that belong to this process but to no open backend. Tables
// with an owner are alive by definition (the kernel deletes them with their
// socket). Open calls it too, so a restarted daemon replaces its crashed
// predecessor's table.
//
// The creator is recognized by the pid in the table name, which assumes the
// processes sharing a network namespace share a pid namespace too.
func Cleanup() error {
	c, err := dialNetfilter()
	if err != nil {
		return err
	}
	defer c.close()
	return cleanup(c)
}

func cleanup(c *nlConn) error {
	tables, err := listTables(c)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tables {
		if !strings.HasPrefix(t.name, TablePrefix) || t.flags&nftTableFOwner != 0 || !stale(t.name) {
			continue
		}
		if err := deleteTable(c, t.name); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stale reports whether the table called name belongs to a dead process, or
// to this one but to no open backend.
func stale(name string) bool {
	rest := strings.TrimPrefix(name, TablePrefix)
	pidStr, _, _ := strings.Cut(rest, "_")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false // not ours after all: leave it alone
	}
	if pid == os.Getpid() {
		_, live := liveTables.Load(name)
		return !live
	}
	err = unix.Kill(pid, 0)
	return err == unix.ESRCH
}
