{{- define "llm.name" -}}
{{- .Release.Name | trunc 56 | trimSuffix "-" -}}
{{- end -}}

{{/* What a track's Service selects: the release's server pods of that track */}}
{{- define "llm.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
track: {{ .track }}
{{- end -}}

{{- define "llm.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* One track's Deployment: (dict "root" $ "track" "stable" "tag" "v0.30.0" "name" "llm") */}}
{{- define "llm.deployment" -}}
{{- $v := .root.Values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  labels:
    {{- include "llm.labels" .root | nindent 4 }}
    track: {{ .track }}
spec:
  {{- if eq .track "canary" }}
  replicas: {{ $v.canary.replicas }}
  {{- end }}
  # the stable track has no replicas: the HPA KEDA makes owns them (a value here resets them on every upgrade)
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: {{ $v.rollout.maxSurge }}, maxUnavailable: 0}
  selector:
    matchLabels:
      {{- include "llm.selector" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "llm.selector" . | nindent 8 }}
    spec:
      automountServiceAccountToken: false
      securityContext:   # the namespace enforces the restricted profile (stage 1)
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
      nodeSelector: {kubelab.io/pool: {{ $v.gpuPool }}}
      tolerations:
        {{- toYaml $v.tolerations | nindent 8 }}
      containers:
        - name: vllm
          image: "{{ $v.image.repository }}:{{ .tag }}"
          imagePullPolicy: {{ $v.image.pullPolicy }}
          # the served name is the Deployment's: vLLM labels its metrics model_name with it, one series per track
          args: [{{ $v.model | quote }}, --served-model-name, {{ .name }}, --port, "8000"]
          ports:
            - {name: http, containerPort: 8000}
          readinessProbe:
            httpGet: {path: /health, port: http}
            periodSeconds: 2
          livenessProbe:   # not the readiness probe: a busy server is not ready, and must not be restarted for it
            tcpSocket: {port: http}
            initialDelaySeconds: 60
            periodSeconds: 10
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          volumeMounts:
            - {name: cache, mountPath: /home/vllm/.cache}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - name: cache
          emptyDir: {sizeLimit: 2Gi}
        - name: tmp
          emptyDir: {sizeLimit: 256Mi}
{{- end -}}
