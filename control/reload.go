package control

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync"

	"github.com/xvs-project/xvs/service"
)

// ErrNoConfigFile is a reload's answer when there is no file to reload
// from (the daemon was started without --config).
var ErrNoConfigFile = errors.New("no configuration file to reload")

// LoadFile reads the configuration file at path, validates it as a whole
// and installs it on engine in one Apply. A file that cannot be read,
// parsed or validated changes nothing, and neither does an engine that
// refuses it: the running configuration stays as it was.
//
// The file may be YAML or keepalived.conf (DetectFormat tells them apart).
// Its checks are not run: every real server is installed as written. A
// Supervisor runs them.
func LoadFile(path string, engine Engine) error {
	return (&Reloader{Path: path, Engine: engine}).Reload()
}

// Reloader reloads an engine's configuration from its file, as LoadFile
// does, whether a signal (Watch) or the control socket's reload request
// (pass Reload to WithReload) asks for it, so both do the same thing. A
// Reloader must not be copied after first use.
type Reloader struct {
	// Path is the configuration file. Empty means there is none: every
	// reload fails with ErrNoConfigFile.
	Path string
	// Format is the file's format (FormatYAML, FormatKeepalived); empty
	// tells it from the contents on every reload.
	Format string
	// Engine receives the file.
	Engine Engine
	// Supervisor, if set, installs the file with its checks; without one
	// the file's services are installed as written and its checks ignored.
	Supervisor *Supervisor
	// Prepare, if set, runs on every reload once the file has parsed and
	// validated, just before it is installed: the daemon relearns the
	// VLAN devices it serves there. It cannot refuse the reload; it logs
	// its own problems.
	Prepare func()
	// Installed, if set, runs after every reload that installed its file
	// (the daemon tells there whether its VRRP instances changed).
	Installed func(*File)
	// Logger receives one line per reload Watch makes; nil means slog's
	// default logger.
	Logger *slog.Logger

	// mu makes reloads one at a time, so two that overlap cannot install
	// their files in the other order than they read them.
	mu sync.Mutex
}

// Reload re-reads the file and installs it; on error nothing changed.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Path == "" {
		return ErrNoConfigFile
	}
	f, err := ReadFile(r.Path, r.Format)
	if err != nil {
		return err
	}
	if r.Prepare != nil {
		r.Prepare()
	}
	if r.Supervisor != nil {
		err = r.Supervisor.Install(f)
	} else {
		err = r.Engine.Apply(func(c *service.Config) error {
			*c = *f.Services
			return nil
		})
	}
	if err == nil && r.Installed != nil {
		r.Installed(f)
	}
	return err
}

// Watch reloads on every one of sigs (the daemon passes SIGHUP) until ctx
// is done, and logs each outcome. It subscribes to the signals before it
// returns, so one sent after Watch returns is never missed (nor, as the
// default action would, ends the process); the reloads run in a goroutine
// of their own.
func (r *Reloader) Watch(ctx context.Context, sigs ...os.Signal) {
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				if err := r.Reload(); err != nil {
					log.Error("reload refused; running configuration unchanged", "err", err)
				} else {
					log.Info("configuration reloaded", "file", r.Path)
				}
			}
		}
	}()
}
