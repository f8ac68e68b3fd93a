package testnet

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

var (
	openMu   sync.Mutex // guards openLabs
	openLabs = map[*Lab]struct{}{}

	signalOnce sync.Once
)

func register(l *Lab) {
	openMu.Lock()
	defer openMu.Unlock()
	openLabs[l] = struct{}{}
}

func unregister(l *Lab) {
	openMu.Lock()
	defer openMu.Unlock()
	delete(openLabs, l)
}

// closeAll closes every open lab; the signal handler's last act.
func closeAll() {
	openMu.Lock()
	labs := make([]*Lab, 0, len(openLabs))
	for l := range openLabs {
		labs = append(labs, l)
	}
	openMu.Unlock()
	var wg sync.WaitGroup
	for _, l := range labs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.Close() }()
	}
	wg.Wait()
}

// installSignalHandler makes SIGINT and SIGTERM close every open lab, then
// die of the same signal (the default action, so the exit status tells).
func installSignalHandler() {
	signalOnce.Do(func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-c
			closeAll()
			signal.Reset(syscall.SIGINT, syscall.SIGTERM)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		}()
	})
}
