{{/* Names ---------------------------------------------------------------------------------- */}}

{{- define "agentmesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentmesh.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of one component's objects: <fullname>-<id>, e.g. agentmesh-agent-researcher. */}}
{{- define "agentmesh.componentName" -}}
{{- printf "%s-%s" (include "agentmesh.fullname" .root) .id | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* An agent's part of object names: Kubernetes names take no underscore, agent names may. */}}
{{- define "agentmesh.agentId" -}}
{{- printf "agent-%s" (. | replace "_" "-") }}
{{- end }}

{{- define "agentmesh.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agentmesh.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels: dict root, component (agent|supervisor|gateway|setup), agent (name or "") ------- */}}

{{- define "agentmesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentmesh.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .agent }}
agentmesh.io/agent: {{ . | replace "_" "-" | quote }}
{{- end }}
{{- end }}

{{- define "agentmesh.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "agentmesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: agentmesh
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "agentmesh.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Kafka: the top-level `kafka` with a component's own `kafka` over it, as YAML.
     dict root, kafka (the component's overrides), who (named in errors) */}}
{{- define "agentmesh.kafka" -}}
{{- $k := mergeOverwrite (deepCopy .root.Values.kafka) (deepCopy (.kafka | default dict)) }}
{{- if not $k.bootstrapServers }}
{{- fail (printf "%s: kafka.bootstrapServers is required (host:port,... of your Kafka cluster)" .who) }}
{{- end }}
{{- if not $k.schemaRegistryUrl }}
{{- fail (printf "%s: kafka.schemaRegistryUrl is required (your schema registry's API base URL)" .who) }}
{{- end }}
{{- if and (hasPrefix "SASL_" $k.securityProtocol) (not $k.sasl.existingSecret) }}
{{- fail (printf "%s: kafka.securityProtocol %s needs kafka.sasl.existingSecret, the name of a Secret holding the SASL username and password (keys %s and %s)" .who $k.securityProtocol $k.sasl.usernameKey $k.sasl.passwordKey) }}
{{- end }}
{{- toYaml $k }}
{{- end }}

{{/* Every component's environment. dict root, kafka (merged), values (the component's),
     app ("" for none) */}}
{{- define "agentmesh.env" -}}
{{- $k := .kafka }}
{{- $v := .root.Values }}
- name: AGENTMESH_NAMESPACE
  value: {{ $v.mesh.namespace | quote }}
- name: AGENTMESH_KAFKA_BOOTSTRAP
  value: {{ $k.bootstrapServers | quote }}
- name: AGENTMESH_SCHEMA_REGISTRY_URL
  value: {{ $k.schemaRegistryUrl | quote }}
- name: AGENTMESH_KAFKA_SECURITY_PROTOCOL
  value: {{ $k.securityProtocol | quote }}
{{- if hasPrefix "SASL_" $k.securityProtocol }}
- name: AGENTMESH_KAFKA_SASL_MECHANISM
  value: {{ $k.sasl.mechanism | quote }}
- name: AGENTMESH_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.existingSecret | quote }}
      key: {{ $k.sasl.usernameKey | quote }}
- name: AGENTMESH_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.existingSecret | quote }}
      key: {{ $k.sasl.passwordKey | quote }}
{{- end }}
{{- if $k.tls.caSecret }}
- name: AGENTMESH_KAFKA_SSL_CAFILE
  value: /etc/agentmesh/kafka-ca/{{ $k.tls.caKey }}
{{- end }}
{{- with .app }}
- name: AGENTMESH_APP
  value: {{ . | quote }}
{{- end }}
{{- with $v.mesh.replicationFactor }}
- name: AGENTMESH_TOPIC_REPLICATION_FACTOR
  value: {{ . | quote }}
{{- end }}
- name: AGENTMESH_TOPIC_PARTITIONS
  value: {{ $v.mesh.partitions | quote }}
{{- with $v.mesh.llm }}
- name: AGENTMESH_LLM
  value: {{ . | quote }}
{{- end }}
{{- if or $v.mesh.policy $v.mesh.existingPolicyConfigMap }}
- name: AGENTMESH_POLICY
  value: /etc/agentmesh/policy/policy.yaml
{{- end }}
- name: AGENTMESH_DRAIN_GRACE_S
  value: {{ $v.drainGraceSeconds | quote }}
- name: AGENTMESH_HOME
  value: /tmp/agentmesh
{{- range $name, $value := merge (deepCopy (.values.env | default dict)) (deepCopy $v.env) }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name, $ref := .values.secretEnv }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secret | quote }}
      key: {{ $ref.key | quote }}
{{- end }}
{{- end }}

{{/* Volumes every pod has: /tmp, the policy, the Kafka CA. dict root, kafka, policyId (the
     policy ConfigMap's id; the set-up Job has its own, made before it as a hook) */}}
{{- define "agentmesh.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.tmpSizeLimit }}
{{- if or .root.Values.mesh.policy .root.Values.mesh.existingPolicyConfigMap }}
- name: policy
  configMap:
    name: {{ .root.Values.mesh.existingPolicyConfigMap | default (include "agentmesh.componentName" (dict "root" .root "id" (.policyId | default "policy"))) }}
{{- end }}
{{- if .kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .kafka.tls.caSecret | quote }}
{{- end }}
{{- end }}

{{- define "agentmesh.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if or .root.Values.mesh.policy .root.Values.mesh.existingPolicyConfigMap }}
- name: policy
  mountPath: /etc/agentmesh/policy
  readOnly: true
{{- end }}
{{- if .kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/agentmesh/kafka-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* The pod's grace period: longer than the drain, so a draining process is never killed. */}}
{{- define "agentmesh.terminationGrace" -}}
{{- $drain := .Values.drainGraceSeconds | ceil | int }}
{{- $grace := .Values.terminationGracePeriodSeconds | default (add $drain 15) | int }}
{{- if le $grace $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed drainGraceSeconds (%d): Kubernetes kills the pod when its grace period ends, cutting the drain short" $grace $drain) }}
{{- end }}
{{- $grace }}
{{- end }}

{{/* Probes on a named port. dict root, port (name), paths (liveness, readiness) */}}
{{- define "agentmesh.probes" -}}
{{- $p := .root.Values.probes }}
startupProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  {{- toYaml $p.startup | nindent 2 }}
livenessProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  {{- toYaml $p.liveness | nindent 2 }}
readinessProbe:
  httpGet: {path: /readyz, port: {{ .port }}}
  {{- toYaml $p.readiness | nindent 2 }}
{{- end }}

{{/* Pod-level fields every Deployment shares. dict root, values */}}
{{- define "agentmesh.podCommon" -}}
serviceAccountName: {{ include "agentmesh.serviceAccountName" .root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ include "agentmesh.terminationGrace" .root }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod annotations: a changed policy rolls the pods that read it. */}}
{{- define "agentmesh.podAnnotations" -}}
checksum/policy: {{ toYaml .root.Values.mesh.policy | sha256sum }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "agentmesh.pdb" -}}
{{- if .values.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "agentmesh.componentName" . }}
  labels:
    {{- include "agentmesh.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "agentmesh.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}
