{{/*
kummerkasten's own variables; the token is a secret. Topics and the bot's group on ticket-events
(KUMMERKASTEN_GROUP_ID) come from the pipeline's ConfigMap and are not set here: env would shadow it.
*/}}
{{- define "kummerkasten.env" -}}
{{ include "franz-lib.secretEnv" (list . "DISCORD_TOKEN") }}
- {name: TICKET_COOLDOWN_SECONDS, value: {{ .Values.ticketCooldownSeconds | quote }}}
{{- with .Values.discordClientId }}
- {name: DISCORD_CLIENT_ID, value: {{ . | quote }}}
{{- end }}
{{- with .Values.discordGuildId }}
- {name: DISCORD_GUILD_ID, value: {{ . | quote }}}
{{- end }}
{{- with .Values.staffRoleId }}
- {name: STAFF_ROLE_ID, value: {{ . | quote }}}
{{- end }}
- {name: TICKETS_API_URL, value: {{ include "kummerkasten.ticketsApiUrl" . | quote }}}
{{- end -}}

{{/* The read API of the release's sachbearbeiter: its headless Service (the name its chart gives it). */}}
{{- define "kummerkasten.ticketsApiUrl" -}}
{{- if .Values.ticketsApiUrl -}}
{{- .Values.ticketsApiUrl -}}
{{- else -}}
{{- $name := ternary .Release.Name (printf "%s-sachbearbeiter" .Release.Name) (contains "sachbearbeiter" .Release.Name) -}}
http://{{ $name | trunc 63 | trimSuffix "-" | trunc 54 | trimSuffix "-" }}-headless:9104
{{- end -}}
{{- end -}}
