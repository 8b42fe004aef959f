{{/*
Expand the name of the chart.
*/}}
{{- define "scheduler-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "scheduler-api.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "scheduler-api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "scheduler-api.labels" -}}
helm.sh/chart: {{ include "scheduler-api.chart" . }}
{{ include "scheduler-api.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: {{ include "scheduler-api.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "scheduler-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scheduler-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The bundled Redis: its own name, so that the API selector never matches it.
*/}}
{{- define "scheduler-api.redis.fullname" -}}
{{- printf "%s-redis" (include "scheduler-api.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "scheduler-api.redis.labels" -}}
helm.sh/chart: {{ include "scheduler-api.chart" . }}
{{ include "scheduler-api.redis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.redis.image.tag | quote }}
app.kubernetes.io/component: redis
app.kubernetes.io/part-of: {{ include "scheduler-api.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "scheduler-api.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-redis" (include "scheduler-api.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "scheduler-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scheduler-api.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The API image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "scheduler-api.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The Secret holding the API's own secrets: the user's existingSecret or the chart's.
*/}}
{{- define "scheduler-api.secretName" -}}
{{- default (include "scheduler-api.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{/*
The Secret and key holding the Redis password, or nothing when Redis needs none.
Returns YAML: {name, key} or {}.
*/}}
{{- define "scheduler-api.redisPasswordRef" -}}
{{- $fullname := include "scheduler-api.fullname" . }}
{{- if .Values.redis.enabled }}
{{- if .Values.redis.auth.enabled }}
name: {{ default $fullname .Values.redis.auth.existingSecret }}
key: {{ .Values.redis.auth.existingSecretPasswordKey }}
{{- end }}
{{- else if .Values.externalRedis.existingSecret }}
{{- if .Values.externalRedis.existingSecretPasswordKey }}
name: {{ .Values.externalRedis.existingSecret }}
key: {{ .Values.externalRedis.existingSecretPasswordKey }}
{{- end }}
{{- else if .Values.externalRedis.password }}
name: {{ $fullname }}
key: redis-password
{{- end }}
{{- end }}

{{/*
The Secret and key holding a full REDIS_URL, or nothing when host and port are used.
*/}}
{{- define "scheduler-api.redisUrlRef" -}}
{{- if not .Values.redis.enabled }}
{{- if and .Values.externalRedis.existingSecret .Values.externalRedis.existingSecretUrlKey }}
name: {{ .Values.externalRedis.existingSecret }}
key: {{ .Values.externalRedis.existingSecretUrlKey }}
{{- else if .Values.externalRedis.url }}
name: {{ include "scheduler-api.fullname" . }}
key: redis-url
{{- end }}
{{- end }}
{{- end }}

{{/*
A secret value for the chart's Secret, base64-encoded: the value given, else the one already
stored in the release's Secret (so upgrades keep it), else a new random one.
Usage: include "scheduler-api.secretValue" (dict "ctx" $ "key" "api-token" "value" .Values.auth.apiToken)
*/}}
{{- define "scheduler-api.secretValue" -}}
{{- if .value }}
{{- .value | toString | b64enc }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace (include "scheduler-api.fullname" .ctx) | default dict }}
{{- $stored := dig "data" .key "" $existing }}
{{- if $stored }}
{{- $stored }}
{{- else }}
{{- randAlphaNum 40 | b64enc }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Refuse values that contradict each other, with a message that says what to change.
*/}}
{{- define "scheduler-api.validateValues" -}}
{{- $ext := .Values.externalRedis }}
{{- $externalSet := or $ext.url $ext.host $ext.existingSecretUrlKey }}
{{- if and .Values.redis.enabled $externalSet }}
{{- fail "redis.enabled and externalRedis are both set: turn the bundled Redis off (redis.enabled=false) to use an external one" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not $externalSet) }}
{{- fail "no Redis configured: keep redis.enabled=true or set externalRedis.url, externalRedis.host or externalRedis.existingSecretUrlKey" }}
{{- end }}
{{- if and $ext.url $ext.host }}
{{- fail "externalRedis.url and externalRedis.host are both set: give one (the URL carries host, port, password and db)" }}
{{- end }}
{{- if and $ext.existingSecretUrlKey (not $ext.existingSecret) }}
{{- fail "externalRedis.existingSecretUrlKey needs externalRedis.existingSecret (the Secret that holds the URL)" }}
{{- end }}
{{- if and $ext.password $ext.existingSecret }}
{{- fail "externalRedis.password and externalRedis.existingSecret are both set: give the password in one place" }}
{{- end }}
{{- if and .Values.auth.existingSecret (or .Values.auth.apiToken .Values.auth.webhookSigningSecret .Values.auth.metricsToken) }}
{{- fail "auth.existingSecret is set together with auth.apiToken, auth.webhookSigningSecret or auth.metricsToken: put the values in the existing Secret instead" }}
{{- end }}
{{- if and .Values.redis.auth.existingSecret .Values.redis.auth.password }}
{{- fail "redis.auth.existingSecret and redis.auth.password are both set: give the password in one place" }}
{{- end }}
{{- $grace := .Values.config.SHUTDOWN_GRACE_SECONDS | default 20 | float64 }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (addf $grace 5) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.SHUTDOWN_GRACE_SECONDS (%v) by more than 5 seconds, or pods are killed while draining" .Values.terminationGracePeriodSeconds $grace) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must not be below autoscaling.minReplicas" }}
{{- end }}
{{- end }}
