package main

import (
	"fmt"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checkReferences: rules between the objects of one rendering. A Service, PodDisruptionBudget or
// ScaledObject that points at nothing renders and applies fine, and then silently does nothing.
func checkReferences(objects []*object) map[int][]error {
	index := map[string]*object{}
	var pods []labels.Set
	for _, obj := range objects {
		index[obj.kind+"/"+obj.name] = obj
		if d, ok := obj.value.(*appsv1.Deployment); ok {
			pods = append(pods, labels.Set(d.Spec.Template.Labels))
		}
	}
	errs := map[int][]error{}
	for i, obj := range objects {
		switch v := obj.value.(type) {
		case *corev1.Service:
			if !selectsAny(labels.SelectorFromSet(v.Spec.Selector), pods) {
				errs[i] = append(errs[i], fmt.Errorf("spec.selector %v selects the pods of no Deployment here", v.Spec.Selector))
			}
		case *policyv1.PodDisruptionBudget:
			if sel, err := metav1.LabelSelectorAsSelector(v.Spec.Selector); err == nil && !selectsAny(sel, pods) {
				errs[i] = append(errs[i], fmt.Errorf("spec.selector %s selects the pods of no Deployment here", sel))
			}
		case *kedav1alpha1.ScaledObject:
			errs[i] = append(errs[i], scaledObjectRefs(v, index)...)
		case *networkingv1.Ingress:
			errs[i] = append(errs[i], ingressRefs(v, index)...)
		}
	}
	return errs
}

func selectsAny(sel labels.Selector, pods []labels.Set) bool {
	if sel.Empty() {
		return false
	}
	for _, set := range pods {
		if sel.Matches(set) {
			return true
		}
	}
	return false
}

func scaledObjectRefs(so *kedav1alpha1.ScaledObject, index map[string]*object) []error {
	var errs []error
	if ref := so.Spec.ScaleTargetRef; ref != nil {
		kind := ref.Kind
		if kind == "" {
			kind = "Deployment"
		}
		if index[kind+"/"+ref.Name] == nil {
			errs = append(errs, fmt.Errorf("spec.scaleTargetRef: no %s named %q here", kind, ref.Name))
		}
	}
	for i, t := range so.Spec.Triggers {
		if ref := t.AuthenticationRef; ref != nil && (ref.Kind == "" || ref.Kind == "TriggerAuthentication") {
			if index["TriggerAuthentication/"+ref.Name] == nil {
				errs = append(errs, fmt.Errorf("spec.triggers[%d].authenticationRef: no TriggerAuthentication named %q here", i, ref.Name))
			}
		}
	}
	return errs
}

func ingressRefs(ing *networkingv1.Ingress, index map[string]*object) []error {
	var errs []error
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, path := range rule.HTTP.Paths {
			svc := path.Backend.Service
			if svc == nil {
				continue
			}
			target, ok := index["Service/"+svc.Name]
			if !ok || target == nil {
				errs = append(errs, fmt.Errorf("backend: no Service named %q here", svc.Name))
				continue
			}
			if !servesPort(target.value.(*corev1.Service), svc.Port) {
				errs = append(errs, fmt.Errorf("backend: Service %q has no port %v", svc.Name, svc.Port))
			}
		}
	}
	return errs
}

func servesPort(s *corev1.Service, port networkingv1.ServiceBackendPort) bool {
	for _, p := range s.Spec.Ports {
		if (port.Name != "" && p.Name == port.Name) || (port.Name == "" && p.Port == port.Number) {
			return true
		}
	}
	return false
}
