package harness

import (
	"context"
	"net"

	"k8s.io/apiserver/pkg/util/compatibility"
)

// inProcess is a server running in this process.
type inProcess struct {
	cancel   context.CancelFunc
	finished chan struct{}
	runErr   error
}

func (p *inProcess) stop() error {
	p.cancel()
	<-p.finished
	return p.runErr
}

func (p *inProcess) done() <-chan struct{} { return p.finished }
func (p *inProcess) err() error            { return p.runErr }

func (s *Server) launchInProcess(ctx context.Context) (err error) {
	o, _, err := parseFlags(s.flags, false)
	if err != nil {
		return err
	}
	if err := compatibility.DefaultComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	if s.fixedPort == 0 {
		// A port bound here and handed over: parallel servers never collide.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		o.SecureServing.Listener = l
		// Until the server owns it; closing it twice is harmless.
		defer func() {
			if err != nil {
				l.Close()
			}
		}()
	}
	completed, err := o.Complete()
	if err != nil {
		return err
	}
	if err := completed.Validate(); err != nil {
		return err
	}
	cfg, err := completed.Config()
	if err != nil {
		return err
	}
	cfg.Extra.WrapAPIHandler = s.opts.WrapHandler
	srv, err := cfg.Complete().New()
	if err != nil {
		return err
	}
	s.kubeconfig = cfg.Extra.KubeconfigPath
	s.port = cfg.Generic.SecureServing.Listener.Addr().(*net.TCPAddr).Port

	runCtx, cancel := context.WithCancel(context.Background())
	p := &inProcess{cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(p.finished)
		p.runErr = srv.Run(runCtx)
	}()
	s.run = p
	if err := waitReady(ctx, s.opts.ReadyTimeout, s.kubeconfig, s.port, p); err != nil {
		p.stop()
		return err
	}
	return nil
}
