// Command auditctl explains and lints audit policies and reads and verifies
// audit logs.
package main

import (
	"os"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/auditctl"
)

func main() {
	os.Exit(auditctl.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
