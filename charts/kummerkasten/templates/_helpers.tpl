{{/* kummerkasten's own variables; the token is a secret, the intake topic comes from the pipeline's ConfigMap. */}}
{{- define "kummerkasten.env" -}}
{{ include "franz-lib.secretEnv" (list . "DISCORD_TOKEN") }}
- {name: TICKET_COOLDOWN_SECONDS, value: {{ .Values.ticketCooldownSeconds | quote }}}
{{- with .Values.discordClientId }}
- {name: DISCORD_CLIENT_ID, value: {{ . | quote }}}
{{- end }}
{{- with .Values.discordGuildId }}
- {name: DISCORD_GUILD_ID, value: {{ . | quote }}}
{{- end }}
{{- end -}}
