// Package hugeheap asks the kernel for transparent huge pages for the Go
// heap a server fills as it starts. Import it for its side effect, from a
// command's main package only: it tunes the process it runs in.
//
// Why: a start allocates some 40 MiB of heap in a quarter of a second, and
// each 4 KiB page is a page fault when first touched. On a virtual machine
// a fault can cost 13 µs (this project's 2-core CI VM: 10,000 faults, a
// third of the start's CPU). With the heap in 2 MiB pages that is some 20
// faults. Go's runtime leaves the heap to the kernel's default, which on
// many distributions (Debian, Ubuntu) is huge pages only where a process
// asks with madvise(MADV_HUGEPAGE): this asks, for the first 48 MiB.
//
// GODEBUG=disablethp=1, the runtime's own switch for huge pages on the
// heap, turns this off too. With the kernel's mode "always" (the heap has
// huge pages unasked), "never" or no transparent huge pages, and elsewhere
// than Linux, it does nothing.
package hugeheap
