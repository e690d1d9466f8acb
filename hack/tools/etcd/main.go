// Command etcd is the real etcd server (go.etcd.io/etcd/server/v3/etcdmain),
// built at the version pinned in this module for the external-etcd tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
