package api

import (
	"net/url"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
)

// The pods subresources take their options from the query string
// (?container=c&command=ls&stdout=1). These conversions are kube's
// generated url.Values ones (pkg/apis/core/v1/zz_generated.conversion.go):
// a parameter sets its field with the library's converters, an absent one
// leaves the field zero.

// queryParam converts the values of one parameter into its field.
type queryParam func(values url.Values, s conversion.Scope) error

func param[T any](name string, out *T, convert func(*[]string, *T, conversion.Scope) error) queryParam {
	return func(values url.Values, s conversion.Scope) error {
		v, ok := values[name]
		if !ok || len(v) == 0 {
			return nil
		}
		return convert(&v, out, s)
	}
}

func stringSlice(in *[]string, out *[]string, _ conversion.Scope) error {
	*out = append([]string(nil), *in...)
	return nil
}

func logStream(in *[]string, out **string, _ conversion.Scope) error {
	s := (*in)[0]
	*out = &s
	return nil
}

func decodeParams(values *url.Values, s conversion.Scope, params ...queryParam) error {
	for _, p := range params {
		if err := p(*values, s); err != nil {
			return err
		}
	}
	return nil
}

func addQueryParameterConversions(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{
		conversion2(func(in *url.Values, out *corev1.PodLogOptions, s conversion.Scope) error {
			*out = corev1.PodLogOptions{TypeMeta: out.TypeMeta}
			return decodeParams(in, s,
				param("container", &out.Container, runtime.Convert_Slice_string_To_string),
				param("follow", &out.Follow, runtime.Convert_Slice_string_To_bool),
				param("previous", &out.Previous, runtime.Convert_Slice_string_To_bool),
				param("sinceSeconds", &out.SinceSeconds, runtime.Convert_Slice_string_To_Pointer_int64),
				param("sinceTime", &out.SinceTime, metav1.Convert_Slice_string_To_Pointer_v1_Time),
				param("timestamps", &out.Timestamps, runtime.Convert_Slice_string_To_bool),
				param("tailLines", &out.TailLines, runtime.Convert_Slice_string_To_Pointer_int64),
				param("limitBytes", &out.LimitBytes, runtime.Convert_Slice_string_To_Pointer_int64),
				param("insecureSkipTLSVerifyBackend", &out.InsecureSkipTLSVerifyBackend, runtime.Convert_Slice_string_To_bool),
				param("stream", &out.Stream, logStream))
		}),
		conversion2(func(in *url.Values, out *corev1.PodExecOptions, s conversion.Scope) error {
			*out = corev1.PodExecOptions{TypeMeta: out.TypeMeta}
			return decodeParams(in, s,
				param("stdin", &out.Stdin, runtime.Convert_Slice_string_To_bool),
				param("stdout", &out.Stdout, runtime.Convert_Slice_string_To_bool),
				param("stderr", &out.Stderr, runtime.Convert_Slice_string_To_bool),
				param("tty", &out.TTY, runtime.Convert_Slice_string_To_bool),
				param("container", &out.Container, runtime.Convert_Slice_string_To_string),
				param("command", &out.Command, stringSlice))
		}),
		conversion2(func(in *url.Values, out *corev1.PodAttachOptions, s conversion.Scope) error {
			*out = corev1.PodAttachOptions{TypeMeta: out.TypeMeta}
			return decodeParams(in, s,
				param("stdin", &out.Stdin, runtime.Convert_Slice_string_To_bool),
				param("stdout", &out.Stdout, runtime.Convert_Slice_string_To_bool),
				param("stderr", &out.Stderr, runtime.Convert_Slice_string_To_bool),
				param("tty", &out.TTY, runtime.Convert_Slice_string_To_bool),
				param("container", &out.Container, runtime.Convert_Slice_string_To_string))
		}),
		conversion2(func(in *url.Values, out *corev1.PodPortForwardOptions, s conversion.Scope) error {
			*out = corev1.PodPortForwardOptions{TypeMeta: out.TypeMeta}
			return decodeParams(in, s, param("ports", &out.Ports, metav1.Convert_Slice_string_To_Slice_int32))
		}),
		conversion2(func(in *url.Values, out *corev1.PodProxyOptions, s conversion.Scope) error {
			*out = corev1.PodProxyOptions{TypeMeta: out.TypeMeta}
			return decodeParams(in, s, param("path", &out.Path, runtime.Convert_Slice_string_To_string))
		}),
	} {
		if err := add(s); err != nil {
			return err
		}
	}
	return nil
}
