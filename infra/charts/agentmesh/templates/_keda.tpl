{{/* An agent's KEDA ScaledObject (and TriggerAuthentication when its Kafka connection needs
     credentials): replicas follow the lag of the agent's consumer group on its inbox.
     dict ctx (the agent's), kafka (merged), partitions, name */}}
{{- define "agentmesh.scaledObject" -}}
{{- $ctx := .ctx }}
{{- $root := $ctx.root }}
{{- $a := $ctx.values }}
{{- $s := $a.autoscaling }}
{{- $who := printf "agents.%s.autoscaling" .name }}
{{- $inbox := printf "%s.agent.%s" $root.Values.mesh.namespace .name }}
{{- /* More replicas than partitions only adds idle consumers: refuse, do not cap silently. */}}
{{- $max := $s.maxReplicas | default .partitions | int }}
{{- if gt $max (.partitions | int) }}
{{- fail (printf "%s.maxReplicas is %d but %s has %d partitions: replicas beyond the partition count get no partition and do nothing. Lower maxReplicas (or leave it empty: the partition count), or add partitions to the inbox and set agents.%s.partitions" $who $max $inbox (.partitions | int) .name) }}
{{- end }}
{{- if gt ($s.minReplicas | int) $max }}
{{- fail (printf "%s.minReplicas (%d) is above maxReplicas (%d)" $who ($s.minReplicas | int) $max) }}
{{- end }}
{{- $k := .kafka }}
{{- $sasl := hasPrefix "SASL_" $k.securityProtocol }}
{{- $tls := or (eq $k.securityProtocol "SSL") (eq $k.securityProtocol "SASL_SSL") }}
{{- $auth := or $sasl (and $tls $k.tls.caSecret) }}
{{- $name := include "agentmesh.componentName" $ctx }}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $name }}
  labels:
    {{- include "agentmesh.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicaCount: {{ $s.minReplicas }}
  maxReplicaCount: {{ $max }}
  pollingInterval: {{ $s.pollingInterval }}
  cooldownPeriod: {{ $s.cooldownPeriod }}
  triggers:
    - type: kafka
      name: inbox-lag
      metadata:
        bootstrapServers: {{ $k.bootstrapServers | quote }}
        consumerGroup: {{ printf "%s.workers" $inbox | quote }}
        topic: {{ $inbox | quote }}
        lagThreshold: {{ $s.lagThreshold | quote }}
        activationLagThreshold: {{ $s.activationLagThreshold | quote }}
        # The workers start a new group at the earliest offset; the lag must count from there.
        offsetResetPolicy: earliest
        {{- if $sasl }}
        sasl: {{ get (dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512") $k.sasl.mechanism | quote }}
        {{- end }}
        {{- if $tls }}
        tls: enable
        {{- end }}
      {{- if $auth }}
      authenticationRef:
        name: {{ $name }}
      {{- end }}
{{- if $auth }}
---
# The agent's own Kafka credentials, for KEDA to read its consumer group's lag.
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: {{ $name }}
  labels:
    {{- include "agentmesh.labels" $ctx | nindent 4 }}
spec:
  secretTargetRef:
    {{- if $sasl }}
    - parameter: username
      name: {{ $k.sasl.existingSecret | quote }}
      key: {{ $k.sasl.usernameKey | quote }}
    - parameter: password
      name: {{ $k.sasl.existingSecret | quote }}
      key: {{ $k.sasl.passwordKey | quote }}
    {{- end }}
    {{- if and $tls $k.tls.caSecret }}
    - parameter: ca
      name: {{ $k.tls.caSecret | quote }}
      key: {{ $k.tls.caKey | quote }}
    {{- end }}
{{- end }}
{{- end }}
