package main

import (
	"fmt"
	"strconv"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkObject applies the rules the API server would reject an object for that strict decoding
// alone does not catch. Not the API server's whole validation (that code is not importable
// outside Kubernetes itself): the rules a chart gets wrong.
func checkObject(obj *object) []error {
	var errs []error
	if obj.name == "" {
		errs = append(errs, fmt.Errorf("metadata.name is required"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(obj.name) {
			errs = append(errs, fmt.Errorf("metadata.name %q: %s", obj.name, msg))
		}
	}
	switch v := obj.value.(type) {
	case *appsv1.Deployment:
		errs = append(errs, checkMeta(v.ObjectMeta)...)
		errs = append(errs, checkSelector(v.Spec.Selector, v.Spec.Template.Labels)...)
		errs = append(errs, checkPod(&v.Spec.Template.Spec, "spec.template.spec")...)
	case *batchv1.Job:
		errs = append(errs, checkMeta(v.ObjectMeta)...)
		errs = append(errs, checkPod(&v.Spec.Template.Spec, "spec.template.spec")...)
		if p := v.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
			errs = append(errs, fmt.Errorf("spec.template.spec.restartPolicy must be Never or OnFailure for a Job, not %q", p))
		}
	case *corev1.Service:
		errs = append(errs, checkMeta(v.ObjectMeta)...)
		for _, msg := range validation.IsDNS1035Label(v.Name) {
			errs = append(errs, fmt.Errorf("a Service name is a DNS-1035 label: %s", msg))
		}
		errs = append(errs, checkServicePorts(v.Spec.Ports)...)
	case *policyv1.PodDisruptionBudget:
		errs = append(errs, checkMeta(v.ObjectMeta)...)
		if v.Spec.MinAvailable != nil && v.Spec.MaxUnavailable != nil {
			errs = append(errs, fmt.Errorf("spec: minAvailable and maxUnavailable are mutually exclusive"))
		}
		errs = append(errs, checkSelector(v.Spec.Selector, nil)...)
	case *networkingv1.Ingress:
		errs = append(errs, checkMeta(v.ObjectMeta)...)
	case *kedav1alpha1.ScaledObject:
		errs = append(errs, checkMeta(v.ObjectMeta)...)
		errs = append(errs, checkScaledObject(v)...)
	case *kedav1alpha1.TriggerAuthentication:
		errs = append(errs, checkMeta(v.ObjectMeta)...)
		if _, err := v.ValidateCreate(nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func checkMeta(meta metav1.ObjectMeta) []error {
	path := field.NewPath("metadata")
	var errs []error
	for _, e := range metav1validation.ValidateLabels(meta.Labels, path.Child("labels")) {
		errs = append(errs, e)
	}
	return errs
}

// checkSelector: a selector must select something, and a workload's must select its own pods
// (the API server refuses a Deployment whose selector misses its template's labels).
func checkSelector(sel *metav1.LabelSelector, podLabels map[string]string) []error {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return []error{fmt.Errorf("spec.selector is required and must not be empty")}
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return []error{fmt.Errorf("spec.selector: %w", err)}
	}
	if podLabels != nil && !selector.Matches(labels.Set(podLabels)) {
		return []error{fmt.Errorf("spec.selector %s does not match spec.template.metadata.labels %v", selector, podLabels)}
	}
	return nil
}

func checkServicePorts(ports []corev1.ServicePort) []error {
	var errs []error
	if len(ports) == 0 {
		errs = append(errs, fmt.Errorf("spec.ports: a Service needs at least one port"))
	}
	for i, p := range ports {
		if len(ports) > 1 && p.Name == "" {
			errs = append(errs, fmt.Errorf("spec.ports[%d]: name is required when there are several ports", i))
		}
		if p.Port < 1 || p.Port > 65535 {
			errs = append(errs, fmt.Errorf("spec.ports[%d].port %d is not a port number", i, p.Port))
		}
	}
	return errs
}

// checkPod: containers and their names, ports, probes and mounts.
func checkPod(spec *corev1.PodSpec, path string) []error {
	var errs []error
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		if volumes[v.Name] {
			errs = append(errs, fmt.Errorf("%s.volumes: %q is declared twice", path, v.Name))
		}
		volumes[v.Name] = true
	}
	if len(spec.Containers) == 0 {
		errs = append(errs, fmt.Errorf("%s.containers: at least one container is required", path))
	}
	names := map[string]bool{}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for i := range all {
		c := &all[i]
		where := fmt.Sprintf("%s container %q", path, c.Name)
		if names[c.Name] {
			errs = append(errs, fmt.Errorf("%s: container names must be unique", where))
		}
		names[c.Name] = true
		errs = append(errs, checkContainer(c, where, volumes)...)
	}
	return errs
}

func checkContainer(c *corev1.Container, where string, volumes map[string]bool) []error {
	var errs []error
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		errs = append(errs, fmt.Errorf("%s: name: %s", where, msg))
	}
	if c.Image == "" {
		errs = append(errs, fmt.Errorf("%s: image is required", where))
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				errs = append(errs, fmt.Errorf("%s: port name %q: %s", where, p.Name, msg))
			}
			ports[p.Name] = p.ContainerPort
		}
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			errs = append(errs, fmt.Errorf("%s: containerPort %d is not a port number", where, p.ContainerPort))
		}
	}
	for _, e := range c.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			errs = append(errs, fmt.Errorf("%s: env %q: %s", where, e.Name, msg))
		}
		if e.Value != "" && e.ValueFrom != nil {
			errs = append(errs, fmt.Errorf("%s: env %q has both value and valueFrom", where, e.Name))
		}
	}
	for _, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			errs = append(errs, fmt.Errorf("%s: volumeMount %q names no volume of the pod", where, m.Name))
		}
	}
	for name, probe := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
		if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port.StrVal != "" {
			if _, ok := ports[probe.HTTPGet.Port.StrVal]; !ok {
				errs = append(errs, fmt.Errorf("%s: %s port %q is not a named port of the container", where, name, probe.HTTPGet.Port.StrVal))
			}
		}
	}
	for res, limit := range c.Resources.Limits {
		if req, ok := c.Resources.Requests[res]; ok && req.Cmp(limit) > 0 {
			errs = append(errs, fmt.Errorf("%s: resources: %s request %s exceeds its limit %s", where, res, req.String(), limit.String()))
		}
	}
	return errs
}

