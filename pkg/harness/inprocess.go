package harness

import (
	"context"
	"fmt"
	"net"

	"k8s.io/apiserver/pkg/util/compatibility"

	"github.com/mini-apiserver/mini-apiserver/pkg/server"
)

// inProcess is a server running in this process.
type inProcess struct{ *server.Instance }

func (p inProcess) stop() error           { return p.Close() }
func (p inProcess) done() <-chan struct{} { return p.Done() }
func (p inProcess) err() error            { return p.Err() }

// completeInProcess completes and validates the options the in-process
// server starts with, once for every launch.
func completeInProcess(o *server.Options) (server.CompletedOptions, error) {
	if err := compatibility.DefaultComponentGlobalsRegistry.Set(); err != nil {
		return server.CompletedOptions{}, err
	}
	completed, err := o.Complete()
	if err != nil {
		return server.CompletedOptions{}, err
	}
	return completed, completed.Validate()
}

func (s *Server) launchInProcess(ctx context.Context) error {
	var opts []server.StartOption
	if s.fixedPort == 0 {
		// A port bound here and handed over: parallel servers never collide.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		opts = append(opts, server.WithListener(l))
	}
	if s.ownDataDir {
		// Removed by Stop: a test's etcd, ready sooner.
		opts = append(opts, server.WithDisposableEtcd())
	}
	if s.opts.WrapHandler != nil {
		opts = append(opts, server.WithAPIHandlerWrapper(s.opts.WrapHandler))
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	inst, err := server.Start(ctx, s.options, opts...)
	if err != nil {
		return err
	}
	s.kubeconfig, s.port, s.run = inst.KubeconfigPath, inst.Port, inProcess{inst}
	if err := inst.WaitReady(ctx); err != nil {
		_ = inst.Close()
		if ctx.Err() != nil {
			return fmt.Errorf("not ready after %s: %w", s.opts.ReadyTimeout, err)
		}
		return err
	}
	return nil
}
