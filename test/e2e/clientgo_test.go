package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

func TestClientGo(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	client := s.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := client.CoreV1().Pods("default")

	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	created, err := pods.Create(ctx, newPod("default", "typed"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx, "typed", metav1.GetOptions{})
	if err != nil || got.UID != created.UID {
		t.Fatalf("get: %v %v", got, err)
	}
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "typed" {
		t.Fatalf("list: %v %v", list, err)
	}
	got.Labels = map[string]string{"updated": "yes"}
	updated, err := pods.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil || updated.Labels["updated"] != "yes" || updated.ResourceVersion == got.ResourceVersion {
		t.Fatalf("update: %v %v", updated, err)
	}
	if err := pods.Delete(ctx, "typed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "typed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}

	// The watch sees the same history, in order.
	var types []watch.EventType
	timeout := time.After(30 * time.Second)
	for len(types) < 3 || types[len(types)-1] != watch.Deleted {
		select {
		case ev := <-w.ResultChan():
			if p, ok := ev.Object.(*corev1.Pod); !ok || p.Name != "typed" {
				t.Fatalf("watch event %s of %T", ev.Type, ev.Object)
			}
			types = append(types, ev.Type)
		case <-timeout:
			t.Fatalf("watch saw only %v", types)
		}
	}
	if types[0] != watch.Added || types[1] != watch.Modified {
		t.Errorf("watch events %v, want ADDED, MODIFIED, ..., DELETED", types)
	}

	t.Run("informer", func(t *testing.T) {
		factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"))
		informer := factory.Core().V1().Pods().Informer()
		var mu sync.Mutex
		seen := map[string]string{}
		_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(_, obj interface{}) {
				p := obj.(*corev1.Pod)
				mu.Lock()
				seen[p.Name] = p.Labels["version"]
				mu.Unlock()
			},
		})
		if _, err := pods.Create(ctx, newPod("default", "informed"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		factory.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
			t.Fatal("informer did not sync")
		}
		if _, ok, _ := informer.GetStore().GetByKey("default/informed"); !ok {
			t.Fatal("synced cache lacks default/informed")
		}
		p, err := pods.Get(ctx, "informed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Labels = map[string]string{"version": "2"}
		if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the informer to see the update", func() (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return seen["informed"] == "2", nil
		})
	})
}
