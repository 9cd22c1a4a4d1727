{{/* Your chart's named templates (start from your Lab 2 chart's _helpers.tpl): the release's name, the labels
of every object, the selector of each track, and one track's pod template, so that the stable and canary
Deployments share it. */}}
