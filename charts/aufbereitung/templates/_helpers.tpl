{{/* aufbereitung's own variables; the topics come from the pipeline's ConfigMap. */}}
{{- define "aufbereitung.env" -}}
- {name: EXACTLY_ONCE, value: {{ .Values.exactlyOnce | quote }}}
{{- if .Values.exactlyOnce }}
# Unique per pod, as a transactional id must be; a restarted pod is a new Deployment pod and a new id.
- name: TRANSACTIONAL_ID
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
{{- end }}
{{- end -}}
