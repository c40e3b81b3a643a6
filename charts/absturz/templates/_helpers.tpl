{{/* absturz's own variables; the webhook URL is a secret, the topics come from the pipeline's ConfigMap. */}}
{{- define "absturz.env" -}}
{{ include "franz-lib.secretEnv" (list . "DISCORD_WEBHOOK_URL") }}
- {name: ALERT_BATCH_WINDOW_SECONDS, value: {{ .Values.alertBatchWindowSeconds | quote }}}
- {name: DISCORD_REQUEST_TIMEOUT_SECONDS, value: {{ .Values.requestTimeoutSeconds | quote }}}
{{- end -}}
