package admin

import "strings"

// This file is ipvsadm's option vocabulary: every long and short option it
// accepts, and which options each command allows, requires or treats as
// mutually exclusive. The names are the ones ipvsadm's messages use.

// opt is an option that can be given once per command line; its value is
// the bit it occupies in an optSet.
type opt uint8

const (
	optNumeric opt = iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optMcastIf
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistConn
	optNoSort
	optSyncID
	optExact
	optOps
	optPE
	optSchedFlags
	optMcastGroup
	optMcastPort
	optMcastTTL
	optSyncMaxLen
	optTunInfo
	optTunType
	optTunPort
	optTunNoCsum
	optTunCsum
	optTunRemCsum
	optMatch // xvs: a service group's traffic (repeatable)
	numOpts
)

// optNames are the names ipvsadm's messages give the options.
var optNames = [numOpts]string{
	"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold",
	"l-threshold", "mcast-interface", "timeout", "daemon", "stats", "rate",
	"thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
	"sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen",
	"tun-info", "tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum",
	"match",
}

type optSet uint64

func (s optSet) has(o opt) bool { return s&(1<<o) != 0 }

// Op is an ipvsadm command.
type Op uint8

// The commands, in ipvsadm's order.
const (
	OpNone          Op = iota
	OpAddService       // -A
	OpEditService      // -E
	OpDeleteService    // -D
	OpClear            // -C
	OpList             // -L, -l
	OpAddReal          // -a
	OpDeleteReal       // -d
	OpEditReal         // -e
	OpSetTimeouts      // --set
	OpStartDaemon      // --start-daemon
	OpStopDaemon       // --stop-daemon
	OpRestore          // -R
	OpSave             // -S
	OpZero             // -Z
	OpHelp             // -h
	OpVersion          // -v
	OpSetCapacity      // --set-capacity (xvs only: the connection table's size)
	OpChecks           // --checks (xvs only: the health checkers' states)
	OpVRRP             // --vrrp (xvs only: the VRRP instances' states)
	OpSync             // --sync (xvs only: the sync daemons' counts)
	OpDrain            // --drain (xvs only: withdraw every BGP announcement, keep forwarding)
	OpUndrain          // --undrain (xvs only: announce the healthy VIPs again)
)

var opNames = [...]string{
	OpNone: "none", OpAddService: "add-service", OpEditService: "edit-service",
	OpDeleteService: "delete-service", OpClear: "flush", OpList: "list",
	OpAddReal: "add-server", OpDeleteReal: "delete-server", OpEditReal: "edit-server",
	OpSetTimeouts: "set", OpStartDaemon: "start-daemon", OpStopDaemon: "stop-daemon",
	OpRestore: "restore", OpSave: "save", OpZero: "zero", OpHelp: "help", OpVersion: "version", OpSetCapacity: "set-capacity",
	OpChecks: "checks", OpVRRP: "vrrp", OpSync: "sync", OpDrain: "drain", OpUndrain: "undrain",
}

// String returns the command's name as ipvsadm's messages spell it
// ("add-service", "flush", ...).
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// legal says, per command, how each option may be used, one character per
// opt in order: '+' required, 'x' illegal, '1' at most one of the '1's,
// ' ' optional. It is ipvsadm's table, plus the last column for --match.
var legal = map[Op]string{
	OpAddService:    "xx+   " + x(15) + "   " + x(10) + " ",
	OpEditService:   "xx+   " + x(15) + "   " + x(10) + " ",
	OpDeleteService: "xx+" + x(32),
	OpClear:         x(35),
	OpList:          " 11" + x(9) + "11" + "       " + x(7) + " " + x(5) + "x",
	OpAddReal:       "xx+xxx+    " + x(18) + "     " + "x",
	OpDeleteReal:    "xx+xxx+" + x(28),
	OpEditReal:      "xx+xxx+    " + x(18) + "     " + "x",
	OpSetTimeouts:   x(35),
	OpSetCapacity:   x(35),
	OpChecks:        x(35),
	OpVRRP:          x(35),
	OpSync:          x(35),
	OpDrain:         x(35),
	OpUndrain:       x(35),
	OpStartDaemon:   x(11) + " " + x(7) + " " + x(4) + "    " + x(7),
	OpStopDaemon:    x(19) + " " + x(15),
	OpRestore:       x(35),
	OpSave:          " " + x(34),
	OpZero:          "xx " + x(32),
}

func x(n int) string { return strings.Repeat("x", n) }

// check enforces the legal table for cmd, reporting the first problem in
// option order, with ipvsadm's messages.
func check(cmd Op, set optSet) error {
	row, ok := legal[cmd]
	if !ok {
		return nil
	}
	first := -1
	for o := range numOpts {
		rule := row[o]
		if !set.has(o) {
			if rule == '+' {
				return syntaxf(ErrMissingOption, "You need to supply the '%s' option for the '%s' command", optNames[o], cmd)
			}
			continue
		}
		switch rule {
		case 'x':
			return syntaxf(ErrIllegalOption, "Illegal '%s' option with the '%s' command", optNames[o], cmd)
		case '1':
			if first >= 0 {
				return syntaxf(ErrConflict, "The option '%s' conflicts with the '%s' option in the '%s' command", optNames[o], optNames[first], cmd)
			}
			first = int(o)
		}
	}
	return nil
}

// argKind says whether an option takes a value.
type argKind uint8

const (
	argNone argKind = iota
	argRequired
	argOptional // -p [timeout]: takes the next word unless it starts with '-'
)

// optFlag is one entry of the option vocabulary.
type optFlag struct {
	long  string
	short byte
	arg   argKind
	// Exactly one of cmd and id is meaningful: cmd for commands; id for the
	// rest (-t and -u share optService, and so on).
	cmd Op
	id  flagID
}

