{{/*
The next steps after installing one pipeline service. Call with (list . "what its Secret must hold"), the
second element empty for a service without secrets.
*/}}
{{- define "franz-lib.notes" -}}
{{- $root := index . 0 -}}
{{- $secret := index . 1 -}}
{{- $name := include "franz-lib.fullname" $root -}}
{{- $pipeline := include "franz-lib.pipeline" $root -}}
{{- $ns := $root.Release.Namespace -}}
{{ $root.Chart.Name }} is installed as Deployment {{ $name }} in namespace {{ $ns }}, for the FranzPipeline "{{ $pipeline }}".

Its pods start once the Franz operator has written ConfigMap franz-{{ $pipeline }}-config{{ if $secret }} and Secret franz-{{ $pipeline }}-secrets{{ end }},
that is, once a FranzPipeline named {{ $pipeline }} exists in {{ $ns }} and is Ready:

  kubectl get franzpipeline {{ $pipeline }} -n {{ $ns }}
{{- if $secret }}

The pipeline's Secret must hold {{ $secret }}.
{{- end }}

Then watch the rollout and read the metrics:

  kubectl rollout status deployment/{{ $name }} -n {{ $ns }}
  kubectl port-forward -n {{ $ns }} service/{{ $name }} {{ $root.Values.metricsPort }} &
  curl -s localhost:{{ $root.Values.metricsPort }}/metrics | grep ^franz_
{{- end -}}
