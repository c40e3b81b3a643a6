{{/*
Names are cut to 63 characters: label values and DNS-1123 labels (Service names) allow no more. A release
named like its chart is not repeated ("franz-aufbereitung", not "franz-aufbereitung-aufbereitung").
*/}}
{{- define "franz-lib.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The FranzPipeline a service belongs to: its own value, else the umbrella's global, else "default". */}}
{{- define "franz-lib.pipeline" -}}
{{- coalesce .Values.pipeline (.Values.global).pipeline "default" -}}
{{- end -}}

{{/* The service's own Kafka credentials: as the operator names them unless kafkaCredentials.secretName says. */}}
{{- define "franz-lib.kafkaCredentialsSecret" -}}
{{- .Values.kafkaCredentials.secretName | default (printf "franz-%s-%s-kafka" (include "franz-lib.pipeline" .) .Chart.Name) -}}
{{- end -}}

{{/* Selector labels never change after install: a Deployment's selector is immutable. */}}
{{- define "franz-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Every object's labels. Charts of pipeline services (those with a `pipeline` value) add
franz.dev/pipeline: the operator lists Deployments by it to roll them when the pipeline's config or
secrets change. The operator's own chart has no such value, so the operator never rolls itself.
*/}}
{{- define "franz-lib.labels" -}}
{{ include "franz-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ index .Chart.Annotations "franz.dev/component" }}
app.kubernetes.io/part-of: franz
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- if hasKey .Values "pipeline" }}
franz.dev/pipeline: {{ include "franz-lib.pipeline" . }}
{{- end }}
{{- end -}}

{{/*
One image serves every service. Its own value wins, then the umbrella's global (what skaffold sets once
for all releases), then "franz" and the chart's appVersion. A digest pins what runs whatever the tag says.
*/}}
{{- define "franz-lib.image" -}}
{{- $global := (.Values.global).image | default dict -}}
{{- $repository := coalesce .Values.image.repository $global.repository "franz" -}}
{{- $tag := coalesce .Values.image.tag $global.tag .Chart.AppVersion -}}
{{- $digest := coalesce .Values.image.digest $global.digest "" -}}
{{- if $digest -}}
{{- printf "%s:%s@%s" $repository $tag $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
An env entry read from the pipeline's Secret franz-<pipeline>-secrets, which the operator projects from
the Secrets the FranzPipeline names; the variable and the key share a name. Call with (list . "NAME").
*/}}
{{- define "franz-lib.secretEnv" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: franz-{{ include "franz-lib.pipeline" $root }}-secrets
      key: {{ $name }}
{{- end -}}
