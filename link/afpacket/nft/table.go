package nft

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

var (
	tableSeq atomic.Uint32
	// liveTables holds the tables of this process not closed yet, which
	// Cleanup must not touch even though their pid is alive.
	liveTables sync.Map
)

// Table is xvs's table (family netdev) in one network namespace, with the
// netlink socket that owns it.
type Table struct {
	conn   *nlConn
	name   string
	chains []Chain
	owned  bool // created with NFT_TABLE_F_OWNER
}

// Chain is a chain of a Table. With a Device it is a base chain on the
// netdev ingress hook of that interface, at Priority, with policy accept,
// holding Rules; without, a regular chain, empty until Update fills it.
type Chain struct {
	Name     string
	Device   string
	Priority int32
	Rules    []Rule
}

func newTableName() string {
	return TablePrefix + strconv.Itoa(os.Getpid()) + "_" + strconv.Itoa(int(tableSeq.Add(1)))
}

// Create removes leftovers of dead processes (see Cleanup), then creates a
// table named TablePrefix+"<pid>_<n>" with chains, in the order given (a
// base chain's rules may jump only to a chain before it), in one batch, in
// the network namespace of the calling thread.
//
// With owner the table gets NFT_TABLE_F_OWNER, which binds it to the
// netlink socket that created it: when the process dies, even by SIGKILL,
// the kernel deletes the table with the socket, so a crash cannot leave the
// steered traffic blackholed. Kernels before 5.12 refuse the flag; the
// table is then created without it, and a crashed run's table is removed
// by Cleanup or the next Create.
func Create(chains []Chain, owner bool) (*Table, error) {
	c, err := dialNetfilter()
	if err != nil {
		return nil, err
	}
	if err := cleanup(c); err != nil {
		c.close()
		return nil, err
	}
	t := &Table{conn: c, name: newTableName(), chains: chains}
	var flags uint32
	if owner {
		flags = nftTableFOwner
	}
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

func (t *Table) fillCreate(m *nlBuilder, flags uint32) {
	m.msg(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, "new table "+t.name)
	m.str(unix.NFTA_TABLE_NAME, t.name)
	m.u32(unix.NFTA_TABLE_FLAGS, flags)
	m.end()
	for _, ch := range t.chains {
		m.msg(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE|unix.NLM_F_EXCL, "new chain "+ch.Name)
		m.str(unix.NFTA_CHAIN_TABLE, t.name)
		m.str(unix.NFTA_CHAIN_NAME, ch.Name)
		if ch.Device != "" {
			h := m.nest(unix.NFTA_CHAIN_HOOK)
			m.u32(unix.NFTA_HOOK_HOOKNUM, unix.NF_NETDEV_INGRESS)
			m.u32(unix.NFTA_HOOK_PRIORITY, uint32(ch.Priority))
			m.str(unix.NFTA_HOOK_DEV, ch.Device)
			m.unnest(h)
			m.str(unix.NFTA_CHAIN_TYPE, "filter")
			m.u32(unix.NFTA_CHAIN_POLICY, uint32(Accept))
		}
		m.end()
		for _, r := range ch.Rules {
			r.encode(m, t.name)
		}
	}
}

// Owned reports whether the table has NFT_TABLE_F_OWNER: the kernel deletes
// it when its socket closes, even when the process is killed.
func (t *Table) Owned() bool { return t.owned }

// Name returns the table's name.
func (t *Table) Name() string { return t.name }

// Update replaces the rules of the regular chains with rules, atomically:
// one batch flushes those chains and adds the new rules, and a packet sees
// either the old set or the new one.
func (t *Table) Update(rules []Rule) error {
	err := t.conn.batch(func(m *nlBuilder) {
		for _, ch := range t.chains {
			if ch.Device != "" {
				continue
			}
			m.msg(unix.NFT_MSG_DELRULE, 0, "flush chain "+ch.Name)
			m.str(unix.NFTA_RULE_TABLE, t.name)
			m.str(unix.NFTA_RULE_CHAIN, ch.Name)
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

// Close deletes the table and closes its socket. With the owner flag,
// closing the socket alone would delete it; the explicit delete makes the
// removal visible (and checked) before Close returns. A nil Table or a
// second call does nothing.
func (t *Table) Close() error {
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

// TableNames lists the netdev tables of the calling thread's network
// namespace, xvs's and others'.
func TableNames() ([]string, error) {
	c, err := dialNetfilter()
	if err != nil {
		return nil, err
	}
	defer c.close()
	ts, err := listTables(c)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ts))
	for i, ti := range ts {
		names[i] = ti.name
	}
	return names, nil
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
// TablePrefix that have no owner socket (see Create) and whose process is
// gone, or that belong to this process but are closed. Tables with an owner
// are alive by definition (the kernel deletes them with their socket).
// Create calls it too, so a restarted daemon replaces its crashed
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
// to this one but is closed.
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
