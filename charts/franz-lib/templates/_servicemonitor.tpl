{{/*
Rendered only where prometheus-operator serves monitoring.coreos.com/v1, so the chart installs on a
cluster without it; `serviceMonitor.enabled: false` opts out where it does.
*/}}
{{- define "franz-lib.serviceMonitor" -}}
{{- if and .Values.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "franz-lib.fullname" . }}
  labels:
    {{- include "franz-lib.labels" . | nindent 4 }}
    {{- with merge (dict) .Values.serviceMonitor.labels ((.Values.global).monitoringLabels | default dict) }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "franz-lib.selectorLabels" . | nindent 6 }}
    # A headless Service (sachbearbeiter's, which names its replicas) has the same pods: scraped once.
    matchExpressions:
      - {key: franz.dev/headless, operator: DoesNotExist}
  endpoints:
    - port: metrics
      path: /metrics
      # Franz's metrics carry their own `service` label (aufbereitung, absturz, …); without this,
      # Prometheus would rename it to exported_service in favour of the Kubernetes Service's name.
      honorLabels: true
      interval: {{ .Values.serviceMonitor.interval }}
      scrapeTimeout: {{ .Values.serviceMonitor.scrapeTimeout }}
{{- end -}}
{{- end -}}
