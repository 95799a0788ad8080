{{/* Names */}}
{{- define "budmetrics.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "budmetrics" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-budmetrics" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "budmetrics.labels" -}}
app.kubernetes.io/name: budmetrics
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "collector") */}}
{{- define "budmetrics.selectorLabels" -}}
app.kubernetes.io/name: budmetrics
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "budmetrics.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* Secrets: the chart's own Secret holds whatever is not taken from an existing one. */}}
{{- define "budmetrics.secretName" -}}
{{ include "budmetrics.fullname" . }}
{{- end -}}

{{- define "budmetrics.needsSecret" -}}
{{- if or (not .Values.clickhouse.existingSecret) (not .Values.redis.existingSecret) (not .Values.appToken.existingSecret) (and .Values.adminToken.value (not .Values.adminToken.existingSecret)) -}}
true
{{- end -}}
{{- end -}}

{{/* The Secret with the app token under the key "token": what dapr.io/app-token-secret reads. */}}
{{- define "budmetrics.tokenSecret" -}}
{{ .Values.appToken.existingSecret | default (include "budmetrics.secretName" .) }}
{{- end -}}

{{/* A config value as the environment sees it: whole numbers without exponent, lists comma-joined. */}}
{{- define "budmetrics.envValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq . (floor .) -}}{{ printf "%.0f" . }}{{- else -}}{{ . }}{{- end -}}
{{- else if kindIs "slice" . -}}
{{- join "," . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* The merged config map of one app (shared config, then the app's own): (dict "root" $ "app" "collector") */}}
{{- define "budmetrics.appConfig" -}}
{{- $app := index .root.Values .app -}}
{{- toYaml (merge (deepCopy ($app.config | default dict)) (deepCopy .root.Values.config)) -}}
{{- end -}}

{{/*
Seconds the Dapr sidecar gives the app to finish on SIGTERM: the app's whole shutdown budget
(SHUTDOWN_DEADLINE_MS, which includes the collector's drain, COLLECTOR_DRAIN_TIMEOUT_MS), rounded up.
*/}}
{{- define "budmetrics.shutdownSeconds" -}}
{{- $cfg := fromYaml (include "budmetrics.appConfig" .) -}}
{{- $ms := int64 (index $cfg "SHUTDOWN_DEADLINE_MS") -}}
{{- $drain := int64 (index $cfg "COLLECTOR_DRAIN_TIMEOUT_MS" | default 0) -}}
{{- if gt $drain $ms -}}{{- $ms = $drain -}}{{- end -}}
{{- div (add $ms 999) 1000 -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the collector's sidecar first blocks (keeps in-flight deliveries open
until the app has drained and exited) and then shuts down gracefully, each for shutdownSeconds; the
query's sidecar only shuts down gracefully. Plus a margin for the kubelet.
*/}}
{{- define "budmetrics.terminationGraceSeconds" -}}
{{- $s := int64 (include "budmetrics.shutdownSeconds" .) -}}
{{- $app := index .root.Values .app -}}
{{- if eq .app "collector" -}}
{{- add (mul 2 $s) (int64 $app.terminationGraceMarginSeconds) -}}
{{- else -}}
{{- add $s (int64 $app.terminationGraceMarginSeconds) -}}
{{- end -}}
{{- end -}}

{{/* Dapr sidecar annotations of one app: (dict "root" $ "app" "collector") */}}
{{- define "budmetrics.daprAnnotations" -}}
{{- $root := .root -}}
{{- $app := index $root.Values .app -}}
{{- $s := include "budmetrics.shutdownSeconds" . -}}
dapr.io/enabled: "true"
dapr.io/app-id: {{ $app.appId | quote }}
dapr.io/app-port: {{ $app.port | quote }}
dapr.io/app-protocol: "http"
dapr.io/enable-app-health-check: "true"
dapr.io/app-health-check-path: "/healthz"
dapr.io/app-health-probe-interval: {{ $root.Values.dapr.appHealth.probeIntervalSeconds | quote }}
dapr.io/app-health-probe-timeout: {{ $root.Values.dapr.appHealth.probeTimeoutMs | quote }}
dapr.io/app-health-threshold: {{ $root.Values.dapr.appHealth.threshold | quote }}
dapr.io/app-token-secret: {{ include "budmetrics.tokenSecret" $root | quote }}
dapr.io/graceful-shutdown-seconds: {{ $s | quote }}
{{- if eq .app "collector" }}
dapr.io/block-shutdown-duration: {{ printf "%ss" $s | quote }}
{{- end }}
dapr.io/log-level: {{ $root.Values.dapr.logLevel | quote }}
dapr.io/log-as-json: "true"
{{- if $root.Values.dapr.apiTokenSecret }}
dapr.io/api-token-secret: {{ $root.Values.dapr.apiTokenSecret | quote }}
{{- end }}
{{- if $root.Values.dapr.config }}
dapr.io/config: {{ $root.Values.dapr.config | quote }}
{{- end }}
{{- with $root.Values.dapr.extraAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Environment variables taken from Secrets (the same three for both apps). */}}
{{- define "budmetrics.secretEnv" -}}
- name: CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      {{- if .Values.clickhouse.existingSecret }}
      name: {{ .Values.clickhouse.existingSecret }}
      key: {{ .Values.clickhouse.existingSecretKey }}
      {{- else }}
      name: {{ include "budmetrics.secretName" . }}
      key: CLICKHOUSE_PASSWORD
      {{- end }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.redis.existingSecret }}
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
      {{- else }}
      name: {{ include "budmetrics.secretName" . }}
      key: REDIS_URL
      {{- end }}
- name: APP_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "budmetrics.tokenSecret" . }}
      key: token
{{- /* Optional: without a value or a Secret, ADMIN_API_TOKEN stays unset and /admin/* answer 403. */}}
- name: ADMIN_API_TOKEN
  valueFrom:
    secretKeyRef:
      {{- if .Values.adminToken.existingSecret }}
      name: {{ .Values.adminToken.existingSecret }}
      key: {{ .Values.adminToken.existingSecretKey }}
      {{- else }}
      name: {{ include "budmetrics.secretName" . }}
      key: ADMIN_API_TOKEN
      {{- end }}
      optional: true
{{- end -}}

{{- define "budmetrics.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "budmetrics.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
