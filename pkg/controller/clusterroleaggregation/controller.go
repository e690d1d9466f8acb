// Package clusterroleaggregation keeps the rules of every ClusterRole with
// an aggregationRule equal to the union of the rules of the ClusterRoles
// its selectors match, as kube-controller-manager's
// clusterrole-aggregation-controller does (k8s.io/kubernetes
// pkg/controller/clusterroleaggregation, which it follows): so admin, edit
// and view have their rules, and a user's aggregate-to-view role widens
// view at once.
package clusterroleaggregation

import (
	"context"
	"fmt"
	"sort"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	rbacinformers "k8s.io/client-go/informers/rbac/v1"
	rbacclient "k8s.io/client-go/kubernetes/typed/rbac/v1"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// FieldManager is kube's: the rules this controller writes are its own.
const FieldManager = "clusterrole-aggregation-controller"

// Controller aggregates ClusterRoles.
type Controller struct {
	client rbacclient.ClusterRolesGetter
	lister rbaclisters.ClusterRoleLister
	synced cache.DoneChecker
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New watches ClusterRoles through informer and writes through client.
func New(informer rbacinformers.ClusterRoleInformer, client rbacclient.ClusterRolesGetter) (*Controller, error) {
	c := &Controller{
		client: client,
		lister: informer.Lister(),
		synced: informer.Informer().HasSyncedChecker(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ClusterRoleAggregator"}),
	}
	// Any change may change what some aggregated role selects.
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: func(any, any) { c.enqueueAll() },
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	return c, err
}

func (c *Controller) enqueueAll() {
	roles, err := c.lister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, r := range roles {
		if r.AggregationRule != nil {
			c.queue.Add(r.Name)
		}
	}
}

// Run works until ctx is done.
func (c *Controller) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	// Quietly: a server stopped before the first sync (a test's harness,
	// right after ready) is not an error worth a log line.
	if !cache.WaitFor(ctx, "", c.synced) {
		return
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for c.next(ctx) {
		}
	}, time.Second)
	<-ctx.Done()
}

func (c *Controller) next(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	if err := c.sync(ctx, name); err != nil {
		utilruntime.HandleError(fmt.Errorf("aggregating clusterrole %s: %w", name, err))
		c.queue.AddRateLimited(name)
		return true
	}
	c.queue.Forget(name)
	return true
}

func (c *Controller) sync(ctx context.Context, name string) error {
	shared, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || shared.AggregationRule == nil {
		return err
	}
	rules, err := Aggregate(shared, c.lister)
	if err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(rules, shared.Rules) {
		return nil
	}
	apply := rbacv1ac.ClusterRole(name)
	for _, r := range rules {
		apply.WithRules(&rbacv1ac.PolicyRuleApplyConfiguration{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources,
			ResourceNames: r.ResourceNames, NonResourceURLs: r.NonResourceURLs})
	}
	_, err = c.client.ClusterRoles().Apply(ctx, apply, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err == nil {
		klog.V(2).InfoS("Aggregated clusterrole", "name", name, "rules", len(rules))
	}
	return err
}

// Aggregate is the rules the controller gives shared, an aggregated
// ClusterRole: the union of the rules of the roles its selectors match.
func Aggregate(shared *rbacv1.ClusterRole, roles rbaclisters.ClusterRoleLister) ([]rbacv1.PolicyRule, error) {
	rules := []rbacv1.PolicyRule{}
	for i := range shared.AggregationRule.ClusterRoleSelectors {
		selector, err := metav1.LabelSelectorAsSelector(&shared.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			return nil, err
		}
		matched, err := roles.List(selector)
		if err != nil {
			return nil, err
		}
		sort.Slice(matched, func(i, j int) bool { return matched[i].Name < matched[j].Name })
		for _, r := range matched {
			if r.Name == shared.Name {
				continue
			}
			for _, rule := range r.Rules {
				if !ruleExists(rules, rule) {
					rules = append(rules, rule)
				}
			}
		}
	}
	return rules, nil
}

// Settled says whether every aggregated ClusterRole of roles has the rules
// the controller would give it: it has nothing left to write.
func Settled(roles []rbacv1.ClusterRole) (bool, error) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for i := range roles {
		if err := indexer.Add(&roles[i]); err != nil {
			return false, err
		}
	}
	lister := rbaclisters.NewClusterRoleLister(indexer)
	for i := range roles {
		if roles[i].AggregationRule == nil {
			continue
		}
		rules, err := Aggregate(&roles[i], lister)
		if err != nil {
			return false, err
		}
		if !equality.Semantic.DeepEqual(rules, roles[i].Rules) {
			return false, nil
		}
	}
	return true, nil
}

func ruleExists(haystack []rbacv1.PolicyRule, needle rbacv1.PolicyRule) bool {
	for _, r := range haystack {
		if equality.Semantic.DeepEqual(r, needle) {
			return true
		}
	}
	return false
}
