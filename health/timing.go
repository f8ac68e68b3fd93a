package health

import (
	"fmt"
	"time"
)

// Timing is one checker's schedule, every field resolved (keepalived inherits them from the
// virtual server to the real server to the checker; the config reader does that).
type Timing struct {
	// DelayLoop is the time between checks while nothing fails (delay_loop).
	DelayLoop time.Duration
	// Timeout bounds one probe as a whole: connect_timeout, or misc_timeout for MISC_CHECK.
	// (keepalived restarts connect_timeout at each read of an HTTP reply; here connecting,
	// the TLS handshake and the whole reply share one budget.)
	Timeout time.Duration
	// Retry is how many failures past the first an up checker forgives (retry, nb_get_retry).
	Retry int
	// DelayBeforeRetry is the wait after a forgiven failure (delay_before_retry).
	DelayBeforeRetry time.Duration
	// Warmup bounds the random delay before the first check (warmup); 0 starts at once.
	Warmup time.Duration
}

// keepalived's defaults (check_data.c, check_api.c, check_http.c, check_dns.c, check_misc.c).
const (
	DefaultDelayLoop      = 60 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	// BootstrapDelay is keepalived's fixed wait before the first check, added to the warmup.
	BootstrapDelay = time.Second
)

// DefaultRetry is keepalived's retry for a checker kind that sets none: 1, DNS 3, MISC 0.
func DefaultRetry(k Kind) int {
	switch k {
	case KindDNS:
		return 3
	case KindMisc:
		return 0
	}
	return 1
}

// DefaultDelayBeforeRetry is keepalived's delay_before_retry for a kind that sets none: 1 s,
// HTTP and SSL 3 s, DNS the delay loop.
func DefaultDelayBeforeRetry(k Kind, delayLoop time.Duration) time.Duration {
	switch k {
	case KindHTTP, KindSSL:
		return 3 * time.Second
	case KindDNS:
		return delayLoop
	}
	return time.Second
}

// DefaultTiming is the schedule of a checker of kind k where nothing is configured but the
// delay loop (0: keepalived's 60 s). MISC_CHECK's timeout defaults to the delay loop.
func DefaultTiming(k Kind, delayLoop time.Duration) Timing {
	if delayLoop <= 0 {
		delayLoop = DefaultDelayLoop
	}
	t := Timing{
		DelayLoop:        delayLoop,
		Timeout:          DefaultConnectTimeout,
		Retry:            DefaultRetry(k),
		DelayBeforeRetry: DefaultDelayBeforeRetry(k, delayLoop),
		Warmup:           delayLoop,
	}
	if k == KindMisc {
		t.Timeout = delayLoop
	}
	return t
}

// Validate refuses a schedule that would spin or never run; field names are keepalived's.
func (t Timing) Validate() error {
	switch {
	case t.DelayLoop <= 0:
		return fmt.Errorf("delay_loop %v: must be positive", t.DelayLoop)
	case t.Timeout <= 0:
		return fmt.Errorf("connect_timeout %v: must be positive", t.Timeout)
	case t.Retry < 0:
		return fmt.Errorf("retry %d: must not be negative", t.Retry)
	case t.DelayBeforeRetry <= 0:
		return fmt.Errorf("delay_before_retry %v: must be positive", t.DelayBeforeRetry)
	case t.Warmup < 0:
		return fmt.Errorf("warmup %v: must not be negative", t.Warmup)
	}
	return nil
}
