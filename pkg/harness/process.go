package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mini-apiserver/mini-apiserver/internal/proc"
)

// process is the mini-apiserver binary running as a child process.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr *proc.SyncBuffer
	finished       chan struct{}
	exitErr        error
}

// stopTimeout bounds a graceful stop before the process is killed.
const stopTimeout = 60 * time.Second

func (p *process) stop() error {
	select {
	case <-p.finished:
		return p.exitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.finished:
		return p.exitErr
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.finished
		return fmt.Errorf("mini-apiserver did not stop within %s of SIGTERM (killed)", stopTimeout)
	}
}

func (p *process) done() <-chan struct{} { return p.finished }
func (p *process) err() error            { return p.exitErr }

// portAttempts bounds the retries when another process takes the chosen
// port between FreePort and the server's bind.
const portAttempts = 3

func (s *Server) launchProcess(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < portAttempts; attempt++ {
		args, port, err := s.processPort()
		if err != nil {
			return err
		}
		p := &process{stdout: &proc.SyncBuffer{}, stderr: &proc.SyncBuffer{}, finished: make(chan struct{})}
		p.cmd = exec.Command(s.opts.Binary, args...)
		p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
		if s.opts.Env != nil {
			p.cmd.Env = append(os.Environ(), s.opts.Env...)
		}
		if err := p.cmd.Start(); err != nil {
			return fmt.Errorf("harness: %w", err)
		}
		go func() {
			p.exitErr = p.cmd.Wait()
			close(p.finished)
		}()
		s.run, s.proc, s.port = p, p, port
		s.kubeconfig = filepath.Join(s.dataDir, "admin.kubeconfig")
		lastErr = waitReady(ctx, s.opts.ReadyTimeout, s.kubeconfig, port, p)
		if lastErr == nil {
			return nil
		}
		_ = p.stop()
		if s.fixedPort != 0 || !strings.Contains(p.stderr.String(), "address already in use") {
			break
		}
	}
	return fmt.Errorf("mini-apiserver did not become ready: %w\nstderr:\n%s", lastErr, s.proc.stderr.String())
}

// processPort is the port from --secure-port, or one FreePort chose and
// the flag that passes it.
func (s *Server) processPort() ([]string, int, error) {
	if s.fixedPort != 0 {
		return s.flags, s.fixedPort, nil
	}
	port, err := proc.FreePort()
	return append([]string{fmt.Sprintf("--secure-port=%d", port)}, s.flags...), port, err
}

// PID is the server's process ID (0 in-process).
func (s *Server) PID() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Signal sends sig to the server process (an error in-process).
func (s *Server) Signal(sig os.Signal) error {
	if s.proc == nil {
		return fmt.Errorf("harness: the in-process server has no process to signal")
	}
	return s.proc.cmd.Process.Signal(sig)
}

// Stdout is what the server process has written to its standard output
// ("" in-process).
func (s *Server) Stdout() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.stdout.String()
}

// Stderr is what the server process has logged ("" in-process).
func (s *Server) Stderr() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.stderr.String()
}
