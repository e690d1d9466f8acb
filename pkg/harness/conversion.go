package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// ConversionReviewHandler answers apiextensions.k8s.io/v1
// ConversionReviews, a CRD's conversion webhook: convert changes each
// object, as the server sent it, into toAPIVersion (its apiVersion is set
// after); an error fails the review with its message, which the server
// passes to the client.
func ConversionReviewHandler(convert func(obj *unstructured.Unstructured, toAPIVersion string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var in apiextensionsv1.ConversionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			http.Error(w, fmt.Sprintf("not a ConversionReview: %v", err), http.StatusBadRequest)
			return
		}
		resp := &apiextensionsv1.ConversionResponse{UID: in.Request.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
		for _, raw := range in.Request.Objects {
			obj := &unstructured.Unstructured{}
			if err = obj.UnmarshalJSON(raw.Raw); err == nil {
				err = convert(obj, in.Request.DesiredAPIVersion)
			}
			if err != nil {
				resp.ConvertedObjects = nil
				resp.Result = metav1.Status{Status: metav1.StatusFailure, Message: err.Error()}
				break
			}
			obj.SetAPIVersion(in.Request.DesiredAPIVersion)
			converted, err := obj.MarshalJSON()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: converted})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(apiextensionsv1.ConversionReview{TypeMeta: in.TypeMeta, Response: resp})
	})
}

// ConversionClientConfig is how a CRD's conversion webhook reaches path on
// this server.
func (w *AdmissionWebhook) ConversionClientConfig(path string) *apiextensionsv1.WebhookClientConfig {
	url := w.server.URL + path
	return &apiextensionsv1.WebhookClientConfig{URL: &url, CABundle: w.CABundle}
}
