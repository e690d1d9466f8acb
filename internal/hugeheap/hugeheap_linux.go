package hugeheap

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// startHeap is how much heap is mapped and advised before the first
// package that builds anything initialises: about what a server's start
// fills (37 MiB in use at ready), so the advice covers it.
const startHeap = 48 << 20

// Few imports, and only the standard library's: the runtime initialises
// a package as soon as its imports are (in import path order), so this
// runs before the libraries' packages, whose initialisation is the first
// part of the heap.
func init() {
	if disabled(os.Getenv("GODEBUG")) {
		return
	}
	// With "always" the heap has huge pages without asking, with "never"
	// or no such file asking gives none.
	mode, err := os.ReadFile(thpEnabled)
	if err != nil || !onlyWhereAsked(string(mode)) {
		return
	}
	advised = adviseHeap()
	// Free the growing allocation now: were a collection under way, it
	// would be kept to the next one, and the heap would grow past the
	// region in the meantime (half the starts did). The heap is a few MiB
	// here: a millisecond.
	runtime.GC()
}

const thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled"

// onlyWhereAsked reports whether the kernel's transparent huge page mode
// (the enabled file: "always [madvise] never") is madvise.
func onlyWhereAsked(enabled string) bool {
	return strings.Contains(enabled, "[madvise]")
}

// adviseHeap grows the heap by startHeap and advises the region it maps.
// The runtime maps heap memory as it grows, each mapping a new region
// without the advice; growing it by one allocation now maps the region the
// start will use, and the advice stays with it. The allocation is garbage
// once this returns: its pages are the next ones the heap hands out.
func adviseHeap() region {
	grow := make([]byte, startHeap)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(grow)))
	start, end, ok := mappingOf(p)
	runtime.KeepAlive(grow)
	if !ok {
		return region{}
	}
	// Whole huge pages only: the kernel rounds the rest to small ones.
	start = alignUp(start, hugePage)
	end &^= hugePage - 1
	if start >= end {
		return region{}
	}
	// An error leaves the heap as it was, which is all this could do.
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_HUGEPAGE); errno != 0 {
		return region{}
	}
	return region{start, end}
}

// advised is the heap region the kernel was asked to back with huge pages,
// for the tests.
var advised region

type region struct{ start, end uintptr }

const hugePage = 2 << 20

func alignUp(v, to uintptr) uintptr { return (v + to - 1) &^ (to - 1) }

// disabled reports whether godebug sets disablethp=1 (its last setting
// wins, as the runtime reads it).
func disabled(godebug string) bool {
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "disablethp="); ok {
			off = v == "1"
		}
	}
	return off
}

// mappingOf is the mapping of /proc/self/maps that holds address p.
func mappingOf(p uintptr) (start, end uintptr, ok bool) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if a, b, ok := mappingLine(s.Text()); ok && a <= p && p < b {
			return a, b, true
		}
	}
	return 0, 0, false
}

// mappingLine is the address range of a line of /proc/self/maps (or the
// heading line of a mapping in smaps): "7f12a000-7f12c000 rw-p ...".
func mappingLine(line string) (start, end uintptr, ok bool) {
	span, _, _ := strings.Cut(line, " ")
	from, to, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(from, 16, 64)
	b, err2 := strconv.ParseUint(to, 16, 64)
	return uintptr(a), uintptr(b), err1 == nil && err2 == nil
}
