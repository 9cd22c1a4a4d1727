"""The private Kubernetes layer every other package builds on; not for notebooks.

What belongs here, and nowhere else: the label, taint and resource names kubelab uses (`names`), quantity
parsing (`quantity`), raw JSON listing and the small readers of plain objects (`raw`), the ONE resolver
from a kind as kubectl takes it to an API resource (`kinds`), the ONE poll/deadline loop and the test of
whether a person is watching (`poll`), and turning the client's ApiException into kubelab's typed errors
(`apierrors`: the one place that catches it; `call`, `delete_if_present`, `create_or_exists` for the rest), and
the ONE list-and-watch cache the daemons read the cluster through (`informer`).
Nothing here imports another kubelab package except `kubelab.errors` and `kubelab.settings`.
"""
