package server_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/kubernetes"

	"github.com/mini-apiserver/mini-apiserver/pkg/server"
)

// A server embedded in a program, held by its handle.
func ExampleStart() {
	dir, _ := os.MkdirTemp("", "mini-apiserver-example-")
	defer os.RemoveAll(dir)
	o := server.NewOptions()
	o.DataDir = dir
	_ = compatibility.DefaultComponentGlobalsRegistry.Set()
	completed, err := o.Complete()
	if err == nil {
		err = completed.Validate()
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0") // a free port, handed over (--secure-port=0 is refused, as in kube)
	if err != nil {
		fmt.Println(err)
		return
	}
	inst, err := server.Start(ctx, completed, server.WithListener(l))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer inst.Close()
	if err := inst.WaitReady(ctx); err != nil {
		fmt.Println(err)
		return
	}
	client := kubernetes.NewForConfigOrDie(inst.RESTConfig())
	ns, err := client.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	fmt.Println(ns.Name, ns.Status.Phase, err)
	fmt.Println(inst.Close(), inst.Close()) // graceful, and idempotent
	// Output:
	// kube-system Active <nil>
	// <nil> <nil>
}
