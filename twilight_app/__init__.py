"""The application on top of the four library packages: the ``twilight`` command and the demo.

It alone may import all of them; every package imports only those below it:
twilight_sim < twilight_resources < twilight_assets < twilight_serve < twilight_app.
"""
