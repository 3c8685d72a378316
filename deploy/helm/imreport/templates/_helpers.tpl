{{- define "imreport.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "imreport.fullname" -}}
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

{{/* The objects of one app: imreport.app with (dict "root" $ "app" $app) */}}
{{- define "imreport.appname" -}}
{{- printf "%s-%s" (include "imreport.fullname" .root) .app.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "imreport.labels" -}}
app.kubernetes.io/name: {{ include "imreport.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "imreport.selector" -}}
app.kubernetes.io/name: {{ include "imreport.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
imreport.io/app: {{ .app.name }}
{{- end -}}

{{- define "imreport.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "imreport.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "imreport.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret an app's pods read: its own existingSecret, the global one, or the chart's. */}}
{{- define "imreport.secretName" -}}
{{- if .app.existingSecret -}}
{{- .app.existingSecret -}}
{{- else if .root.Values.existingSecret -}}
{{- .root.Values.existingSecret -}}
{{- else -}}
{{- include "imreport.appname" . -}}
{{- end -}}
{{- end -}}

{{/* An app's variables: config, then the app's, then what the chart fixes
(a backfill Job runs no callback receiver): (dict "root" $ "app" $app "backfill" bool) */}}
{{- define "imreport.config" -}}
{{- $c := merge (deepCopy (default dict .app.config)) (deepCopy (default dict .root.Values.config)) -}}
{{- $_ := set $c "IMREPORT_APP_KEY" (required (printf "apps[%s].appKey is required" .app.name) .app.appKey) -}}
{{- $_ := set $c "IMREPORT_CHECKPOINT_PATH" "/var/lib/imreport/imreport.db" -}}
{{- $_ := set $c "IMREPORT_HTTP_ADDR" (printf ":%v" .root.Values.service.port) -}}
{{- if and .root.Values.callback.enabled (not .backfill) -}}
{{- $_ := set $c "IMREPORT_CALLBACK_ADDR" (printf ":%v" .root.Values.callback.port) -}}
{{- $_ := set $c "IMREPORT_CALLBACK_PATH" .root.Values.callback.path -}}
{{- end -}}
{{- /* The owner group by default (one writer per app key and topic, even
across releases, or a backfill Job into the Deployment's topic); forced on
with more than one replica. */ -}}
{{- if or (not (hasKey $c "IMREPORT_OWNER_GROUP")) (and (gt (int (default .root.Values.replicas .app.replicas)) 1) (not .backfill)) -}}
{{- $_ := set $c "IMREPORT_OWNER_GROUP" "true" -}}
{{- end -}}
{{- if not (get $c "IMREPORT_KAFKA_BROKERS") -}}
{{- fail "config.IMREPORT_KAFKA_BROKERS is required" -}}
{{- end -}}
{{- range $k := keys $c | sortAlpha }}
{{ $k }}: {{ get $c $k | toString | quote }}
{{- end -}}
{{- end -}}

{{/* The pod spec shared by the Deployment, the backfill Job and the audit CronJob: (dict "root" $ "app" $app "claim" name "configMap" name ["args" list] ["resources" map]) */}}
{{- define "imreport.podSpec" -}}
{{- $v := .root.Values -}}
serviceAccountName: {{ include "imreport.serviceAccountName" .root }}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: imreport
    image: {{ include "imreport.image" .root }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args: {{ .args | default (list "run") | toJson }}
    envFrom:
      - configMapRef:
          name: {{ .configMap }}
      - secretRef:
          name: {{ include "imreport.secretName" . }}
    ports:
      - name: http
        containerPort: {{ $v.service.port }}
      {{- if and $v.callback.enabled .probes }}
      - name: callback
        containerPort: {{ $v.callback.port }}
      {{- end }}
    {{- if .probes }}
    readinessProbe:
      httpGet: {path: /readyz, port: http}
      periodSeconds: 5
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 20
      failureThreshold: 3
    {{- end }}
    resources:
      {{- toYaml (.resources | default $v.resources) | nindent 6 }}
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    volumeMounts:
      - name: checkpoint
        mountPath: /var/lib/imreport
volumes:
  - name: checkpoint
    {{- if .claim }}
    persistentVolumeClaim:
      claimName: {{ .claim }}
    {{- else }}
    emptyDir: {}
    {{- end }}
{{- end -}}
