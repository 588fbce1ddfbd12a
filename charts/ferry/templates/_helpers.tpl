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

{{/* The driver configuration file: values.backends without the chart's credentials and ca keys, plus passwordFile and caFile. */}}
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
{{- toYaml (dict "backends" $backends "node" .Values.nodeConfig) -}}
{{- end -}}

{{/* The projected volume holding ferry.yaml and each backend's password and CA files, mounted read-only at /etc/ferry. */}}
{{- define "ferry.configVolume" -}}
- name: config
  projected:
    sources:
      - configMap:
          name: {{ include "ferry.fullname" . }}-config
          items:
            - key: ferry.yaml
              path: ferry.yaml
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
