package api

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"nginx":                         "latest",
		"nginx:1.27":                    "1.27",
		"nginx:latest":                  "latest",
		"registry:5000/team/app":        "latest",
		"registry:5000/team/app:v2":     "v2",
		"nginx@sha256:0123abcd":         "",
		"nginx:1.27@sha256:0123abcd":    "1.27",
		"localhost:5000/nginx@sha256:0": "",
	} {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

// decodePod decodes JSON through the scheme's codec, which applies the
// defaults exactly as a request body is defaulted.
func decodePod(t *testing.T, body string) *corev1.Pod {
	t.Helper()
	obj, _, err := Codecs.UniversalDecoder(corev1.SchemeGroupVersion).Decode([]byte(body), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Pod)
}

func TestPodDefaultsOnDecode(t *testing.T) {
	pod := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{
		"containers":[{"name":"a","image":"nginx:1.27","ports":[{"containerPort":80}],
			"resources":{"limits":{"cpu":"500m","memory":"1.5Mi"}},
			"livenessProbe":{"httpGet":{"port":80}},
			"env":[{"name":"NODE","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}]},
		{"name":"b","image":"busybox"}],
		"volumes":[{"name":"scratch"},{"name":"cfg","configMap":{"name":"c"}},{"name":"s","secret":{"secretName":"s"}}]}}`)
	spec := pod.Spec
	if spec.RestartPolicy != corev1.RestartPolicyAlways || spec.DNSPolicy != corev1.DNSClusterFirst ||
		spec.SchedulerName != "default-scheduler" || *spec.TerminationGracePeriodSeconds != 30 ||
		spec.SecurityContext == nil || !*spec.EnableServiceLinks {
		t.Errorf("pod spec defaults: %+v", spec)
	}
	a, b := spec.Containers[0], spec.Containers[1]
	if a.ImagePullPolicy != corev1.PullIfNotPresent || b.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("pull policies %s %s", a.ImagePullPolicy, b.ImagePullPolicy)
	}
	if a.TerminationMessagePath != "/dev/termination-log" || a.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Errorf("termination message defaults: %+v", a)
	}
	if a.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("port protocol %q", a.Ports[0].Protocol)
	}
	if got := a.Resources.Requests[corev1.ResourceCPU]; got.Cmp(resource.MustParse("500m")) != 0 {
		t.Errorf("cpu request not defaulted from limit: %v", a.Resources.Requests)
	}
	if p := a.LivenessProbe; p.TimeoutSeconds != 1 || p.PeriodSeconds != 10 || p.SuccessThreshold != 1 || p.FailureThreshold != 3 ||
		p.HTTPGet.Path != "/" || p.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("probe defaults: %+v", p)
	}
	if a.Env[0].ValueFrom.FieldRef.APIVersion != "v1" {
		t.Errorf("fieldRef apiVersion %q", a.Env[0].ValueFrom.FieldRef.APIVersion)
	}
	if spec.Volumes[0].EmptyDir == nil || *spec.Volumes[1].ConfigMap.DefaultMode != 0o644 || *spec.Volumes[2].Secret.DefaultMode != 0o644 {
		t.Errorf("volume defaults: %+v", spec.Volumes)
	}
}

func TestHostNetworkDefaultsHostPort(t *testing.T) {
	pod := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostNetwork":true,
		"containers":[{"name":"a","image":"nginx","ports":[{"containerPort":8080}]}]}}`)
	if got := pod.Spec.Containers[0].Ports[0].HostPort; got != 8080 {
		t.Errorf("hostPort %d, want 8080", got)
	}
}

func TestExplicitValuesAreKept(t *testing.T) {
	pod := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"restartPolicy":"Never","dnsPolicy":"Default",
		"terminationGracePeriodSeconds":5,"enableServiceLinks":false,
		"containers":[{"name":"a","image":"nginx","imagePullPolicy":"Never","ports":[{"containerPort":53,"protocol":"UDP"}]}]}}`)
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || pod.Spec.DNSPolicy != corev1.DNSDefault ||
		*pod.Spec.TerminationGracePeriodSeconds != 5 || *pod.Spec.EnableServiceLinks ||
		pod.Spec.Containers[0].ImagePullPolicy != corev1.PullNever || pod.Spec.Containers[0].Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("explicit values overwritten: %+v", pod.Spec)
	}
}

func TestNamespaceDefaults(t *testing.T) {
	obj, _, err := Codecs.UniversalDecoder(corev1.SchemeGroupVersion).Decode([]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := obj.(*corev1.Namespace)
	if ns.Labels["kubernetes.io/metadata.name"] != "team" || ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("namespace defaults: %+v", ns)
	}
}

func TestInternalVersionIsTheSameType(t *testing.T) {
	gvks, _, err := Scheme.ObjectKinds(&corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]bool{}
	for _, gvk := range gvks {
		versions[gvk.Version] = true
	}
	if !versions["v1"] || !versions[runtime.APIVersionInternal] {
		t.Errorf("Pod registered as %v, want v1 and the internal version", gvks)
	}
}

func TestFieldLabels(t *testing.T) {
	for _, kind := range []struct {
		kind   string
		labels []string
	}{{"Pod", PodFieldLabels}, {"Namespace", NamespaceFieldLabels}} {
		gvk := corev1.SchemeGroupVersion.WithKind(kind.kind)
		for _, l := range kind.labels {
			if _, _, err := Scheme.ConvertFieldLabel(gvk, l, "x"); err != nil {
				t.Errorf("%s %s: %v", kind.kind, l, err)
			}
		}
		if _, _, err := Scheme.ConvertFieldLabel(gvk, "spec.bogus", "x"); err == nil || err.Error() != "field label not supported: spec.bogus" {
			t.Errorf("%s spec.bogus: %v", kind.kind, err)
		}
	}
}

// The deprecated serviceAccount repeats serviceAccountName, and stands in
// for it when only it is given, as kube's conversions make it.
func TestDeprecatedServiceAccount(t *testing.T) {
	for body, want := range map[string]string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"serviceAccountName":"builder","containers":[{"name":"c","image":"busybox"}]}}`: "builder",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"serviceAccount":"legacy","containers":[{"name":"c","image":"busybox"}]}}`:      "legacy",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`:                                "",
	} {
		spec := decodePod(t, body).Spec
		if spec.ServiceAccountName != want || spec.DeprecatedServiceAccount != want {
			t.Errorf("%s: serviceAccountName %q serviceAccount %q, want both %q", body, spec.ServiceAccountName, spec.DeprecatedServiceAccount, want)
		}
	}
}

// A secret's stringData is written into data on decode and not kept; its
// type defaults to Opaque.
func TestSecretDefaultsOnDecode(t *testing.T) {
	obj, _, err := Codecs.UniversalDecoder(corev1.SchemeGroupVersion).Decode([]byte(
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"b2xk","b":"Yg=="},"stringData":{"a":"new"}}`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := obj.(*corev1.Secret)
	if s.Type != corev1.SecretTypeOpaque || string(s.Data["a"]) != "new" || string(s.Data["b"]) != "b" || s.StringData != nil {
		t.Errorf("decoded secret: type %q data %q stringData %q", s.Type, s.Data, s.StringData)
	}
}
