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
Where the CA certificate of an external Redis is mounted (externalRedis.tls.caSecret).
*/}}
{{- define "scheduler-api.redisCaFile" -}}
{{- printf "/etc/scheduler-api/redis-tls/%s" .Values.externalRedis.tls.caSecretKey }}
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
`lookup` reads the cluster only during `helm install` and `helm upgrade`: under `helm template`,
`--dry-run` or a GitOps tool that renders without cluster access it finds nothing, so every
render generates a new value. Use the existingSecret values there.
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
The data of the chart's Secret as JSON (key: base64 value; `{}` when there is nothing to store).
secret.yaml writes it and the pod templates hash it, so a checksum annotation always describes
the value the pods will read. A generated value must therefore be made once per render: Helm
renders every template of a chart with the same top-level object, so the first template that
asks computes the data and keeps it there for the others.
*/}}
{{- define "scheduler-api.secretData" -}}
{{- if not (hasKey . "schedulerApiSecretData") }}
{{- $data := dict }}
{{- if not .Values.auth.existingSecret }}
{{- $keys := .Values.auth.secretKeys }}
{{- $_ := set $data $keys.apiToken (include "scheduler-api.secretValue" (dict "ctx" . "key" $keys.apiToken "value" .Values.auth.apiToken)) }}
{{- with .Values.auth.webhookSigningSecret }}
{{- $_ := set $data $keys.webhookSigningSecret (. | b64enc) }}
{{- end }}
{{- with .Values.auth.metricsToken }}
{{- $_ := set $data $keys.metricsToken (. | b64enc) }}
{{- end }}
{{- end }}
{{- if and .Values.redis.enabled .Values.redis.auth.enabled (not .Values.redis.auth.existingSecret) }}
{{- $key := .Values.redis.auth.existingSecretPasswordKey }}
{{- $_ := set $data $key (include "scheduler-api.secretValue" (dict "ctx" . "key" $key "value" .Values.redis.auth.password)) }}
{{- end }}
{{- if not .Values.redis.enabled }}
{{- with .Values.externalRedis.password }}
{{- $_ := set $data "redis-password" (. | b64enc) }}
{{- end }}
{{- with .Values.externalRedis.url }}
{{- $_ := set $data "redis-url" (. | b64enc) }}
{{- end }}
{{- end }}
{{- $_ := set . "schedulerApiSecretData" $data }}
{{- end }}
{{- get . "schedulerApiSecretData" | toJson }}
{{- end }}

{{/*
A memory quantity (512Mi, 1Gi, 1G, 1500M or a number of bytes) in bytes, as an integer.
Fails on a form it cannot read rather than guess.
Usage: include "scheduler-api.bytes" (dict "value" .Values.redis.maxmemory "name" "redis.maxmemory")
*/}}
{{- define "scheduler-api.bytes" -}}
{{- if or (kindIs "float64" .value) (kindIs "int64" .value) (kindIs "int" .value) }}
{{- printf "%.0f" (float64 .value) }}
{{- else }}
{{- $quantity := toString .value | trim }}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(k|M|G|T|Ki|Mi|Gi|Ti)?$" $quantity) }}
{{- fail (printf "%s: cannot read %q as a memory quantity; give bytes or a number with k, M, G, T, Ki, Mi, Gi or Ti" .name $quantity) }}
{{- end }}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $quantity }}
{{- printf "%.0f" (mulf $number (get $units (trimPrefix $number $quantity))) }}
{{- end }}
{{- end }}

{{/*
The bundled Redis's maxmemory in bytes: redis.maxmemory when given, else 80 % of the container's
memory limit, else nothing (no bound). maxmemory counts the data set only; the other 20 % is for
the append-only-file rewrite (a fork whose copied pages grow with the write rate), client
buffers and fragmentation, so that Redis refuses writes before the kernel kills it.
*/}}
{{- define "scheduler-api.redis.maxmemory" -}}
{{- $limit := dig "limits" "memory" "" .Values.redis.resources }}
{{- if .Values.redis.maxmemory }}
{{- include "scheduler-api.bytes" (dict "value" .Values.redis.maxmemory "name" "redis.maxmemory") }}
{{- else if $limit }}
{{- $bytes := include "scheduler-api.bytes" (dict "value" $limit "name" "redis.resources.limits.memory") }}
{{- printf "%.0f" (floor (mulf $bytes 0.8)) }}
{{- end }}
{{- end }}

