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
{{- if include "outbox-relay.isInbox" . }}
app.kubernetes.io/component: inbox
{{- end }}
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

{{/* True (non-empty) when the release runs `outbox-relay inbox` (mode: inbox) instead of the relay. */}}
{{- define "outbox-relay.isInbox" -}}
{{- if eq .Values.mode "inbox" -}}true{{- end -}}
{{- end -}}

{{/* The process's subcommand and its arguments. */}}
{{- define "outbox-relay.args" -}}
{{- if include "outbox-relay.isInbox" . -}}
["inbox", "--config", "/etc/outbox-relay/relay.yaml"]
{{- else -}}
["run", "--config", "/etc/outbox-relay/relay.yaml"]
{{- end -}}
{{- end -}}

{{/*
The relay's configuration: config, plus http.listen and, for credentials.as=file, the
`<key>_file` entries. Fails when something the relay needs is missing or set in two places.
With mode: inbox, the relay-only settings values.yaml gives by default (source.slot,
source.publication, outbox) are left out: the inbox reads none of them, and a consuming
service's config should not name a slot.
*/}}
{{- define "outbox-relay.config" -}}
{{- $config := deepCopy (default dict .Values.config) -}}
{{- if hasKey $config "http" -}}
{{- fail "config.http: leave it out; the chart sets http.listen from http.port" -}}
{{- end -}}
{{- if include "outbox-relay.isInbox" . -}}
{{- $_ := unset $config "outbox" -}}
{{- $source := default dict (get $config "source") -}}
{{- $_ := unset $source "slot" -}}
{{- $_ := unset $source "publication" -}}
{{- if $source -}}
{{- $_ := set $config "source" $source -}}
{{- else -}}
{{- $_ := unset $config "source" -}}
{{- end -}}
{{- $inbox := default dict (get $config "inbox") -}}
{{- if and (get $inbox "partitions") (gt (int .Values.replicas) 1) -}}
{{- fail (printf "config.inbox.partitions pins partitions to one process: with replicas %d every pod would read the same ones. Use replicas: 1, or leave inbox.partitions out and let the consumer group spread the partitions" (int .Values.replicas)) -}}
{{- end -}}
{{- else if hasKey $config "inbox" -}}
{{- fail "config.inbox is the inbox's: set mode: inbox to run `outbox-relay inbox` (a relay would ignore it, and stream from source.dsn's database)" -}}
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

{{/* The image: repository@digest when image.digest is set (the tag is then ignored), else repository:tag. */}}
{{- define "outbox-relay.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
checksum/secrets: what the Secrets of the credentials hold, so that a changed Secret rolls the
pods on the next helm install/upgrade. The Secret the chart creates counts with the values it is
given; the others are read from the cluster with lookup, which finds nothing under helm template
or a client-side --dry-run (they then count as empty). Empty when there are no credentials.
*/}}
{{- define "outbox-relay.secretsChecksum" -}}
{{- $names := (include "outbox-relay.credentialSecrets" . | fromYaml).names -}}
{{- if $names -}}
{{- $created := "" -}}
{{- if .Values.credentials.createSecret.enabled -}}
{{- $created = include "outbox-relay.createdSecretName" . -}}
{{- end -}}
{{- $data := dict -}}
{{- range $name := $names -}}
{{- if eq $name $created -}}
{{- $_ := set $data $name $.Values.credentials.createSecret.values -}}
{{- else -}}
{{- $secret := lookup "v1" "Secret" $.Release.Namespace $name | default dict -}}
{{- $_ := set $data $name (get $secret "data" | default dict) -}}
{{- end -}}
{{- end -}}
{{- toJson $data | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* The init Job (initJob) and its hook copies of the ConfigMap and ServiceAccount. */}}
{{- define "outbox-relay.initName" -}}
{{- printf "%s-init" (include "outbox-relay.fullname" . | trunc 58 | trimSuffix "-") -}}
{{- end -}}

