// Package notify runs the operator's notify scripts (keepalived's
// notify_exec): detached, in their own process group, killed with the group
// past a timeout, failures logged, so a hanging script never holds up the
// daemon that fired it.
package notify

import (
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// Timeout bounds a notify script; past it its process group is killed.
const Timeout = time.Minute

// Run starts argv in its own process group and does not wait for it; a
// script still running after Timeout is killed with its group. Failures are
// logged to log, naming who (the package that fired it).
func Run(argv []string, who string, log *slog.Logger) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Warn(who+": notify script failed to start", "script", argv[0], "err", err)
		return
	}
	t := time.AfterFunc(Timeout, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	go func() {
		err := cmd.Wait()
		t.Stop()
		if err != nil {
			log.Warn(who+": notify script failed", "script", argv[0], "err", err)
		}
	}()
}
