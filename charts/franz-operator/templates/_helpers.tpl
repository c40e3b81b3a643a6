{{- define "franz-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- include "franz-lib.fullname" . -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
