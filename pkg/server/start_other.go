//go:build !linux

package server

import "time"

func execTime() time.Time { return time.Now() }
