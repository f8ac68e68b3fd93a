package service

import (
	"errors"
	"time"
)

// Timeouts are the three timeouts ipvsadm --set changes.
type Timeouts struct {
	TCP    time.Duration `json:"tcp"`
	TCPFin time.Duration `json:"tcpfin"`
	UDP    time.Duration `json:"udp"`
}

// ErrNegativeTimeout is Timeouts.Validate's answer to a negative field.
// ipvsadm's parser refuses those before they reach a daemon, so it has no
// words for it.
var ErrNegativeTimeout = errors.New("negative timeout")

// Validate refuses a negative timeout. Zero is valid: in a change it keeps
// the current value, as ipvsadm --set 0 does. Both ends of a change call it,
// the control server (to answer a bad request) and the engine (for Go
// programs that call it directly), so they cannot disagree.
func (t Timeouts) Validate() error {
	if t.TCP < 0 || t.TCPFin < 0 || t.UDP < 0 {
		return ErrNegativeTimeout
	}
	return nil
}

// Counters are IPVS's per-object statistics.
type Counters struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"inpkts"`
	OutPkts  uint64 `json:"outpkts"`
	InBytes  uint64 `json:"inbytes"`
	OutBytes uint64 `json:"outbytes"`
}

// Rates are smoothed per-second estimates of Counters, as IPVS's estimator
// computes them.
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"inpps"`
	OutPPS uint64 `json:"outpps"`
	InBPS  uint64 `json:"inbps"`
	OutBPS uint64 `json:"outbps"`
}

// RealStats are one real server's figures.
type RealStats struct {
	Key          RealKey  `json:"key"`
	ActiveConns  int32    `json:"activeconns"`
	InactConns   int32    `json:"inactconns"`
	PersistConns int32    `json:"persistconns"`
	Counters     Counters `json:"counters"`
	Rates        Rates    `json:"rates"`
}

// ServiceStats are one service's figures and those of its real servers.
type ServiceStats struct {
	Key      Key         `json:"key"`
	Counters Counters    `json:"counters"`
	Rates    Rates       `json:"rates"`
	Reals    []RealStats `json:"reals"`
}

// Stats is everything ipvsadm --stats and --rate show, plus table figures.
type Stats struct {
	Services []ServiceStats `json:"services"`
	Table    TableStats     `json:"table"`
	// Drops are the engine's loss counters, the same records as its
	// DropReport's Drops (see Drop), so the metrics need no second source.
	Drops []Drop `json:"drops"`
}

// TableStats describe the connection table.
type TableStats struct {
	Conns     int    `json:"conns"`
	Templates int    `json:"templates"`
	Capacity  int    `json:"capacity"`
	Evictions uint64 `json:"evictions"`
}
