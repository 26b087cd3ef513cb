"""The portal's web shell: server-rendered pages under ``/portal`` on ``haven.auth`` (realm ``portal``).

``create_portal_app`` builds the stand-alone app (``haven portal serve``); ``mount_portal`` adds the same
pages to ``haven serve``. Nothing behind the landing page and the application form answers without an
approved member's session.
"""
