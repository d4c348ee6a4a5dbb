"""LTI 1.3 tool support (Deep Linking and resource launches) through pylti1p3.

Empty until the LMS-integration issue: the seams it plugs into are the resource service
in :mod:`repo_app.services` (search and read as a principal) and the blueprint registry
in :func:`repo_app.create_app`.
"""
