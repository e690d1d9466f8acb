//go:build linux

package hugeheap

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"
)

func TestDisabled(t *testing.T) {
	for godebug, want := range map[string]bool{
		"":                              false,
		"disablethp=1":                  true,
		"disablethp=0":                  false,
		"gctrace=1,disablethp=1":        true,
		"disablethp=1, madvdontneed=1":  true,
		"disablethp=1,disablethp=0":     false,
		"xdisablethp=1":                 false,
		"http2debug=1,disablethp=1,x=y": true,
	} {
		if got := disabled(godebug); got != want {
			t.Errorf("disabled(%q) = %v, want %v", godebug, got, want)
		}
	}
}

func TestOnlyWhereAsked(t *testing.T) {
	for enabled, want := range map[string]bool{
		"always [madvise] never\n": true,
		"[always] madvise never\n": false,
		"always madvise [never]\n": false,
		"":                         false,
	} {
		if got := onlyWhereAsked(enabled); got != want {
			t.Errorf("onlyWhereAsked(%q) = %v, want %v", enabled, got, want)
		}
	}
}

// TestHeapAdvised: the package's init, which ran in this test binary,
// advised a heap region of the size it grows, and the kernel keeps the
// advice on it (VmFlags "hg" in /proc/self/smaps).
func TestHeapAdvised(t *testing.T) {
	if mode, err := os.ReadFile(thpEnabled); err != nil || !onlyWhereAsked(string(mode)) {
		t.Skipf("this kernel's transparent huge pages are not madvise (%q, %v): nothing is advised", mode, err)
	}
	if disabled(os.Getenv("GODEBUG")) {
		t.Skip("GODEBUG=disablethp=1 is set for the tests")
	}
	size := advised.end - advised.start
	if size < startHeap-2*hugePage {
		t.Fatalf("advised %#x-%#x (%d MiB), want the %d MiB the heap was grown by, less its unaligned ends", advised.start, advised.end, size>>20, startHeap>>20)
	}
	flags, err := vmFlags(advised.start)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("the mapping at %#x has VmFlags %q, without hg (MADV_HUGEPAGE)", advised.start, flags)
	}
	// The allocation that grew the heap was freed: the heap's next large
	// allocation is made in the region, not past it.
	next := make([]byte, 16<<20)
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(next))); p < advised.start || p+uintptr(len(next)) > advised.end {
		t.Fatalf("a 16 MiB allocation is at %#x, outside the advised %#x-%#x: the heap grew past it", p, advised.start, advised.end)
	}
}

// TestGODEBUGTurnsItOff runs this test binary again with
// GODEBUG=disablethp=1: its init advises nothing.
func TestGODEBUGTurnsItOff(t *testing.T) {
	if os.Getenv("HUGEHEAP_REPORT") == "1" {
		fmt.Printf("advised=%d\n", advised.end-advised.start)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGODEBUGTurnsItOff$", "-test.v")
	cmd.Env = append(os.Environ(), "HUGEHEAP_REPORT=1", "GODEBUG=disablethp=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "advised=0\n") {
		t.Fatalf("with GODEBUG=disablethp=1, want nothing advised; the run printed:\n%s", out)
	}
}

// vmFlags are the VmFlags of the mapping of /proc/self/smaps holding p.
func vmFlags(p uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	in := false
	for s.Scan() {
		line := s.Text()
		if a, b, ok := mappingLine(line); ok {
			in = a <= p && p < b
			continue
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return strings.TrimSpace(flags), nil
		}
	}
	return "", fmt.Errorf("no mapping holds %#x in /proc/self/smaps", p)
}