{{/*
Refuse values that contradict each other, with a message that says what to change.
*/}}
{{- define "scheduler-api.validateValues" -}}
{{- $ext := .Values.externalRedis }}
{{- $byUrl := or $ext.url $ext.existingSecretUrlKey }}
{{- $externalSet := or $byUrl $ext.host $ext.sentinel.nodes $ext.cluster.nodes }}
{{- if and .Values.redis.enabled $externalSet }}
{{- fail "redis.enabled and externalRedis are both set: turn the bundled Redis off (redis.enabled=false) to use an external one" }}
{{- end }}
{{- if and .Values.redis.enabled (or $ext.username $ext.tls.enabled $ext.tls.caSecret) }}
{{- fail "externalRedis.username and externalRedis.tls apply to an external Redis: the bundled one has neither (set redis.enabled=false to use an external one)" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not $externalSet) }}
{{- fail "no Redis configured: keep redis.enabled=true or set externalRedis.url, externalRedis.host, externalRedis.existingSecretUrlKey, externalRedis.sentinel.nodes or externalRedis.cluster.nodes" }}
{{- end }}
{{- if and $ext.url $ext.host }}
{{- fail "externalRedis.url and externalRedis.host are both set: give one (the URL carries host, port, password and db)" }}
{{- end }}
{{- if and $ext.sentinel.nodes $ext.cluster.nodes }}
{{- fail "externalRedis.sentinel.nodes and externalRedis.cluster.nodes are both set: Sentinel and Redis Cluster are two different setups; give the one you run" }}
{{- end }}
{{- if and (or $ext.sentinel.nodes $ext.cluster.nodes) (or $byUrl $ext.host) }}
{{- fail "externalRedis.sentinel.nodes or externalRedis.cluster.nodes is set together with externalRedis.url, externalRedis.existingSecretUrlKey or externalRedis.host: the service finds the master (Sentinel) or the nodes (Cluster) itself; give one way to reach Redis" }}
{{- end }}
{{- if and $ext.cluster.nodes (ne (int $ext.db) 0) }}
{{- fail "externalRedis.db must be 0 with externalRedis.cluster.nodes: a Redis Cluster has only database 0" }}
{{- end }}
{{- if and $ext.tls.caSecret (not $ext.tls.enabled) }}
{{- fail "externalRedis.tls.caSecret needs externalRedis.tls.enabled=true" }}
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
{{- /* The service's own defaults, when config does not set them. */}}
{{- $delay := 5.0 }}
{{- if hasKey .Values.config "SHUTDOWN_DELAY_SECONDS" }}
{{- $delay = float64 .Values.config.SHUTDOWN_DELAY_SECONDS }}
{{- end }}
{{- $grace := 20.0 }}
{{- if hasKey .Values.config "SHUTDOWN_GRACE_SECONDS" }}
{{- $grace = float64 .Values.config.SHUTDOWN_GRACE_SECONDS }}
{{- end }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (addf $delay $grace 5) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.SHUTDOWN_DELAY_SECONDS (%v) + config.SHUTDOWN_GRACE_SECONDS (%v) by more than 5 seconds, or pods are killed while draining" .Values.terminationGracePeriodSeconds $delay $grace) }}
{{- end }}
{{- if and .Values.networkPolicy.egress.enabled (not .Values.networkPolicy.enabled) }}
{{- fail "networkPolicy.egress.enabled needs networkPolicy.enabled: the egress rules are part of the API's NetworkPolicy" }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- include "scheduler-api.redis.validateMemory" . }}
{{- else if .Values.redis.metrics.enabled }}
{{- fail "redis.metrics.enabled runs redis_exporter beside the bundled Redis, which redis.enabled=false turns off: run an exporter next to your external Redis instead" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must not be below autoscaling.minReplicas" }}
{{- end }}
{{- end }}

{{/*
The bundled Redis's memory settings: one place for maxmemory, below the memory limit.
*/}}
{{- define "scheduler-api.redis.validateMemory" -}}
{{- range .Values.redis.extraArgs }}
{{- if has . (list "--maxmemory" "--maxmemory-policy") }}
{{- fail (printf "redis.extraArgs must not set %s: use redis.maxmemory (or redis.resources.limits.memory), and the chart keeps maxmemory-policy noeviction" .) }}
{{- end }}
{{- end }}
{{- $limit := dig "limits" "memory" "" .Values.redis.resources }}
{{- if and .Values.redis.maxmemory $limit }}
{{- $max := include "scheduler-api.redis.maxmemory" . | float64 }}
{{- $limitBytes := include "scheduler-api.bytes" (dict "value" $limit "name" "redis.resources.limits.memory") | float64 }}
{{- if ge $max $limitBytes }}
{{- fail (printf "redis.maxmemory (%v) must be below redis.resources.limits.memory (%v), or the kernel kills Redis before it refuses a write; about 80 %% of the limit leaves room for the append-only-file rewrite" .Values.redis.maxmemory $limit) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The bundled Redis's startup-probe failureThreshold: redis.startupProbe.failureThreshold when set,
else enough periods for 60 s plus three times the time loading maxmemory takes (4 GiB when there
is no maxmemory). 20 MB/s is the slowest load measured, rounded down (docs/deploy.md, `python -m
bench.redis_aof load --count 5000000`: 1.91 GB of data set in 88 s from an append-only file that
was never rewritten, on a two-core machine with a load average of 6 to 7); a rewritten file
loads about four times faster.
*/}}
{{- define "scheduler-api.redis.startupFailureThreshold" -}}
{{- $probe := .Values.redis.startupProbe }}
{{- if $probe.failureThreshold }}
{{- $probe.failureThreshold }}
{{- else }}
{{- $bytesPerSecond := 20000000.0 }}
{{- $data := include "scheduler-api.redis.maxmemory" . | default "4294967296" }}
{{- $seconds := addf 60 (mulf 3 (divf $data $bytesPerSecond)) }}
{{- printf "%.0f" (ceil (divf $seconds $probe.periodSeconds)) }}
{{- end }}
{{- end }}
