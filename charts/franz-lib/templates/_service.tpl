{{/* The metrics port as a Service: what the ServiceMonitor and a NetworkPolicy's clients address. */}}
{{- define "franz-lib.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "franz-lib.fullname" . }}
  labels:
    {{- include "franz-lib.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "franz-lib.selectorLabels" . | nindent 4 }}
  ports:
    - {name: metrics, port: {{ .Values.metricsPort }}, targetPort: metrics, protocol: TCP}
{{- end -}}
