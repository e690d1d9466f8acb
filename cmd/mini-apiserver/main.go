// Command mini-apiserver is a small, real Kubernetes API server.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	// Its init runs early (it imports only the standard library), before
	// the packages whose initialisation starts filling the heap.
	_ "github.com/mini-apiserver/mini-apiserver/internal/hugeheap"
	"github.com/mini-apiserver/mini-apiserver/pkg/server"
)

func main() {
	os.Exit(cli.Run(server.NewCommand()))
}
