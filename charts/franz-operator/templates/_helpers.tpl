{{- define "franz-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- include "franz-lib.fullname" . -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator's own variables. */}}
{{- define "franz-operator.env" -}}
- {name: OPERATOR_NAMESPACES, value: {{ join "," .Values.watchNamespaces | quote }}}
- {name: OPERATOR_RESYNC_SECONDS, value: {{ .Values.resyncSeconds | quote }}}
- {name: OPERATOR_WORKERS, value: {{ .Values.workers | quote }}}
- {name: OPERATOR_STRIMZI_GRACE_SECONDS, value: {{ .Values.strimziGraceSeconds | quote }}}
{{- end -}}
