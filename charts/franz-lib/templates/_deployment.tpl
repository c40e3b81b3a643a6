{{/*
The Deployment of one Franz process. The caller passes a dict:
  root       the chart's context (.)
  args       the `franz` subcommand and its flags, e.g. (list "aufbereitung")
  env        extra env entries as YAML (the chart's own variables, secretKeyRefs)
  readiness  true for services that serve /readyz; the operator serves only /healthz
  pipeline   true to load the pipeline's ConfigMap franz-<pipeline>-config (topics, bootstrap servers)
  serviceAccountName  set for processes that talk to the Kubernetes API; the others get no token
  replicas   a fixed replica count, for charts without replicaCount
  strategy   the Deployment strategy (the operator needs Recreate: two operators would fight)
  store      a StatefulSet instead, whose pods each keep a volume at store.mountPath: a dict of
             serviceName (the headless Service), mountPath, persistent (a PersistentVolumeClaim per pod;
             false: an emptyDir), size and storageClassName
With `kafkaCredentials.enabled` in the chart's values, the service's own Kafka Secret (the operator's
franz-<pipeline>-<chart>-kafka) is mounted read-only at /etc/franz/kafka, where the pipeline's ConfigMap
points KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE and KAFKA_SASL_PASSWORD_FILE.
*/}}
{{- define "franz-lib.deployment" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
{{- $store := .store -}}
apiVersion: apps/v1
kind: {{ if $store }}StatefulSet{{ else }}Deployment{{ end }}
metadata:
  name: {{ include "franz-lib.fullname" $root }}
  labels:
    {{- include "franz-lib.labels" $root | nindent 4 }}
spec:
  replicas: {{ .replicas | default $values.replicaCount }}
  revisionHistoryLimit: 5
  {{- if $store }}
  serviceName: {{ $store.serviceName }}
  # Replicas start and stop side by side: each owns its partitions and its volume, none waits for another.
  podManagementPolicy: Parallel
  {{- end }}
  {{- with .strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "franz-lib.selectorLabels" $root | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "franz-lib.labels" $root | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- if .serviceAccountName }}
      serviceAccountName: {{ .serviceAccountName }}
      {{- else }}
      # Only the operator talks to the Kubernetes API; a service needs no token.
      automountServiceAccountToken: false
      {{- end }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $values.podSecurityContext | nindent 8 }}
      {{- with $values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $root.Chart.Name }}
          image: {{ include "franz-lib.image" $root | quote }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          {{- if .pipeline }}
          envFrom:
            - configMapRef:
                name: franz-{{ include "franz-lib.pipeline" $root }}-config
          {{- end }}
          env:
            - {name: METRICS_PORT, value: {{ $values.metricsPort | quote }}}
            - {name: LOG_LEVEL, value: {{ $values.logLevel | quote }}}
            - {name: LOG_FORMAT, value: {{ $values.logFormat | quote }}}
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- if ($values.kafkaCredentials).enabled }}
            # The Kafka user name is no secret, but it is the service's own: it comes with its credentials.
            - name: KAFKA_SASL_USERNAME
              valueFrom:
                secretKeyRef: {name: {{ include "franz-lib.kafkaCredentialsSecret" $root }}, key: username, optional: true}
            {{- end }}
            {{- with $values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - {name: metrics, containerPort: {{ $values.metricsPort }}, protocol: TCP}
          livenessProbe:
            httpGet: {path: /healthz, port: metrics}
            {{- toYaml $values.livenessProbe | nindent 12 }}
          {{- if .readiness }}
          readinessProbe:
            httpGet: {path: /readyz, port: metrics}
            {{- toYaml $values.readinessProbe | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $values.securityContext | nindent 12 }}
          volumeMounts:
            # The root filesystem is read-only; Python and the libraries write temporary files here.
            - {name: tmp, mountPath: /tmp}
            {{- if ($values.kafkaCredentials).enabled }}
            - {name: kafka-credentials, mountPath: /etc/franz/kafka, readOnly: true}
            {{- end }}
            {{- if $store }}
            - {name: store, mountPath: {{ $store.mountPath }}}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
        {{- if ($values.kafkaCredentials).enabled }}
        # Files, not variables: keys and passwords stay out of the process environment, and the kubelet
        # updates them in place when the operator rotates them.
        - name: kafka-credentials
          secret:
            secretName: {{ include "franz-lib.kafkaCredentialsSecret" $root }}
            defaultMode: 0440
        {{- end }}
        {{- if and $store (not $store.persistent) }}
        - name: store
          emptyDir: {sizeLimit: {{ $store.size }}}
        {{- end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- if and $store $store.persistent }}
  volumeClaimTemplates:
    - metadata:
        name: store
        labels:
          {{- include "franz-lib.selectorLabels" $root | nindent 10 }}
      spec:
        accessModes: [ReadWriteOnce]
        {{- with $store.storageClassName }}
        storageClassName: {{ . | quote }}
        {{- end }}
        resources:
          requests:
            storage: {{ $store.size }}
  {{- end }}
{{- end -}}
