package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// make demo runs unattended and passes its own checks.
func TestDemo(t *testing.T) {
	t.Parallel()
	script, _ := filepath.Abs(filepath.Join("..", "..", "hack", "demo.sh"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Env = append(os.Environ(), "BIN="+filepath.Dir(serverBin), "DEMO_PAUSE=", "DEMO_CONSOLE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "demo: every step showed what it should") || strings.Contains(string(out), "FAILED") {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"ResponseStarted", "kubernetes-admin as bob", "403  forbid", "failed to store audit event", "attempts 503 503 ", "NAME              AGE\nsecond-receiver", "pods demo/watched", "The live audit console: open http://127.0.0.1:", "ok: the console showed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
