package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a command a test started (a simulator, a second server, the VPA
// recommender). It is stopped when the test ends, if not before.
type process struct {
	cmd *exec.Cmd
	// log is the file its stdout and stderr go to, in E2E_LOG_DIR.
	log string
	// done is closed when it has exited; err is then its exit error.
	done chan struct{}
	err  error
	once sync.Once
}

// startProcess runs binary with args, its output written to a fresh
// E2E_LOG_DIR/<name>.log (tests count lines in it), and stops it when the
// test ends.
func startProcess(t *testing.T, name, binary string, args ...string) *process {
	t.Helper()
	p := &process{log: filepath.Join(env.logDir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop sends SIGTERM and waits for the exit, killing it after 30 s.
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}
