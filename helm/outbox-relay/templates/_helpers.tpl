{{/* Name of the chart, or nameOverride. */}}
{{- define "outbox-relay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, with the chart name unless the release name contains it. */}}
{{- define "outbox-relay.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "outbox-relay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "outbox-relay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "outbox-relay.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "outbox-relay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "outbox-relay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "outbox-relay.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "outbox-relay.createdSecretName" -}}
{{- printf "%s-credentials" (include "outbox-relay.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Every credential as a list of {key, secretName, secretKey}: credentials.refs, then one per value
of credentials.createSecret (the Secret's key is the config key itself, a legal Secret key).
Returned as YAML: use with fromYaml, under "refs".
*/}}
{{- define "outbox-relay.credentialRefs" -}}
{{- $refs := list -}}
{{- range .Values.credentials.refs -}}
{{- $refs = append $refs (dict "key" .key "secretName" .secretName "secretKey" .secretKey) -}}
{{- end -}}
{{- if .Values.credentials.createSecret.enabled -}}
{{- $secretName := include "outbox-relay.createdSecretName" . -}}
{{- range $key := keys .Values.credentials.createSecret.values | sortAlpha -}}
{{- $refs = append $refs (dict "key" $key "secretName" $secretName "secretKey" $key) -}}
{{- end -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $refs -}}
{{- if hasKey $seen .key -}}
{{- fail (printf "credentials: %s is given twice (refs and createSecret.values together name each key once)" .key) -}}
{{- end -}}
{{- $_ := set $seen .key true -}}
{{- end -}}
{{- toYaml (dict "refs" $refs) -}}
{{- end -}}

{{/* The Secrets the credentials come from, sorted, without repeats (one volume each). */}}
{{- define "outbox-relay.credentialSecrets" -}}
{{- $names := list -}}
{{- range (include "outbox-relay.credentialRefs" . | fromYaml).refs -}}
{{- $names = append $names .secretName -}}
{{- end -}}
{{- toYaml (dict "names" ($names | uniq | sortAlpha)) -}}
{{- end -}}

{{/* Where credentials.as=file mounts a Secret's key. */}}
{{- define "outbox-relay.credentialPath" -}}
{{- printf "%s/%s/%s" .mountPath .secretName .secretKey -}}
{{- end -}}

{{/* The environment variable that overrides a config key: source.dsn -> OUTBOX_RELAY_SOURCE_DSN. */}}
{{- define "outbox-relay.envName" -}}
{{- printf "OUTBOX_RELAY_%s" (. | upper | replace "." "_" | replace "-" "_") -}}
{{- end -}}

{{/*
The relay's configuration: config, plus http.listen and, for credentials.as=file, the
`<key>_file` entries. Fails when something the relay needs is missing or set in two places.
*/}}
{{- define "outbox-relay.config" -}}
{{- $config := deepCopy (default dict .Values.config) -}}
{{- if hasKey $config "http" -}}
{{- fail "config.http: leave it out; the chart sets http.listen from http.port" -}}
{{- end -}}
{{- $_ := set $config "http" (dict "listen" (printf "0.0.0.0:%d" (int .Values.http.port))) -}}
{{- $refs := (include "outbox-relay.credentialRefs" . | fromYaml).refs -}}
{{- $credentialKeys := dict -}}
{{- range $refs -}}
{{- $_ := set $credentialKeys .key true -}}
{{- end -}}
{{- range $refs -}}
{{- $section := index (splitList "." .key) 0 -}}
{{- $rest := trimPrefix (printf "%s." $section) .key -}}
{{- $values := default dict (get $config $section) -}}
{{- if hasKey $values $rest -}}
{{- fail (printf "config.%s is also given as a credential: keep it in the Secret only" .key) -}}
{{- end -}}
{{- if eq $.Values.credentials.as "file" -}}
{{- $_ := set $values (printf "%s_file" $rest) (include "outbox-relay.credentialPath" (dict "mountPath" $.Values.credentials.mountPath "secretName" .secretName "secretKey" .secretKey)) -}}
{{- $_ := set $config $section $values -}}
{{- end -}}
{{- end -}}
{{- $source := default dict (get $config "source") -}}
{{- if not (or (get $source "dsn") (hasKey $credentialKeys "source.dsn")) -}}
{{- fail "config.source.dsn is required (or a credential with key source.dsn)" -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
