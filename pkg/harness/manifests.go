package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifest is one document of a file of Kubernetes objects.
type manifest struct {
	metav1.TypeMeta
	File string
	Doc  int
	raw  []byte
}

// decode reads the document strictly (a misspelt field is an error) into
// into, which must be of apiVersion.
func (m manifest) decode(apiVersion string, into interface{}) error {
	if m.APIVersion != apiVersion {
		return fmt.Errorf("%s, document %d: %s %s: only %s is served", m.File, m.Doc, m.APIVersion, m.Kind, apiVersion)
	}
	if err := yaml.UnmarshalStrict(m.raw, into); err != nil {
		return fmt.Errorf("%s, document %d (%s): %w", m.File, m.Doc, m.Kind, err)
	}
	return nil
}

// eachManifest calls fn with every document of path, a file or a
// directory's .yaml, .yml and .json files (YAML documents separated by
// ---, or JSON), in order.
func eachManifest(path string, fn func(manifest) error) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	files := []string{path}
	if info.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		files = nil
		for _, e := range entries {
			if !e.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, filepath.Ext(e.Name())) {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for doc := 1; ; doc++ {
			raw, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s, document %d: %w", file, doc, err)
			}
			if len(bytes.TrimSpace(raw)) == 0 {
				continue
			}
			m := manifest{File: file, Doc: doc, raw: raw}
			if err := yaml.Unmarshal(raw, &m.TypeMeta); err != nil {
				return fmt.Errorf("%s, document %d: %w", file, doc, err)
			}
			if err := fn(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// createOrUpdate creates obj, or replaces what a restart on the same data
// directory left.
func createOrUpdate[T interface {
	*admissionregistrationv1.MutatingWebhookConfiguration | *admissionregistrationv1.ValidatingWebhookConfiguration | *apiextensionsv1.CustomResourceDefinition
	metav1.Object
}](ctx context.Context, obj T,
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	get func(context.Context, string, metav1.GetOptions) (T, error),
	update func(context.Context, T, metav1.UpdateOptions) (T, error)) error {
	_, err := create(ctx, obj, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing, err := get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	_, err = update(ctx, obj, metav1.UpdateOptions{})
	return err
}
