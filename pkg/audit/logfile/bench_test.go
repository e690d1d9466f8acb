package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/natefinch/lumberjack.v2"
)

// eventLine is about the size of a RequestResponse event of a pod create.
var eventLine = []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"` +
	strings.Repeat("x", 1900) + `"}` + "\n")

// BenchmarkWritePlainFile is what the library's log backend writes to with
// --audit-log-maxsize=0: the file, opened once for appending.
func BenchmarkWritePlainFile(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "audit.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	benchWrite(b, f.Write)
}

// BenchmarkWriteLogFile is the same file behind File: a stat of the path
// and an fstat of the file before every write.
func BenchmarkWriteLogFile(b *testing.B) {
	f, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log")})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	benchWrite(b, f.Write)
}

// BenchmarkWriteLumberjack is the library's writer with built-in rotation.
func BenchmarkWriteLumberjack(b *testing.B) {
	l := &lumberjack.Logger{Filename: filepath.Join(b.TempDir(), "audit.log"), MaxSize: 100, MaxBackups: 1}
	defer l.Close()
	benchWrite(b, l.Write)
}

// BenchmarkWriteLogFileRotating is File with built-in rotation.
func BenchmarkWriteLogFileRotating(b *testing.B) {
	f, err := Open(Options{Path: filepath.Join(b.TempDir(), "audit.log"), MaxSize: 100, MaxBackups: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	benchWrite(b, f.Write)
}

func benchWrite(b *testing.B, write func([]byte) (int, error)) {
	b.SetBytes(int64(len(eventLine)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := write(eventLine); err != nil {
			b.Fatal(err)
		}
	}
}
