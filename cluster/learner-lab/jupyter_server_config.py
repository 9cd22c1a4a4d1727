"""The learner's JupyterLab, as `make run` opens it: the Makefile puts this folder first on JUPYTER_CONFIG_PATH
for that one command, so the instructor's JupyterLab (a plain `jupyter lab`, the formgrader, `kubelab course`)
and the class hub (kubelab.course.classroom.hub writes its own learner config) are left as they are.

Here: the course opens on notebooks/00-start-here.ipynb, and nbgrader's instructor server extensions are off
(formgrader: generate, release, collect and grade; course_list: the instructor's list of courses). The learner's
nbgrader tools stay: the Assignments tab (assignment_list) and the Validate button (validate_assignment).
labconfig/page_config.json switches off the matching JupyterLab plugins and Jupyter's news pop-up.
"""
c = get_config()  # noqa: F821 (Jupyter's config loader provides it)

# Where `/` and the browser `make run` opens land: the file, relative to the root folder (notebooks/)
c.LabApp.default_url = "/lab/tree/00-start-here.ipynb"
# Jupyter Server adds the extensions the installed packages enable (jupyter_server_config.d/*.json) to this
# dict; a key set here wins (ServerApp.find_server_extensions)
c.ServerApp.jpserver_extensions = {"nbgrader.server_extensions.formgrader": False,
                                   "nbgrader.server_extensions.course_list": False}
