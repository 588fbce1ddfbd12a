{{/* The base name of every object: the release name when it already says ferry, otherwise <release>-ferry. */}}
{{- define "ferry.fullname" -}}
{{- if contains "ferry" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-ferry" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ferry.labels" -}}
app.kubernetes.io/name: ferry
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: ferry
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ferry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* A sidecar's image reference from its values. */}}
{{- define "ferry.sidecarImage" -}}
{{- printf "%s:%s" .image.repository .image.tag -}}
{{- end -}}

{{- define "ferry.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.controller.leaderElection.namespace -}}
{{- end -}}

{{/* A sidecar's leader election flags: on, the namespace and the Lease timings (docs/failover.md says why these). */}}
{{- define "ferry.sidecarLeaderElection" -}}
{{- $le := .Values.controller.leaderElection -}}
- --leader-election
- --leader-election-namespace={{ include "ferry.leaderElectionNamespace" . }}
- --leader-election-lease-duration={{ $le.leaseDurationSeconds }}s
- --leader-election-renew-deadline={{ $le.renewDeadlineSeconds }}s
- --leader-election-retry-period={{ $le.retryPeriodSeconds }}s
{{- end -}}

{{/* "true" when any backend has the given type. */}}
{{- define "ferry.hasBackendType" -}}
{{- $type := .type -}}
{{- range .backends }}{{ if eq .type $type }}true{{ end }}{{ end -}}
{{- end -}}

{{/* Name of the Secret the chart makes for backends whose credentials carry a password. */}}
{{- define "ferry.credentialsSecret" -}}
{{- printf "%s-credentials" (include "ferry.fullname" .) -}}
{{- end -}}

{{/* Where a backend's password file appears inside the driver containers. */}}
{{- define "ferry.passwordFile" -}}
{{- printf "/etc/ferry/credentials/%s" . -}}
{{- end -}}

{{/* Where a backend's gateway CA certificate appears inside the driver containers. */}}
{{- define "ferry.caFile" -}}
{{- printf "/etc/ferry/ca/%s.crt" . -}}
{{- end -}}

{{/* The controller's driver configuration file: values.backends without the chart's credentials and ca keys, plus passwordFile and caFile. */}}
{{- define "ferry.config" -}}
{{- $backends := list -}}
{{- range .Values.backends -}}
{{- $b := omit . "credentials" "ca" -}}
{{- if .credentials -}}
{{- $_ := set $b "passwordFile" (include "ferry.passwordFile" .name) -}}
{{- end -}}
{{- if .ca -}}
{{- $_ := set $b "caFile" (include "ferry.caFile" .name) -}}
{{- end -}}
{{- $backends = append $backends $b -}}
{{- end -}}
{{- $config := dict "backends" $backends "node" .Values.nodeConfig -}}
{{- with .Values.csiPowerflex.secret -}}
{{- $_ := set $config "csiPowerflexArrays" (dict "file" (include "ferry.csiPowerflexFile" $) "storagePool" (required "csiPowerflex.storagePool is required with csiPowerflex.secret" $.Values.csiPowerflex.storagePool)) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Where csi-powerflex's array Secret appears inside the controller's containers. */}}
{{- define "ferry.csiPowerflexFile" -}}
/etc/ferry/csi-powerflex/config
{{- end -}}

{{/* "true" when the nodes serve PowerFlex volumes: a powerflex backend, or csi-powerflex's arrays. */}}
{{- define "ferry.hasPowerFlex" -}}
{{- if or (include "ferry.hasBackendType" (dict "type" "powerflex" "backends" .Values.backends)) .Values.csiPowerflex.secret }}true{{ end -}}
{{- end -}}

{{/*
The node plugins' driver configuration: the backends without anything a gateway login uses (username, password, CA,
TLS setting). A node plugin never calls the gateway: it takes the system id from here and its SDC GUID and rescan
command from `node:`, so a compromised node holds nothing that could unmap or delete another host's volumes.
*/}}
{{- define "ferry.nodeConfig" -}}
{{- $backends := list -}}
{{- range .Values.backends -}}
{{- if eq .type "powerflex" -}}
{{- $_ := required (printf "backends %s: systemId is required (the node plugins take it from their configuration, never from the gateway)" .name) .systemId -}}
{{- end -}}
{{- $backends = append $backends (omit . "credentials" "ca" "username" "password" "passwordFile" "caFile" "insecure") -}}
{{- end -}}
{{- if .Values.csiPowerflex.secret -}}
{{- $arrays := list -}}
{{- range .Values.csiPowerflex.arrays -}}
{{- $id := lower (required "csiPowerflex.arrays: each needs systemID" .systemID) -}}
{{- $arrays = append $arrays (dict "name" $id "type" "powerflex" "endpoint" (required "csiPowerflex.arrays: each needs endpoint" .endpoint) "systemId" $id "storagePool" $.Values.csiPowerflex.storagePool) -}}
{{- end -}}
{{- if not $arrays -}}{{- fail "csiPowerflex.arrays must list every array's systemID and endpoint (the node plugins never read the Secret)" -}}{{- end -}}
{{- $backends = concat $arrays $backends -}}
{{- end -}}
{{- /* Staging and publish paths are the kubelet's: refused anywhere else (node.kubeletDir, unless nodeConfig says). */ -}}
{{- $node := deepCopy .Values.nodeConfig -}}
{{- if not (hasKey $node "kubeletRoots") -}}
{{- $_ := set $node "kubeletRoots" (list (.Values.node.kubeletDir | trimSuffix "/")) -}}
{{- end -}}
{{- toYaml (dict "backends" $backends "node" $node) -}}
{{- end -}}

{{/* The controller's projected volume: ferry.yaml and each backend's password and CA files, mounted read-only at /etc/ferry. */}}
{{- define "ferry.configVolume" -}}
- name: config
  projected:
    sources:
      - configMap:
          name: {{ include "ferry.fullname" . }}-config
          items:
            - key: ferry.yaml
              path: ferry.yaml
      {{- with .Values.csiPowerflex.secret }}
      - secret:
          name: {{ . }}
          items:
            - key: {{ $.Values.csiPowerflex.key }}
              path: csi-powerflex/config
      {{- end }}
      {{- range $b := .Values.backends }}
      {{- with $b.credentials }}
      - secret:
          name: {{ default (include "ferry.credentialsSecret" $) .existingSecret }}
          items:
            - key: {{ if .existingSecret }}{{ .key }}{{ else }}{{ $b.name }}{{ end }}
              path: credentials/{{ $b.name }}
      {{- end }}
      {{- with $b.ca }}
      {{- if .secret }}
      - secret:
          name: {{ .secret }}
      {{- else }}
      - configMap:
          name: {{ .configMap }}
      {{- end }}
          items:
            - key: {{ .key }}
              path: ca/{{ $b.name }}.crt
      {{- end }}
      {{- end }}
{{- end -}}


{{/* The node plugins' config volume: their ferry.yaml only; no Secret is ever projected onto a node. */}}
{{- define "ferry.nodeConfigVolume" -}}
- name: config
  configMap:
    name: {{ include "ferry.fullname" . }}-node-config
    items:
      - key: ferry.yaml
        path: ferry.yaml
{{- end -}}

{{/*
The service account token, CA and namespace where client-go and @kubernetes/client-node look for them. The pods do
not automount their token: only the containers that call the Kubernetes API mount this volume.
*/}}
{{- define "ferry.apiAccessVolume" -}}
- name: kube-api-access
  projected:
    # 0444 (decimal here: YAML 1.1 and 1.2 read a leading 0 differently): readable by the container's user, root or not.
    defaultMode: 292
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- end -}}

{{- define "ferry.apiAccessMount" -}}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end -}}

{{/* The Lease Ferry's failover controller elects its leader with (src/driver/kubernetes.ts names it the same way). */}}
{{- define "ferry.failoverLeaseName" -}}
{{- printf "%s-failover" (regexReplaceAll "[^a-z0-9.-]" .Values.driverName "-") -}}
{{- end -}}

{{/* Whether the node plugins run in the host's network namespace: `auto` means only when an NFS backend needs it. */}}
{{- define "ferry.nodeHostNetwork" -}}
{{- if eq (toString .Values.node.hostNetwork) "auto" -}}
{{- if include "ferry.hasBackendType" (dict "type" "nfs" "backends" .Values.backends) }}true{{ else }}false{{ end -}}
{{- else -}}
{{- .Values.node.hostNetwork -}}
{{- end -}}
{{- end -}}

{{/* --metrics-address: the configured address, or the pod's own IP (never every interface unless asked). */}}
{{- define "ferry.metricsAddress" -}}
{{- if .root.Values.metrics.address -}}
{{- printf "%s:%v" .root.Values.metrics.address .port -}}
{{- else -}}
{{- printf "[$(POD_IP)]:%v" .port -}}
{{- end -}}
{{- end -}}
