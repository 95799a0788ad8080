{{- define "budmetrics.labels" -}}
app.kubernetes.io/name: budmetrics
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "budmetrics.secretName" -}}
{{ .Release.Name }}-budmetrics
{{- end -}}

{{- define "budmetrics.env" -}}
- name: HOST
  value: "0.0.0.0"
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: CLICKHOUSE_URL
  value: {{ .Values.clickhouse.url | quote }}
- name: CLICKHOUSE_USER
  value: {{ .Values.clickhouse.user | quote }}
- name: CLICKHOUSE_DATABASE
  value: {{ .Values.clickhouse.database | quote }}
- name: CLICKHOUSE_REQUEST_TIMEOUT_MS
  value: {{ .Values.clickhouse.requestTimeoutMs | quote }}
{{- if .Values.clickhouse.cluster }}
- name: CLICKHOUSE_CLUSTER
  value: {{ .Values.clickhouse.cluster | quote }}
{{- end }}
- name: CLICKHOUSE_MIGRATE_ON_START
  value: "false"
- name: CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "budmetrics.secretName" .) .Values.clickhouse.existingSecret }}
      key: CLICKHOUSE_PASSWORD
- name: RAW_DATA_RETENTION_DAYS
  value: {{ .Values.retention.rawDays | quote }}
- name: METRICS_RETENTION_DAYS
  value: {{ .Values.retention.metricsDays | quote }}
- name: AGGREGATED_DATA_RETENTION_DAYS
  value: {{ .Values.retention.aggregatedDays | quote }}
- name: QUARANTINE_RETENTION_DAYS
  value: {{ .Values.retention.quarantineDays | quote }}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
- name: APP_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ default (include "budmetrics.secretName" .) .Values.appApiToken.existingSecret }}
      key: APP_API_TOKEN
      optional: true
{{- end -}}