// kafkaMetadata: the trigger metadata KEDA's kafka scaler reads (pkg/scalers/kafka_scaler.go);
// a key outside it is a typo KEDA would silently ignore.
var kafkaMetadata = map[string]bool{
	"bootstrapServers": true, "consumerGroup": true, "topic": true, "partitionLimitation": true,
	"lagThreshold": true, "activationLagThreshold": true, "offsetResetPolicy": true,
	"allowIdleConsumers": true, "excludePersistentLag": true, "scaleToZeroOnInvalidOffset": true,
	"limitToPartitionsWithLag": true, "ensureEvenDistributionOfPartitions": true,
	"fullMetadata": true, "version": true, "tls": true, "unsafeSsl": true, "sasl": true,
	"saslTokenProvider": true, "awsRegion": true,
	"bootstrapServersFromEnv": true, "consumerGroupFromEnv": true, "topicFromEnv": true,
}

func checkScaledObject(so *kedav1alpha1.ScaledObject) []error {
	var errs []error
	spec := so.Spec
	if spec.ScaleTargetRef == nil || spec.ScaleTargetRef.Name == "" {
		errs = append(errs, fmt.Errorf("spec.scaleTargetRef.name is required"))
	}
	if spec.MinReplicaCount != nil && spec.MaxReplicaCount != nil && *spec.MinReplicaCount > *spec.MaxReplicaCount {
		errs = append(errs, fmt.Errorf("spec.minReplicaCount %d is above spec.maxReplicaCount %d", *spec.MinReplicaCount, *spec.MaxReplicaCount))
	}
	if err := kedav1alpha1.ValidateTriggers(spec.Triggers); err != nil {
		errs = append(errs, err)
	}
	for i, t := range spec.Triggers {
		if t.Type != "kafka" {
			continue
		}
		for key, value := range t.Metadata {
			if !kafkaMetadata[key] {
				errs = append(errs, fmt.Errorf("spec.triggers[%d].metadata: %q is not a setting of KEDA's kafka scaler", i, key))
			}
			if key == "lagThreshold" || key == "activationLagThreshold" {
				if n, err := strconv.ParseInt(value, 10, 64); err != nil || n < 0 || (key == "lagThreshold" && n == 0) {
					errs = append(errs, fmt.Errorf("spec.triggers[%d].metadata.%s %q is not a positive integer", i, key, value))
				}
			}
		}
		for _, key := range []string{"bootstrapServers", "consumerGroup", "topic"} {
			if t.Metadata[key] == "" && t.Metadata[key+"FromEnv"] == "" {
				errs = append(errs, fmt.Errorf("spec.triggers[%d].metadata.%s is required", i, key))
			}
		}
	}
	return errs
}
