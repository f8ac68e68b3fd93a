package health

import (
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// ScriptTimeout bounds a notify script; past it its process group is killed.
const ScriptTimeout = time.Minute

// RunScript starts argv in its own process group and does not wait for it, as keepalived's
// notify_exec; a script still running after ScriptTimeout is killed with its group. Failures
// are logged.
func RunScript(argv []string, log *slog.Logger) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Warn("health: notify script failed to start", "script", argv[0], "err", err)
		return
	}
	t := time.AfterFunc(ScriptTimeout, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	go func() {
		err := cmd.Wait()
		t.Stop()
		if err != nil {
			log.Warn("health: notify script failed", "script", argv[0], "err", err)
		}
	}()
}