// flagID identifies what a non-command flag does.
type flagID uint8

const (
	fNone flagID = iota
	fTCP
	fUDP
	fSCTP
	fGroup
	fScheduler
	fPersistent
	fNetmask
	fReal
	fMasq
	fIPIP
	fGate
	fWeight
	fUThreshold
	fLThreshold
	fNumeric
	fConnection
	fMcastIf
	fSyncID
	fTimeout
	fDaemon
	fStats
	fRate
	fThresholds
	fPersistConn
	fNoSort
	fSort
	fExact
	fIPv6
	fOps
	fPE
	fSchedFlags
	fMcastGroup
	fMcastPort
	fMcastTTL
	fSyncMaxLen
	fTunInfo
	fTunType
	fTunPort
	fTunNoCsum
	fTunCsum
	fTunRemCsum
	fMatch
	fDrops // xvs: -L --drops, outside the legal table (see parser.finish)
	fMH    // xvs: -L --mh, likewise
	fBGP   // xvs: -L --bgp, likewise
)

// flags is the vocabulary, as ipvsadm 1.31 declares it, plus --match.
var flags = []optFlag{
	{long: "add-service", short: 'A', cmd: OpAddService},
	{long: "edit-service", short: 'E', cmd: OpEditService},
	{long: "delete-service", short: 'D', cmd: OpDeleteService},
	{long: "clear", short: 'C', cmd: OpClear},
	{long: "list", short: 'L', cmd: OpList},
	{long: "list", short: 'l', cmd: OpList},
	{long: "zero", short: 'Z', cmd: OpZero},
	{long: "add-server", short: 'a', cmd: OpAddReal},
	{long: "edit-server", short: 'e', cmd: OpEditReal},
	{long: "delete-server", short: 'd', cmd: OpDeleteReal},
	{long: "set", cmd: OpSetTimeouts},
	{long: "set-capacity", arg: argRequired, cmd: OpSetCapacity},
	{long: "checks", cmd: OpChecks},
	{long: "vrrp", cmd: OpVRRP},
	{long: "sync", cmd: OpSync},
	{long: "drain", cmd: OpDrain},
	{long: "undrain", cmd: OpUndrain},
	{long: "help", short: 'h', cmd: OpHelp},
	{long: "version", short: 'v', cmd: OpVersion},
	{long: "restore", short: 'R', cmd: OpRestore},
	{long: "save", short: 'S', cmd: OpSave},
	{long: "start-daemon", arg: argRequired, cmd: OpStartDaemon},
	{long: "stop-daemon", arg: argRequired, cmd: OpStopDaemon},
	{long: "tcp-service", short: 't', arg: argRequired, id: fTCP},
	{long: "udp-service", short: 'u', arg: argRequired, id: fUDP},
	{long: "sctp-service", arg: argRequired, id: fSCTP},
	{long: "fwmark-service", short: 'f', arg: argRequired, id: fGroup},
	{long: "scheduler", short: 's', arg: argRequired, id: fScheduler},
	{long: "persistent", short: 'p', arg: argOptional, id: fPersistent},
	{long: "netmask", short: 'M', arg: argRequired, id: fNetmask},
	{long: "real-server", short: 'r', arg: argRequired, id: fReal},
	{long: "masquerading", short: 'm', id: fMasq},
	{long: "ipip", short: 'i', id: fIPIP},
	{long: "gatewaying", short: 'g', id: fGate},
	{long: "weight", short: 'w', arg: argRequired, id: fWeight},
	{long: "u-threshold", short: 'x', arg: argRequired, id: fUThreshold},
	{long: "l-threshold", short: 'y', arg: argRequired, id: fLThreshold},
	{long: "numeric", short: 'n', id: fNumeric},
	{long: "connection", short: 'c', id: fConnection},
	{long: "mcast-interface", arg: argRequired, id: fMcastIf},
	{long: "syncid", arg: argRequired, id: fSyncID},
	{long: "timeout", id: fTimeout},
	{long: "daemon", id: fDaemon},
	{long: "stats", id: fStats},
	{long: "rate", id: fRate},
	{long: "thresholds", id: fThresholds},
	{long: "persistent-conn", id: fPersistConn},
	{long: "nosort", id: fNoSort},
	{long: "sort", id: fSort},
	{long: "exact", short: 'X', id: fExact},
	{long: "ipv6", short: '6', id: fIPv6},
	{long: "ops", short: 'o', id: fOps},
	{long: "pe", arg: argRequired, id: fPE},
	{long: "sched-flags", short: 'b', arg: argRequired, id: fSchedFlags},
	{long: "mcast-group", arg: argRequired, id: fMcastGroup},
	{long: "mcast-port", arg: argRequired, id: fMcastPort},
	{long: "mcast-ttl", arg: argRequired, id: fMcastTTL},
	{long: "sync-maxlen", arg: argRequired, id: fSyncMaxLen},
	{long: "tun-info", id: fTunInfo},
	{long: "tun-type", arg: argRequired, id: fTunType},
	{long: "tun-port", arg: argRequired, id: fTunPort},
	{long: "tun-nocsum", id: fTunNoCsum},
	{long: "tun-csum", id: fTunCsum},
	{long: "tun-remcsum", id: fTunRemCsum},
	{long: "match", arg: argRequired, id: fMatch},
	{long: "drops", id: fDrops},
	{long: "mh", id: fMH},
	{long: "bgp", id: fBGP},
}

func lookupLong(name string) *optFlag {
	for i := range flags {
		if flags[i].long == name {
			return &flags[i]
		}
	}
	return nil
}

func lookupShort(c byte) *optFlag {
	for i := range flags {
		if flags[i].short == c {
			return &flags[i]
		}
	}
	return nil
}
