{{/* Chart name, or nameOverride. */}}
{{- define "metrics-apiserver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: fullnameOverride, or the release name when
it already contains the chart name, or "<release>-<chart>".
*/}}
{{- define "metrics-apiserver.fullname" -}}
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

{{- define "metrics-apiserver.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "metrics-apiserver.labels" -}}
helm.sh/chart: {{ include "metrics-apiserver.chart" . }}
{{ include "metrics-apiserver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the pods. */}}
{{- define "metrics-apiserver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "metrics-apiserver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "metrics-apiserver.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "metrics-apiserver.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The subject every binding names: the release's ServiceAccount. */}}
{{- define "metrics-apiserver.rbacSubject" -}}
- kind: ServiceAccount
  name: {{ include "metrics-apiserver.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{- define "metrics-apiserver.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding tls.crt and tls.key, or nothing in selfSigned mode. */}}
{{- define "metrics-apiserver.tlsSecretName" -}}
{{- if eq .Values.tls.type "existingSecret" }}
{{- required "tls.existingSecret.name is required with tls.type=existingSecret" .Values.tls.existingSecret.name }}
{{- else if or (eq .Values.tls.type "helm") (eq .Values.tls.type "certManager") }}
{{- printf "%s-tls" (include "metrics-apiserver.fullname" .) }}
{{- end }}
{{- end }}

{{/* The names kube-apiserver may dial the Service by; it verifies <svc>.<ns>.svc. */}}
{{- define "metrics-apiserver.dnsNames" -}}
{{- $svc := include "metrics-apiserver.fullname" . }}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) | toJson }}
{{- end }}

{{/* Whether a ConfigMap of configuration files is mounted. */}}
{{- define "metrics-apiserver.hasConfig" -}}
{{- if or .Values.audit.enabled .Values.tracing.enabled }}true{{ end }}
{{- end }}
