{{- define "model-server.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "model-server.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "model-server.labels" -}}
{{ include "model-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pod template of a track: (dict "root" $ "track" "stable" "tag" "25.01-py3") */}}
{{- define "model-server.pod" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "model-server.selectorLabels" $root | nindent 4 }}
    track: {{ .track }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
spec:
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: triton
      image: "{{ $root.Values.image.repository }}:{{ .tag }}"
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: ["tritonserver", "--model-repository=/models", "--model-control-mode=explicit",
                "--load-model={{ $root.Values.model.name }}"]
      ports:
        - {name: http, containerPort: 8000}
        - {name: grpc, containerPort: 8001}
        - {name: metrics, containerPort: 8002}
      env:
        - name: MODEL_NAME
          valueFrom: {configMapKeyRef: {name: {{ include "model-server.fullname" $root }}-config, key: MODEL_NAME}}
        - name: API_KEY
          valueFrom: {secretKeyRef: {name: {{ required "apiKey.existingSecret: the name of the Secret that holds the API key" $root.Values.apiKey.existingSecret }}, key: {{ $root.Values.apiKey.key }}}}
      readinessProbe:
        httpGet: {path: /v2/health/ready, port: http}
        periodSeconds: 2
        failureThreshold: 3
      livenessProbe:
        httpGet: {path: /v2/health/live, port: http}
        periodSeconds: 10
        failureThreshold: 3
      resources:
        {{- toYaml $root.Values.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
      volumeMounts:
        - {name: models, mountPath: /models, readOnly: true}
        - {name: config, mountPath: /etc/triton, readOnly: true}
        - {name: tmp, mountPath: /tmp}
  volumes:
    - name: models
      persistentVolumeClaim: {claimName: {{ include "model-server.fullname" $root }}-artifacts, readOnly: true}
    - name: config
      configMap: {name: {{ include "model-server.fullname" $root }}-config}
    - name: tmp
      emptyDir: {sizeLimit: 100Mi}
{{- end -}}
