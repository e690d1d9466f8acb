package pod

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/mini-apiserver/mini-apiserver/pkg/api"
)

// validPod is a defaulted pod that passes validation.
func validPod() *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}},
			Volumes:    []corev1.Volume{{Name: "v"}},
		},
	}
	api.SetDefaultsPod(pod)
	return pod
}

func errorStrings(errs field.ErrorList) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

func TestValidatePod(t *testing.T) {
	if errs := ValidatePod(validPod()); len(errs) != 0 {
		t.Fatalf("valid pod rejected: %v", errs)
	}
	cases := map[string]struct {
		mutate func(*corev1.Pod)
		want   []string
	}{
		"bad name":               {func(p *corev1.Pod) { p.Name = "Bad_Name" }, []string{`metadata.name: Invalid value: "Bad_Name"`}},
		"no namespace":           {func(p *corev1.Pod) { p.Namespace = "" }, []string{"metadata.namespace: Required value"}},
		"no containers":          {func(p *corev1.Pod) { p.Spec.Containers = nil }, []string{"spec.containers: Required value"}},
		"no image":               {func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []string{"spec.containers[0].image: Required value"}},
		"image with whitespace":  {func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, []string{"must not have leading or trailing whitespace"}},
		"container name missing": {func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, []string{"spec.containers[0].name: Required value"}},
		"container name invalid": {func(p *corev1.Pod) { p.Spec.Containers[0].Name = "C_1" }, []string{`spec.containers[0].name: Invalid value: "C_1": a lowercase RFC 1123 label`}},
		"duplicate container": {func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]}
		}, []string{`spec.containers[0].name: Duplicate value: "c"`}},
		"bad restart policy": {func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			[]string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`}},
		"bad dns policy": {func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, []string{`spec.dnsPolicy: Unsupported value: "Google"`}},
		"bad pull policy": {func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" },
			[]string{`spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes"`}},
		"port out of range": {func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			[]string{"spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		"port missing":  {func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, []string{"spec.containers[0].ports[0].containerPort: Required value"}},
		"bad protocol":  {func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" }, []string{`spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`}},
		"bad port name": {func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "HTTP_port" }, []string{`spec.containers[0].ports[0].name: Invalid value: "HTTP_port"`}},
		"bad env name":  {func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "1=x"}} }, []string{`spec.containers[0].env[0].name: Invalid value: "1=x"`}},
		"unknown volume": {func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "w", MountPath: "/w"}}
		}, []string{`spec.containers[0].volumeMounts[0].name: Not found: "w"`}},
		"two volume sources": {func(p *corev1.Pod) { p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/x"} },
			[]string{"spec.volumes[0]: Forbidden: may not specify more than 1 volume type"}},
		"no volume source": {func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = nil }, []string{"spec.volumes[0]: Required value: must specify a volume type"}},
		"request over limit": {func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			}
		}, []string{`spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1`}},
		"active deadline": {func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) },
			[]string{"spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"}},
		"toleration with value and Exists": {func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, []string{"spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"}},
		"tolerationSeconds without NoExecute": {func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](1)}}
		}, []string{"effect must be 'NoExecute' when `tolerationSeconds` is set"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := validPod()
			tc.mutate(pod)
			got := errorStrings(ValidatePod(pod))
			for _, want := range tc.want {
				if !strings.Contains(got, want) {
					t.Errorf("errors lack %q:\n%s", want, got)
				}
			}
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "1"
	old.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists}}
	old.Spec.ActiveDeadlineSeconds = ptr.To[int64](100)

	allowed := old.DeepCopy()
	allowed.Spec.Containers[0].Image = "nginx:1.28"
	allowed.Spec.Tolerations = append(allowed.Spec.Tolerations, corev1.Toleration{Key: "b", Operator: corev1.TolerationOpExists})
	allowed.Spec.ActiveDeadlineSeconds = ptr.To[int64](50)
	allowed.Labels = map[string]string{"new": "label"}
	if errs := ValidatePodUpdate(allowed, old); len(errs) != 0 {
		t.Errorf("allowed update rejected: %v", errs)
	}

	cases := map[string]struct {
		mutate func(*corev1.Pod)
		want   string
	}{
		"restart policy": {func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever },
			"spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"},
		"add container": {func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "d", Image: "x", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"})
		},
			"spec.containers: Forbidden: pod updates may not add or remove containers"},
		"remove toleration": {func(p *corev1.Pod) { p.Spec.Tolerations = nil },
			"spec.tolerations[0]: Forbidden: existing toleration can not be modified except its tolerationSeconds"},
		"raise deadline": {func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](200) },
			"spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"},
		"empty image": {func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, "spec.containers[0].image: Required value"},
		"rename":      {func(p *corev1.Pod) { p.Name = "q" }, "metadata.name: Invalid value: \"q\": field is immutable"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := old.DeepCopy()
			tc.mutate(pod)
			if got := errorStrings(ValidatePodUpdate(pod, old)); !strings.Contains(got, tc.want) {
				t.Errorf("errors lack %q:\n%s", tc.want, got)
			}
		})
	}
}

