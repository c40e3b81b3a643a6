{{/* The headless Service that names each replica (`<pod>.<service>`), through which clients reach all. */}}
{{- define "sachbearbeiter.headless" -}}
{{- include "franz-lib.fullname" . | trunc 54 | trimSuffix "-" }}-headless
{{- end -}}
