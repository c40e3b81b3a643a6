{{/* Names are cut to 63 characters: Kubernetes label values and DNS names allow no more. */}}
{{- define "aufbereitung.fullname" -}}
{{- printf "%s-aufbereitung" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aufbereitung.selectorLabels" -}}
app.kubernetes.io/name: aufbereitung
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aufbereitung.labels" -}}
{{ include "aufbereitung.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: normaliser
app.kubernetes.io/part-of: franz
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 }}
franz.dev/pipeline: {{ .Values.pipeline }}
{{- end -}}
