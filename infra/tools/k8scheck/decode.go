package main

import (
	"fmt"
	"sort"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// object is one decoded document: its typed value and what identifies it.
type object struct {
	kind  string
	name  string
	value any
}

// kinds maps apiVersion + kind to a new value of the Go type the API server decodes it into.
// A kind not listed is an error, so an object of a kind nobody checked cannot slip through.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                      func() any { return &appsv1.StatefulSet{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                                func() any { return &corev1.Secret{} },
	"v1/Pod":                                   func() any { return &corev1.Pod{} },
	"batch/v1/Job":                             func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/Ingress":             func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return &networkingv1.NetworkPolicy{} },
	"autoscaling/v2/HorizontalPodAutoscaler":   func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"rbac.authorization.k8s.io/v1/Role":        func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() any { return &rbacv1.RoleBinding{} },
	"keda.sh/v1alpha1/ScaledObject":            func() any { return &kedav1alpha1.ScaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication":   func() any { return &kedav1alpha1.TriggerAuthentication{} },
}

// decode strictly: an unknown field (a typo, a field at the wrong level, a field of a newer API)
// or a duplicate key is an error, as `kubectl apply --validate=strict` makes it.
func decode(raw []byte) (*object, []error) {
	var head struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	obj := &object{}
	if err := yaml.Unmarshal(raw, &head); err != nil {
		return obj, []error{fmt.Errorf("not a Kubernetes object: %w", err)}
	}
	obj.kind, obj.name = head.Kind, head.Metadata.Name
	if head.APIVersion == "" || head.Kind == "" {
		return obj, []error{fmt.Errorf("apiVersion and kind are required")}
	}
	newValue, known := kinds[head.APIVersion+"/"+head.Kind]
	if !known {
		return obj, []error{fmt.Errorf("no API type for apiVersion %q kind %q; known: %s",
			head.APIVersion, head.Kind, strings.Join(knownKinds(), ", "))}
	}
	obj.value = newValue()
	// The API server's own decoder: case-sensitive, and every unknown or duplicate field is
	// reported with its path (`unknown field "spec.replica"`), not only the first one.
	data, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return obj, []error{fmt.Errorf("YAML: %w", err)}
	}
	strict, err := kjson.UnmarshalStrict(data, obj.value)
	if err != nil {
		return obj, []error{err}
	}
	return obj, strict
}

func knownKinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
