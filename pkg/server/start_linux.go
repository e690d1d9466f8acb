package server

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// execTime is the process's start time as /proc/self/stat gives it,
// against the boot-time clock the kernel counts it on.
func execTime() time.Time {
	now := time.Now()
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return now
	}
	var boot unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot) != nil {
		return now
	}
	if sinceExec, ok := sinceStart(stat, time.Duration(boot.Nano())); ok {
		return now.Add(-sinceExec)
	}
	return now
}

// sinceStart is how long ago a process started, from its /proc/<pid>/stat
// (field 22, starttime: clock ticks since boot; USER_HZ is 100 on Linux, so
// it is exact to 10 ms) and the time since boot now.
func sinceStart(stat []byte, sinceBoot time.Duration) (time.Duration, bool) {
	// The command name (field 2) is in parentheses and may hold anything.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(stat[i+1:]) // from field 3
	if len(fields) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseInt(string(fields[19]), 10, 64)
	if err != nil {
		return 0, false
	}
	d := sinceBoot - time.Duration(ticks)*(time.Second/100)
	if d < 0 {
		return 0, false
	}
	return d, true
}