func TestStrategy(t *testing.T) {
	ctx := context.Background()
	s := NewStrategy(api.Scheme)
	pod := validPod()
	pod.Status.Phase = corev1.PodRunning
	s.PrepareForCreate(ctx, pod)
	if pod.Status.Phase != corev1.PodPending || pod.Status.QOSClass != corev1.PodQOSBestEffort || pod.Generation != 1 {
		t.Errorf("status after create: %+v generation %d", pod.Status, pod.Generation)
	}
	if *pod.Spec.Priority != 0 || *pod.Spec.PreemptionPolicy != corev1.PreemptLowerPriority || len(pod.Spec.Tolerations) != 2 ||
		pod.Spec.Tolerations[0].Key != corev1.TaintNodeNotReady || *pod.Spec.Tolerations[1].TolerationSeconds != 300 {
		t.Errorf("admission defaults: %+v", pod.Spec)
	}

	// A pod that tolerates everything gets no default tolerations.
	all := validPod()
	all.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	s.PrepareForCreate(ctx, all)
	if len(all.Spec.Tolerations) != 1 {
		t.Errorf("tolerations %v", all.Spec.Tolerations)
	}

	updated := pod.DeepCopy()
	updated.Status.Phase = corev1.PodFailed
	updated.Labels = map[string]string{"a": "b"}
	s.PrepareForUpdate(ctx, updated, pod)
	if updated.Status.Phase != corev1.PodPending || updated.Generation != 1 {
		t.Errorf("metadata-only update: phase %s generation %d", updated.Status.Phase, updated.Generation)
	}
	updated.Spec.Containers[0].Image = "nginx:2"
	s.PrepareForUpdate(ctx, updated, pod)
	if updated.Generation != 2 {
		t.Errorf("spec update: generation %d, want 2", updated.Generation)
	}

	status := NewStatusStrategy(s)
	withStatus := pod.DeepCopy()
	withStatus.Status.Phase = corev1.PodRunning
	withStatus.Spec.Containers[0].Image = "ignored"
	status.PrepareForUpdate(ctx, withStatus, pod)
	if withStatus.Status.Phase != corev1.PodRunning || withStatus.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("status update: phase %s image %s", withStatus.Status.Phase, withStatus.Spec.Containers[0].Image)
	}
	withStatus.Status.Phase = "Dancing"
	if got := errorStrings(status.ValidateUpdate(ctx, withStatus, pod)); !strings.Contains(got, `status.phase: Unsupported value: "Dancing"`) {
		t.Errorf("status validation: %s", got)
	}
}

func TestCheckGracefulDelete(t *testing.T) {
	s := NewStrategy(api.Scheme)
	for name, tc := range map[string]struct {
		node   string
		phase  corev1.PodPhase
		grace  *int64
		expect int64
	}{
		"unscheduled is immediate":      {"", corev1.PodPending, nil, 0},
		"scheduled uses the pod period": {"n1", corev1.PodRunning, nil, 30},
		"explicit period":               {"n1", corev1.PodRunning, ptr.To[int64](5), 5},
		"finished is immediate":         {"n1", corev1.PodSucceeded, nil, 0},
		"negative becomes 1":            {"n1", corev1.PodRunning, ptr.To[int64](-3), 1},
	} {
		pod := validPod()
		pod.Spec.NodeName, pod.Status.Phase = tc.node, tc.phase
		opts := &metav1.DeleteOptions{GracePeriodSeconds: tc.grace}
		if !s.CheckGracefulDelete(context.Background(), pod, opts) || *opts.GracePeriodSeconds != tc.expect {
			t.Errorf("%s: grace %d, want %d", name, *opts.GracePeriodSeconds, tc.expect)
		}
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	for name, tc := range map[string]struct {
		req, lim corev1.ResourceList
		want     corev1.PodQOSClass
	}{
		"nothing":             {nil, nil, corev1.PodQOSBestEffort},
		"requests only":       {rl("100m", ""), nil, corev1.PodQOSBurstable},
		"equal cpu and mem":   {rl("1", "1Gi"), rl("1", "1Gi"), corev1.PodQOSGuaranteed},
		"limit above request": {rl("1", "1Gi"), rl("2", "1Gi"), corev1.PodQOSBurstable},
		"cpu limit only":      {rl("1", ""), rl("1", ""), corev1.PodQOSBurstable},
	} {
		pod := validPod()
		pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: tc.req, Limits: tc.lim}
		if got := QOSClass(pod); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func TestTable(t *testing.T) {
	pending := validPod()
	pending.CreationTimestamp = metav1.NewTime(time.Now().Add(-90 * time.Second))
	pending.Status.Phase = corev1.PodPending

	running := validPod()
	running.Name = "r"
	running.Spec.NodeName = "node-1"
	running.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}

	crashing := validPod()
	crashing.Name = "x"
	crashing.Status = corev1.PodStatus{Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}

	deleting := validPod()
	deleting.Name = "d"
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}

	table, err := TableConvertor{}.ConvertToTable(context.Background(), &corev1.PodList{Items: []corev1.Pod{*pending, *running, *crashing, *deleting}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			headers = append(headers, c.Name)
		}
	}
	if strings.Join(headers, ",") != "Name,Ready,Status,Restarts,Age" {
		t.Errorf("headers %v", headers)
	}
	want := [][]interface{}{
		{"p", "0/1", "Pending", "0", "90s", "<none>", "<none>", "<none>", "<none>"},
		{"r", "1/1", "Running", "2", "<unknown>", "10.0.0.5", "node-1", "<none>", "<none>"},
		{"x", "0/1", "CrashLoopBackOff", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"},
		{"d", "0/1", "Terminating", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"},
	}
	for i, row := range table.Rows {
		for j, cell := range row.Cells {
			if cell != want[i][j] {
				t.Errorf("row %d cell %d (%s) = %#v, want %#v", i, j, table.ColumnDefinitions[j].Name, cell, want[i][j])
			}
		}
	}
	noHeaders, err := TableConvertor{}.ConvertToTable(context.Background(), pending, &metav1.TableOptions{NoHeaders: true})
	if err != nil || len(noHeaders.ColumnDefinitions) != 0 || len(noHeaders.Rows) != 1 {
		t.Errorf("NoHeaders: %+v %v", noHeaders, err)
	}
}
