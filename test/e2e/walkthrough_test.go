package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// Every sh block of docs/walkthrough.md runs, in order, as one script.
func TestWalkthroughCommandsRun(t *testing.T) {
	t.Parallel()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	doc, err := os.ReadFile(filepath.Join(root, "docs", "walkthrough.md"))
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	// A failing command must not leave the doc's background server holding
	// its port for the next run.
	script.WriteString("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n")
	blocks := shBlock.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 6 {
		t.Fatalf("only %d sh blocks in the walkthrough", len(blocks))
	}
	for _, b := range blocks {
		script.WriteString(b[1])
	}
	// The doc runs from the repository root with bin/ on PATH; point PATH at
	// the binaries under test.
	binDir := filepath.Dir(serverBin)
	text := strings.ReplaceAll(script.String(), "export PATH=$PWD/bin:$PATH", "export PATH="+binDir+":$PATH")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", text)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough commands failed: %v\n%s", err, out)
	}
	for _, want := range []string{"namespace/demo created", "pod/web created", "ResponseStarted", `"restartPolicy":"Always"`,
		"level:          RequestResponse", "level:          None", "events in 1 files: ok", "kubernetes-admin.log",
		"configmap/app-config created", "secret/app-secret created", "no secret data"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %q:\n%s", want, out)
		}
	}
}
