{{/*
Optional. Nothing but the metrics port takes connections (from `networkPolicy.metricsFrom`, or from
anywhere when that is empty). Egress stays open unless rules are given: brokers, Discord and the API
server live at addresses only the cluster's operator knows.
*/}}
{{- define "franz-lib.networkPolicy" -}}
{{- if .Values.networkPolicy.enabled -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "franz-lib.fullname" . }}
  labels:
    {{- include "franz-lib.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "franz-lib.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    {{- if .Values.networkPolicy.egress }}
    - Egress
    {{- end }}
  ingress:
    - ports:
        - {port: metrics, protocol: TCP}
      {{- with .Values.networkPolicy.metricsFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- with .Values.networkPolicy.egress }}
  egress:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}
