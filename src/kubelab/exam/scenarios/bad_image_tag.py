"""A tag that does not exist: ErrImagePull -> ImagePullBackOff."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..scenario_registry import register

__all__ = ["BadImageTag"]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: model-api, labels: {app: model-api}}
spec:
  replicas: 2
  selector: {matchLabels: {app: model-api}}
  template:
    metadata: {labels: {app: model-api}}
    spec:
      containers:
      - name: api
        image: python:$tag
        command: [python, -m, http.server, "8000"]
        ports: [{name: http, containerPort: 8000}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 2}
"""


@register
class BadImageTag(DeploymentScenario):
    name = "bad-image-tag"
    title = "The model API's new image tag does not exist"
    category = "image"
    difficulty = 1
    ticket = ("Since this morning's deploy (\"bumped the model API to Python 3.31\") `model-api` has no running "
              "pods at all. The previous release worked. It must run 2 replicas.")
    evidence = ("ImagePullBackOff", "ErrImagePull", "spec.template.spec.containers[0].image", "failed to pull")
    cause = "the tag python:3.31-slim does not exist (there is no Python 3.31), so every pull fails"
    fix = "set the image to a tag that exists (python:3.12-slim) and let the Deployment roll out"
    deployment, replicas = "model-api", 2
    manifests = DEPLOYMENT.replace("$tag", "3.31-slim")
    fixed = DEPLOYMENT.replace("$tag", "3.12-slim")
    own_wrong = {"other-repository": "an image of another repository is another program: the API must stay "
                                     "the python image",
                 "missing-tag-again": "another tag that does not exist (3.12-slimm): the pull still fails",
                 "one-replica": "the right tag with the Deployment cut to 1 replica: the ticket asks for 2"}
    alternatives = {"newer-tag": "a newer tag that exists (python:3.13-slim)",
                    "registry-spelt-out": "the same image with its registry spelt out (docker.io/library/python:3.12)"}

    def _tagged(self, api, namespace, image):
        from ... import manifests
        manifests.apply(api, self.render(self.fixed, namespace).replace("python:3.12-slim", image), namespace=namespace)

    def wrong_missing_tag_again(self, api, namespace):
        self._tagged(api, namespace, "python:3.12-slimm")

    def wrong_one_replica(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(self.fixed, namespace).replace("replicas: 2", "replicas: 1"), namespace=namespace)

    def alt_newer_tag(self, api, namespace):
        self._tagged(api, namespace, "python:3.13-slim")

    def alt_registry_spelt_out(self, api, namespace):
        self._tagged(api, namespace, "docker.io/library/python:3.12")

    def guard_parts(self, namespace):
        def repo(s):
            image = container(s.deployment, "api").get("image", "")
            return image.split("@")[0].rsplit(":", 1)[0] in ("python", "docker.io/library/python")
        return [Part(repo, lambda s: f"the api container runs {container(s.deployment, 'api').get('image')!r}, "
                                     "not a python image", "fix the tag, keep the repository")]

    def wrong_other_repository(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.fixed.replace("python:3.12-slim", "example.com/team/python-api:1.0"),
                        namespace=namespace)
