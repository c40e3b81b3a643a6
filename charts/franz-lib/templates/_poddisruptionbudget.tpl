{{/* Optional: worth it with more than one replica, where a drain should not stop every consumer at once. */}}
{{- define "franz-lib.podDisruptionBudget" -}}
{{- if .Values.podDisruptionBudget.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "franz-lib.fullname" . }}
  labels:
    {{- include "franz-lib.labels" . | nindent 4 }}
spec:
  {{- if ne (toString .Values.podDisruptionBudget.minAvailable) "" }}
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "franz-lib.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}