{{/* The init Job's copy of the Secret of credentials.createSecret. */}}
{{- define "outbox-relay.initSecretName" -}}
{{- printf "%s-credentials" (include "outbox-relay.initName" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of the init Job's objects and pod: the chart's, without app.kubernetes.io/name, so that
the selectors of the Deployment, Service, PodDisruptionBudget and PodMonitor never match them.
*/}}
{{- define "outbox-relay.initLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: {{ include "outbox-relay.name" . }}
app.kubernetes.io/component: init
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The hook annotations of the init Job's objects; call with the hook weight. */}}
{{- define "outbox-relay.initHookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}

{{/*
The Secret a credential is read from: in the init Job, the hook copy of the Secret the chart
creates (the chart's own does not exist yet before an install). Call with (dict "root" $
"init" BOOL "name" SECRET).
*/}}
{{- define "outbox-relay.secretFor" -}}
{{- if and .init .root.Values.credentials.createSecret.enabled (eq .name (include "outbox-relay.createdSecretName" .root)) -}}
{{- include "outbox-relay.initSecretName" .root -}}
{{- else -}}
{{- .name -}}
{{- end -}}
{{- end -}}

{{/*
The pod spec the relay's Deployment and the init Job share: service account, security context,
pull secrets, priority, node selection and the volumes (config, credentials, extraVolumes).
Call with (dict "root" $ "init" BOOL); with init, the hook copies of the objects the chart
creates (ConfigMap, ServiceAccount, Secret).
*/}}
{{- define "outbox-relay.podSpec" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
{{- $init := .init -}}
{{- $serviceAccount := include "outbox-relay.serviceAccountName" $root -}}
{{- if and $init $values.serviceAccount.create -}}
{{- $serviceAccount = include "outbox-relay.initName" $root -}}
{{- end -}}
serviceAccountName: {{ $serviceAccount }}
automountServiceAccountToken: false
# No service-link variables: for a Service named outbox-relay (the release outbox-relay's)
# Kubernetes would inject OUTBOX_RELAY_SERVICE_HOST, OUTBOX_RELAY_PORT, ..., named like the
# relay's config overrides. The relay ignores those shapes, but its pod needs none of them:
# it finds PostgreSQL and Kafka by DNS names.
enableServiceLinks: false
{{- with $values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $values.podSecurityContext | nindent 2 }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ ternary (include "outbox-relay.initName" $root) (include "outbox-relay.fullname" $root) $init }}
  {{- if eq $values.credentials.as "file" }}
  {{- range $index, $name := (include "outbox-relay.credentialSecrets" $root | fromYaml).names }}
  - name: credentials-{{ $index }}
    secret:
      secretName: {{ include "outbox-relay.secretFor" (dict "root" $root "init" $init "name" $name) }}
      # Group-readable: fsGroup makes the relay's group own the files.
      defaultMode: 0440
  {{- end }}
  {{- end }}
  {{- with $values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
The relay container's settings the Deployment and the init Job share: image, environment
(credentials.as=env, extraEnv, envFrom; in the init Job also initJob.credentials, which replace
the relay's for the same keys), resources, security context and mounts (config, credentials,
extraVolumeMounts). Call with (dict "root" $ "init" BOOL).
*/}}
{{- define "outbox-relay.container" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
{{- $init := .init -}}
{{- $overridden := dict -}}
{{- $initRefs := list -}}
{{- if $init -}}
{{- $initRefs = $values.initJob.credentials | default list -}}
{{- range $initRefs -}}
{{- $_ := set $overridden .key true -}}
{{- end -}}
{{- end -}}
{{- $envRefs := list -}}
{{- if eq $values.credentials.as "env" -}}
{{- range (include "outbox-relay.credentialRefs" $root | fromYaml).refs -}}
{{- if not (hasKey $overridden .key) -}}
{{- $envRefs = append $envRefs . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $envRefs = concat $envRefs $initRefs -}}
image: {{ include "outbox-relay.image" $root | quote }}
imagePullPolicy: {{ $values.image.pullPolicy }}
{{- with $values.envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if or $envRefs $values.extraEnv }}
env:
  {{- range $envRefs }}
  - name: {{ include "outbox-relay.envName" .key }}
    valueFrom:
      secretKeyRef:
        name: {{ include "outbox-relay.secretFor" (dict "root" $root "init" $init "name" .secretName) }}
        key: {{ .secretKey }}
  {{- end }}
  {{- with $values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
resources:
  {{- toYaml $values.resources | nindent 2 }}
securityContext:
  {{- toYaml $values.securityContext | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: /etc/outbox-relay/relay.yaml
    subPath: relay.yaml
    readOnly: true
  {{- if eq $values.credentials.as "file" }}
  {{- range $index, $name := (include "outbox-relay.credentialSecrets" $root | fromYaml).names }}
  - name: credentials-{{ $index }}
    mountPath: {{ printf "%s/%s" $values.credentials.mountPath $name }}
    readOnly: true
  {{- end }}
  {{- end }}
  {{- with $values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
